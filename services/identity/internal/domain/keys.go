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

// keyring holds the Ed25519 signing keys, persisted in the store. The newest
// key signs; when rotation is due a new key takes over, and older keys stay
// published (GetJwks) until every token they signed has expired, so that
// rotating signs nobody out.
type keyring struct {
	store     Store
	rotation  time.Duration
	accessTTL time.Duration

	mu   sync.RWMutex
	keys []*SigningKey // oldest first; the last one signs
}

// grace covers clock skew and verifier leeway after a retired key's last token expires.
const keyGrace = time.Minute

func (k *keyring) load(ctx context.Context, now time.Time) error {
	err := k.store.View(ctx, func(tx Tx) error {
		keys, err := tx.SigningKeys()
		k.keys = keys
		return err
	})
	if err != nil {
		return err
	}
	sort.Slice(k.keys, func(i, j int) bool { return k.keys[i].CreateTime.Before(k.keys[j].CreateTime) })
	_, err = k.current(ctx, now)
	return err
}

// current returns the signing key, rotating first when due.
func (k *keyring) current(ctx context.Context, now time.Time) (auth.SigningKey, error) {
	k.mu.RLock()
	n := len(k.keys)
	var cur *SigningKey
	if n > 0 {
		cur = k.keys[n-1]
	}
	k.mu.RUnlock()
	if cur != nil && !k.due(cur, now) {
		return signingKey(cur), nil
	}
	return k.rotate(ctx, now)
}

func (k *keyring) due(cur *SigningKey, now time.Time) bool {
	return k.rotation > 0 && now.Sub(cur.CreateTime) >= k.rotation
}

func (k *keyring) rotate(ctx context.Context, now time.Time) (auth.SigningKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if n := len(k.keys); n > 0 && !k.due(k.keys[n-1], now) {
		return signingKey(k.keys[n-1]), nil
	}
	fresh, err := auth.NewSigningKey()
	if err != nil {
		return auth.SigningKey{}, err
	}
	rec := &SigningKey{ID: fresh.ID, Seed: fresh.Private.Seed(), CreateTime: now}
	var keep []*SigningKey
	err = k.store.Update(ctx, func(tx Tx) error {
		keep = keep[:0]
		for _, old := range k.keys {
			o := *old
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
			keep = append(keep, &o)
		}
		return tx.PutSigningKey(rec)
	})
	if err != nil {
		return auth.SigningKey{}, fmt.Errorf("rotate signing key: %w", err)
	}
	k.keys = append(keep, rec)
	return signingKey(rec), nil
}

// publicKey resolves a key id for the verifier.
func (k *keyring) publicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, key := range k.keys {
		if key.ID == kid {
			return ed25519.NewKeyFromSeed(key.Seed).Public().(ed25519.PublicKey), nil
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
		if !key.RetireTime.IsZero() && now.Sub(key.RetireTime) > k.accessTTL+keyGrace {
			continue
		}
		out = append(out, signingKey(key))
	}
	return out
}

func signingKey(r *SigningKey) auth.SigningKey {
	return auth.SigningKey{ID: r.ID, Private: ed25519.NewKeyFromSeed(r.Seed)}
}

// PublishedKeys are the keys GetJwks lists: the current one and those still
// valid for unexpired tokens.
func (s *Service) PublishedKeys() []auth.SigningKey { return s.keys.published(s.now()) }
