package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/metadata"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/errs"
)

// KeySet resolves a key id to an Ed25519 public key.
type KeySet interface {
	Key(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

// KeyFunc adapts a function to KeySet (identity serves its own keys this way).
type KeyFunc func(ctx context.Context, kid string) (ed25519.PublicKey, error)

// Key implements KeySet.
func (f KeyFunc) Key(ctx context.Context, kid string) (ed25519.PublicKey, error) { return f(ctx, kid) }

// RemoteKeys fetches identity's published key set (GetJwks) and refreshes it
// when a token names an unknown key id, so that keys rotate without anyone
// being signed out. Refreshes are collapsed and at most one per second.
type RemoteKeys struct {
	client identityv1.IdentityServiceClient
	mu     sync.RWMutex
	keys   map[string]ed25519.PublicKey
	last   time.Time
	group  singleflight.Group
}

// NewRemoteKeys returns a key set backed by identity.
func NewRemoteKeys(client identityv1.IdentityServiceClient) *RemoteKeys {
	return &RemoteKeys{client: client, keys: map[string]ed25519.PublicKey{}}
}

// Key implements KeySet.
func (r *RemoteKeys) Key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	r.mu.RLock()
	k, ok := r.keys[kid]
	r.mu.RUnlock()
	if ok {
		return k, nil
	}
	_, err, _ := r.group.Do("refresh", func() (any, error) { return nil, r.refresh(ctx) })
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if k, ok := r.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

func (r *RemoteKeys) refresh(ctx context.Context) error {
	r.mu.RLock()
	recent := time.Since(r.last) < time.Second
	r.mu.RUnlock()
	if recent {
		return nil
	}
	// The caller's credentials are not needed (and not forwarded) to read public keys.
	ctx = metadata.NewOutgoingContext(ctx, metadata.MD{})
	resp, err := r.client.GetJwks(ctx, &identityv1.GetJwksRequest{})
	if err != nil {
		return errs.Unavailable("KEYS_UNAVAILABLE", "cannot fetch identity's keys")
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range resp.GetKeys() {
		if k.GetKty() != "OKP" || k.GetCrv() != "Ed25519" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.GetX())
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.GetKid()] = ed25519.PublicKey(x)
	}
	r.mu.Lock()
	r.keys, r.last = keys, time.Now()
	r.mu.Unlock()
	return nil
}

// Verifier checks access tokens: signature and claims once per token (then
// cached until it expires), revocations on every call.
type Verifier struct {
	keys        KeySet
	revocations *Revocations
	now         func() time.Time

	mu    sync.RWMutex
	cache map[[32]byte]Principal
}

// maxCachedTokens bounds the cache; past it the cache is emptied, which
// only costs a re-verification.
const maxCachedTokens = 100_000

// NewVerifier returns a verifier; revocations may be nil (nothing revoked).
func NewVerifier(keys KeySet, revocations *Revocations) *Verifier {
	if revocations == nil {
		revocations = NewRevocations()
	}
	return &Verifier{keys: keys, revocations: revocations, now: time.Now, cache: map[[32]byte]Principal{}}
}

// Revocations is the verifier's revocation state.
func (v *Verifier) Revocations() *Revocations { return v.revocations }

// Verify returns the principal of a valid, unrevoked token, or an
// Unauthenticated error.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	now := v.now()
	key := tokenKey(token)
	v.mu.RLock()
	p, ok := v.cache[key]
	v.mu.RUnlock()
	if !ok || !now.Before(p.ExpiresAt) {
		var err error
		p, err = parse(token, now, func(kid string) (ed25519.PublicKey, error) { return v.keys.Key(ctx, kid) })
		if err != nil {
			if errors.Is(err, errs.ErrUnavailable) {
				return Principal{}, err
			}
			return Principal{}, errs.Unauthenticated("INVALID_TOKEN", "invalid access token")
		}
		v.mu.Lock()
		if len(v.cache) >= maxCachedTokens {
			clear(v.cache)
		}
		v.cache[key] = p
		v.mu.Unlock()
	}
	return v.revocations.Check(p)
}

// tokenKey is a token's key in the cache: the SHA-256 of the whole token
// (never a part of it, which another token could share), hashed in place:
// []byte(token) copied the token, half a kilobyte, on every call (issue 14).
// Sum256 only reads its input.
func tokenKey(token string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// BearerToken extracts the token of an "authorization: Bearer …" metadata
// entry. It reads that one key (metadata.FromIncomingContext would copy
// every incoming entry on every call).
func BearerToken(ctx context.Context) (string, bool) {
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:]), true
		}
	}
	return "", false
}

// Authenticator plugs the verifier into the server's interceptor chain.
type Authenticator struct {
	Verifier *Verifier
	// Public methods need no token (sign-up, login, key set, …); a token
	// sent anyway is verified and, if valid, its principal is kept.
	Public map[string]bool
	// TOTPEnrollment methods stay open to a principal whose company requires
	// two factors before it has enrolled.
	TOTPEnrollment map[string]bool
}

// Authenticate implements server.Authenticator. Internal services
// (…InternalService) are called by other services on the private network
// without a user token; user-facing methods require one.
func (a *Authenticator) Authenticate(ctx context.Context, method string) (context.Context, error) {
	token, has := BearerToken(ctx)
	open := a.Public[method] || IsInternal(method)
	if !has {
		if open {
			return ctx, nil
		}
		return ctx, errs.Unauthenticated("MISSING_TOKEN", "missing bearer access token")
	}
	p, err := a.Verifier.Verify(ctx, token)
	if err != nil {
		if open && errors.Is(err, errs.ErrUnauthenticated) {
			return ctx, nil
		}
		return ctx, err
	}
	if p.TOTPPending && !open && !a.TOTPEnrollment[method] {
		return ctx, errs.PermissionDenied("TOTP_ENROLLMENT_REQUIRED", "the company requires two-factor authentication: enrol an authenticator first")
	}
	return WithPrincipal(ctx, p), nil
}

// IsInternal reports whether a full method name belongs to an internal
// service (one that the gateway never routes).
func IsInternal(method string) bool {
	svc, _, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	return strings.HasSuffix(svc, "InternalService")
}
