// Package auth is how every Vigil service knows who calls: Ed25519-signed
// access tokens (JWT, alg EdDSA only) issued by identity, verified locally
// against identity's published keys, cached, and checked against identity's
// revocation feed so that deactivations and role changes reach every service
// within a second (R-ID-7).
package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/authz"
)

// Token constants: verifiers refuse anything else.
const (
	Issuer    = "vigil-identity"
	Audience  = "vigil"
	TokenType = "at+jwt"
	Algorithm = "EdDSA"
)

// Token issue times carry microseconds in a claim of their own (`iat_us`,
// beside the standard whole-second `iat`): revocations compare a token's
// issue time with the event's to the microsecond, so that a token issued
// just after a revocation, in the same second, is not refused with the
// tokens issued before it.

// Principal is the authenticated caller of one request.
type Principal struct {
	User        string // users/{user}
	Company     string // companies/{company}: the session's company (R-ID-4)
	CompanyKind authz.CompanyKind
	Role        authz.Role
	Session     string
	TokenID     string
	// PlatformAdmin: the login is one of the operator's platform
	// administrators (VIGIL_PLATFORM_ADMINS, R-ID-11), whatever company the
	// session is scoped to.
	PlatformAdmin bool
	// TOTPPending: the company requires two factors and the user has not
	// enrolled yet; only enrolment methods are allowed.
	TOTPPending bool
	IssuedAt    time.Time
	ExpiresAt   time.Time
}

// Subject is the principal as the authorization table sees it.
func (p Principal) Subject() authz.Subject {
	return authz.Subject{User: p.User, Company: p.Company, Kind: p.CompanyKind, Role: p.Role, PlatformAdmin: p.PlatformAdmin}
}

// Member is the principal's membership resource name in its session company:
// companies/{company}/users/{user}.
func (p Principal) Member() string {
	return p.Company + "/users/" + p.User[len("users/"):]
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the authenticated caller, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// claims is the JWT body. Enum values travel as their names so that tokens
// stay readable and stable if enum numbers ever moved.
type claims struct {
	jwt.RegisteredClaims
	Company       string `json:"cmp"`
	CompanyKind   string `json:"knd"`
	Role          string `json:"role"`
	Session       string `json:"sid"`
	PlatformAdmin bool   `json:"padm,omitempty"`
	TOTPPending   bool   `json:"tfa_pending,omitempty"`
	// IssuedAtMicros is iat to the microsecond (Unix microseconds).
	IssuedAtMicros int64 `json:"iat_us,omitempty"`
}

// SigningKey is one Ed25519 key pair with its key id.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
}

// NewSigningKey makes a fresh key with a random id.
func NewSigningKey() (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return SigningKey{ID: hex.EncodeToString(id[:]), Private: priv}, nil
}

// Public is the key's public half.
func (k SigningKey) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// JWK is the key's public half as identity publishes it.
func (k SigningKey) JWK() *identityv1.Jwk {
	return &identityv1.Jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public()),
		Kid: k.ID, Alg: Algorithm, Use: "sig"}
}

// Sign issues an access token for p, valid for ttl from now. p.TokenID and
// p.IssuedAt are filled when empty.
func Sign(k SigningKey, p Principal, now time.Time, ttl time.Duration) (string, error) {
	if p.TokenID == "" {
		var id [16]byte
		_, _ = rand.Read(id[:])
		p.TokenID = hex.EncodeToString(id[:])
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   p.User,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        p.TokenID,
		},
		Company: p.Company, CompanyKind: p.CompanyKind.String(), Role: p.Role.String(),
		Session: p.Session, PlatformAdmin: p.PlatformAdmin, TOTPPending: p.TOTPPending,
		IssuedAtMicros: now.UnixMicro(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = k.ID
	t.Header["typ"] = TokenType
	return t.SignedString(k.Private)
}

// parse verifies signature, algorithm, type, issuer, audience and time, and
// returns the principal. keyFor resolves the header's kid.
func parse(token string, now time.Time, keyFor func(kid string) (ed25519.PublicKey, error)) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != TokenType {
			return nil, fmt.Errorf("token type %q", typ)
		}
		kid, _ := t.Header["kid"].(string)
		return keyFor(kid)
	},
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return Principal{}, err
	}
	p := Principal{
		User: c.Subject, Company: c.Company, Session: c.Session, TokenID: c.ID,
		CompanyKind:   authz.ParseCompanyKind(c.CompanyKind),
		Role:          authz.ParseRole(c.Role),
		PlatformAdmin: c.PlatformAdmin, TOTPPending: c.TOTPPending,
		IssuedAt: issuedAt(c), ExpiresAt: c.ExpiresAt.Time,
	}
	if p.ExpiresAt.Sub(p.IssuedAt) > MaxTokenLifetime {
		return Principal{}, fmt.Errorf("token lives longer than %s", MaxTokenLifetime)
	}
	if len(p.User) <= len("users/") || p.User[:len("users/")] != "users/" {
		return Principal{}, fmt.Errorf("subject %q is not a user", p.User)
	}
	return p, nil
}

// issuedAt is the token's issue time to the microsecond when the fine claim
// agrees with the signed whole-second iat, else iat.
func issuedAt(c claims) time.Time {
	fine := time.UnixMicro(c.IssuedAtMicros)
	if c.IssuedAtMicros != 0 && fine.Unix() == c.IssuedAt.Unix() {
		return fine
	}
	return c.IssuedAt.Time
}
