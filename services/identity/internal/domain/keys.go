package domain

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vigil/vigil/services/runtime/auth"
)

// keyring holds the Ed25519 signing keys, persisted in the store with their
// seeds sealed (secrets.go) and opened in memory only. The newest key signs;
// when rotation is due a new key takes over, and older keys stay published
// (GetJwks) until every token they signed has expired, so that rotating
// signs nobody out.
type keyring struct {
	store     Store
	sealer    Sealer
	rotation  time.Duration
	accessTTL time.Duration

	mu   sync.RWMutex
	keys []*signingKey // oldest first; the last one signs
}

// signingKey is a stored key with its opened private half.
type signingKey struct {
	rec  *SigningKey
	priv ed25519.PrivateKey
}

// grace covers clock skew and verifier leeway after a retired key's last token expires.
const keyGrace = time.Minute

// load reads the keys, sealing the seeds an older version stored in clear,
// and opens them; a seed that does not open (another secret key) stops the
// start.
func (k *keyring) load(ctx context.Context, now time.Time) error {
	var recs []*SigningKey
	err := k.store.Update(ctx, func(tx Tx) error {
		var err error
		if recs, err = tx.SigningKeys(); err != nil {
			return err
		}
		for _, r := range recs {
			if len(r.Seed) == 0 {
				continue
			}
			r.SealedSeed, r.Seed = k.sealer.Seal(r.Seed, seedAAD(r.ID)), nil
			if err := tx.PutSigningKey(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	keys := make([]*signingKey, 0, len(recs))
	for _, r := range recs {
		seed, err := k.sealer.Open(r.SealedSeed, seedAAD(r.ID))
		if err != nil || len(seed) != ed25519.SeedSize {
			return fmt.Errorf("signing key %s: %w", r.ID, errSecretUnreadable)
		}
		keys = append(keys, &signingKey{rec: r, priv: ed25519.NewKeyFromSeed(seed)})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].rec.CreateTime.Before(keys[j].rec.CreateTime) })
	k.keys = keys
	_, err = k.current(ctx, now)
	return err
}

// current returns the signing key, rotating first when due.
func (k *keyring) current(ctx context.Context, now time.Time) (auth.SigningKey, error) {
	k.mu.RLock()
	n := len(k.keys)
	var cur *signingKey
	if n > 0 {
		cur = k.keys[n-1]
	}
	k.mu.RUnlock()
	if cur != nil && !k.due(cur, now) {
		return cur.signing(), nil
	}
	return k.rotate(ctx, now)
}

func (k *keyring) due(cur *signingKey, now time.Time) bool {
	return k.rotation > 0 && now.Sub(cur.rec.CreateTime) >= k.rotation
}

func (k *keyring) rotate(ctx context.Context, now time.Time) (auth.SigningKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if n := len(k.keys); n > 0 && !k.due(k.keys[n-1], now) {
		return k.keys[n-1].signing(), nil
	}
	fresh, err := auth.NewSigningKey()
	if err != nil {
		return auth.SigningKey{}, err
	}
	added := &signingKey{priv: fresh.Private, rec: &SigningKey{ID: fresh.ID, CreateTime: now,
		SealedSeed: k.sealer.Seal(fresh.Private.Seed(), seedAAD(fresh.ID))}}
	var keep []*signingKey
	err = k.store.Update(ctx, func(tx Tx) error {
		keep = keep[:0]
		for _, old := range k.keys {
			o := *old.rec
			if o.RetireTime.IsZero() {
				o.RetireTime = now
				if err := tx.PutSigningKey(&o); err != nil {
					return err
				}
			}
			if now.Sub(o.RetireTime) > k.accessTTL+keyGrace {
				if err := tx.DeleteSigningKey(o.ID); err != nil {
					return err
				}
				continue
			}
			keep = append(keep, &signingKey{rec: &o, priv: old.priv})
		}
		return tx.PutSigningKey(added.rec)
	})
	if err != nil {
		return auth.SigningKey{}, fmt.Errorf("rotate signing key: %w", err)
	}
	k.keys = append(keep, added)
	return added.signing(), nil
}

// publicKey resolves a key id for the verifier.
func (k *keyring) publicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, key := range k.keys {
		if key.rec.ID == kid {
			return key.priv.Public().(ed25519.PublicKey), nil
		}
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

// published lists the keys that still verify unexpired tokens, newest first.
func (k *keyring) published(now time.Time) []auth.SigningKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []auth.SigningKey
	for i := len(k.keys) - 1; i >= 0; i-- {
		key := k.keys[i]
		if !key.rec.RetireTime.IsZero() && now.Sub(key.rec.RetireTime) > k.accessTTL+keyGrace {
			continue
		}
		out = append(out, key.signing())
	}
	return out
}

func (key *signingKey) signing() auth.SigningKey {
	return auth.SigningKey{ID: key.rec.ID, Private: key.priv}
}

// PublishedKeys are the keys GetJwks lists: the current one and those still
// valid for unexpired tokens.
func (s *Service) PublishedKeys() []auth.SigningKey { return s.keys.published(s.now()) }
