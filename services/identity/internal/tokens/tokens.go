// Package tokens parses and formats the secrets identity hands out and takes
// back from outside: refresh tokens and single-use link tokens (R-ID-6);
// page tokens are runtime/pagetoken's. Only SHA-256 digests of secrets are
// ever stored.
package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/vigil/vigil/services/runtime/names"
)

// ErrMalformed is returned for a string that is not a token of the kind.
var ErrMalformed = errors.New("tokens: malformed")

var b64 = base64.RawURLEncoding

// Digest is the SHA-256 of a secret, the only form identity stores.
type Digest [32]byte

// Sum digests a secret.
func Sum(secret []byte) Digest { return sha256.Sum256(secret) }

const secretLen = 32

// NewSecret returns 32 random bytes.
func NewSecret() []byte {
	b := make([]byte, secretLen)
	_, _ = rand.Read(b)
	return b
}

const refreshPrefix = "vrt1."

// Refresh is a refresh token: the session it belongs to and its secret.
type Refresh struct {
	Session string
	Secret  []byte
}

// NewRefresh returns a fresh token for session.
func NewRefresh(session string) Refresh { return Refresh{Session: session, Secret: NewSecret()} }

// String is the token as the client holds it: vrt1.<session>.<secret>.
func (r Refresh) String() string {
	return refreshPrefix + r.Session + "." + b64.EncodeToString(r.Secret)
}

// Digest is what the session stores.
func (r Refresh) Digest() Digest { return Sum(r.Secret) }

// ParseRefresh parses a refresh token.
func ParseRefresh(s string) (Refresh, error) {
	rest, ok := strings.CutPrefix(s, refreshPrefix)
	if !ok {
		return Refresh{}, ErrMalformed
	}
	sid, secret, ok := strings.Cut(rest, ".")
	if !ok || !names.ValidID(sid) {
		return Refresh{}, ErrMalformed
	}
	raw, err := b64.DecodeString(secret)
	if err != nil || len(raw) != secretLen {
		return Refresh{}, ErrMalformed
	}
	return Refresh{Session: sid, Secret: raw}, nil
}

// NewLinkToken returns the token of an e-mailed link (R-ID-6) and its digest.
func NewLinkToken() (string, Digest) {
	s := NewSecret()
	return b64.EncodeToString(s), Sum(s)
}

// ParseLinkToken returns the digest of a link token.
func ParseLinkToken(s string) (Digest, error) {
	raw, err := b64.DecodeString(s)
	if err != nil || len(raw) != secretLen {
		return Digest{}, ErrMalformed
	}
	return Sum(raw), nil
}
