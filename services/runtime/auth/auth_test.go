package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
)

func testKey(t testing.TB) SigningKey {
	t.Helper()
	k, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keysOf(ks ...SigningKey) KeySet {
	return KeyFunc(func(_ context.Context, kid string) (ed25519.PublicKey, error) {
		for _, k := range ks {
			if k.ID == kid {
				return k.Public(), nil
			}
		}
		return nil, errors.New("unknown kid")
	})
}

var alice = Principal{
	User: "users/alice", Company: "companies/acme", Role: authz.RoleAdministrator,
	CompanyKind: authz.KindSupplier, Session: "s1",
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := testKey(t)
	tok, err := Sign(k, alice, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewVerifier(keysOf(k), nil).Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.User != alice.User || p.Company != alice.Company || p.Role != alice.Role || p.CompanyKind != alice.CompanyKind || p.Session != "s1" {
		t.Fatalf("principal %+v does not match %+v", p, alice)
	}
	if p.Member() != "companies/acme/users/alice" {
		t.Fatalf("member %q", p.Member())
	}
}

// TestVerifyRefuses: a malformed, expired, tampered, unsigned or foreign
// token is Unauthenticated (R-ID-3 bad input; issue 3).
func TestVerifyRefuses(t *testing.T) {
	k, other := testKey(t), testKey(t)
	now := time.Now()
	valid, _ := Sign(k, alice, now, time.Minute)
	expired, _ := Sign(k, alice, now.Add(-time.Hour), time.Minute)
	foreign, _ := Sign(other, alice, now, time.Minute)
	parts := strings.Split(valid, ".")
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(body), "ROLE_ADMINISTRATOR", "ROLE_POWER_USER", 1))) + "." + parts[2]
	header := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }
	none := header(`{"alg":"none","typ":"at+jwt","kid":"`+k.ID+`"}`) + "." + parts[1] + "."
	// HS256 keyed with the public key: the classic algorithm-confusion attack.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": Issuer, "aud": Audience, "sub": "users/alice", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()})
	hs.Header["kid"], hs.Header["typ"] = k.ID, TokenType
	hsToken, _ := hs.SignedString([]byte(k.Public()))
	wrongType := func() string {
		t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": Issuer, "aud": Audience, "sub": "users/alice", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()})
		t.Header["kid"] = k.ID
		s, _ := t.SignedString(k.Private)
		return s
	}()
	wrongAudience := func() string {
		t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": Issuer, "aud": "someone-else", "sub": "users/alice", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()})
		t.Header["kid"], t.Header["typ"] = k.ID, TokenType
		s, _ := t.SignedString(k.Private)
		return s
	}()
	noExpiry := func() string {
		t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": Issuer, "aud": Audience, "sub": "users/alice", "iat": now.Unix()})
		t.Header["kid"], t.Header["typ"] = k.ID, TokenType
		s, _ := t.SignedString(k.Private)
		return s
	}()
	v := NewVerifier(keysOf(k), nil)
	for name, tok := range map[string]string{
		"garbage": "not-a-token", "empty": "", "expired": expired, "foreign key": foreign,
		"tampered": tampered, "alg none": none, "alg HS256": hsToken, "wrong typ": wrongType,
		"wrong audience": wrongAudience, "no expiry": noExpiry,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, errs.ErrUnauthenticated) {
				t.Fatalf("want Unauthenticated, got %v", err)
			}
		})
	}
}

// TestRevocations: R-ID-7 — deactivation refuses tokens already issued, a
// role change applies at once to them, and newer tokens are unaffected.
func TestRevocations(t *testing.T) {
	k := testKey(t)
	v := NewVerifier(keysOf(k), nil)
	issued := time.Now().Add(-time.Minute)
	tok, _ := Sign(k, alice, issued, time.Hour)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	v.Revocations().Apply(&identityv1.RevocationEvent{Sequence: 1, User: alice.User, Company: alice.Company,
		Kind: identityv1.RevocationEvent_KIND_ROLE_CHANGED, Role: identityv1.Role_ROLE_STANDARD_USER, NotBefore: timestamppb.Now()})
	p, err := v.Verify(ctx, tok)
	if err != nil || p.Role != authz.RoleStandard {
		t.Fatalf("after demotion: role %v, err %v; want ROLE_STANDARD_USER", p.Role, err)
	}
	elsewhere := alice
	elsewhere.Company = "companies/other"
	elsewhereTok, _ := Sign(k, elsewhere, issued, time.Hour)
	v.Revocations().Apply(&identityv1.RevocationEvent{Sequence: 2, User: alice.User, Company: alice.Company,
		Kind: identityv1.RevocationEvent_KIND_USER_DEACTIVATED, NotBefore: timestamppb.Now()})
	if _, err := v.Verify(ctx, elsewhereTok); err != nil {
		t.Fatalf("deactivation in one company must not end the user's session in another (R-DIR-2): %v", err)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Fatalf("deactivated user's token accepted: %v", err)
	}
	later, _ := Sign(k, alice, time.Now().Add(time.Second), time.Hour)
	if _, err := v.Verify(ctx, later); err != nil {
		t.Fatalf("a token issued after the event must pass: %v", err)
	}
	other := alice
	other.Session = "s2"
	v.Revocations().Apply(&identityv1.RevocationEvent{Sequence: 3, User: alice.User, Session: "s1",
		Kind: identityv1.RevocationEvent_KIND_SESSION_REVOKED, NotBefore: timestamppb.New(time.Now().Add(2 * time.Second))})
	if _, err := v.Verify(ctx, later); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Fatalf("revoked session's token accepted: %v", err)
	}
	s2, _ := Sign(k, other, time.Now().Add(time.Second), time.Hour)
	if _, err := v.Verify(ctx, s2); err != nil {
		t.Fatalf("another session must pass: %v", err)
	}
	if v.Revocations().Sequence() != 3 {
		t.Fatalf("sequence %d, want 3", v.Revocations().Sequence())
	}
}

func withBearer(tok string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
}

// TestBearerToken: the scheme is case-insensitive, the token trimmed, other
// schemes and other keys ignored, a later bearer entry found.
func TestBearerToken(t *testing.T) {
	for _, c := range []struct {
		md   metadata.MD
		want string
		ok   bool
	}{
		{metadata.Pairs("authorization", "Bearer a.b.c"), "a.b.c", true},
		{metadata.Pairs("authorization", "bEaReR  a.b.c "), "a.b.c", true},
		{metadata.MD{"Authorization": {"Bearer a.b.c"}}, "a.b.c", true},
		{metadata.Pairs("authorization", "Basic YTpi", "authorization", "Bearer x"), "x", true},
		{metadata.Pairs("authorization", "Basic YTpi"), "", false},
		{metadata.Pairs("authorization", "Bearer "), "", false},
		{metadata.Pairs("x-authorization", "Bearer a.b.c"), "", false},
		{nil, "", false},
	} {
		got, ok := BearerToken(metadata.NewIncomingContext(context.Background(), c.md))
		if got != c.want || ok != c.ok {
			t.Errorf("%v: %q %v, want %q %v", c.md, got, ok, c.want, c.ok)
		}
	}
	if _, ok := BearerToken(context.Background()); ok {
		t.Error("a token without metadata")
	}
}

func TestAuthenticator(t *testing.T) {
	k := testKey(t)
	a := &Authenticator{
		Verifier:       NewVerifier(keysOf(k), nil),
		Public:         map[string]bool{"/vigil.identity.v1.IdentityService/Login": true},
		TOTPEnrollment: map[string]bool{"/vigil.identity.v1.IdentityService/EnrollTotp": true},
	}
	good, _ := Sign(k, alice, time.Now(), time.Minute)
	pending := alice
	pending.TOTPPending = true
	pendingTok, _ := Sign(k, pending, time.Now(), time.Minute)
	const (
		getMe  = "/vigil.identity.v1.IdentityService/GetMe"
		login  = "/vigil.identity.v1.IdentityService/Login"
		enroll = "/vigil.identity.v1.IdentityService/EnrollTotp"
		intern = "/vigil.identity.v1.IdentityInternalService/CheckPermission"
	)
	cases := []struct {
		name, method string
		ctx          context.Context
		want         error // nil: allowed
		principal    bool
	}{
		{"no token, protected", getMe, context.Background(), errs.ErrUnauthenticated, false},
		{"bad token, protected", getMe, withBearer("x.y.z"), errs.ErrUnauthenticated, false},
		{"good token, protected", getMe, withBearer(good), nil, true},
		{"no token, public", login, context.Background(), nil, false},
		{"bad token, public", login, withBearer("x.y.z"), nil, false},
		{"no token, internal", intern, context.Background(), nil, false},
		{"2FA pending, protected", getMe, withBearer(pendingTok), errs.ErrPermissionDenied, false},
		{"2FA pending, enrolment", enroll, withBearer(pendingTok), nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, err := a.Authenticate(c.ctx, c.method)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if _, ok := FromContext(ctx); ok != c.principal {
				t.Fatalf("principal present %v, want %v", ok, c.principal)
			}
		})
	}
}

// FuzzVerify: the token parser takes outside input; it must never panic and
// must accept nothing it did not sign.
func FuzzVerify(f *testing.F) {
	k := testKey(f)
	good, _ := Sign(k, alice, time.Now(), time.Hour)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	v := NewVerifier(keysOf(k), nil)
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(context.Background(), tok)
		if err == nil && tok != good {
			// Another encoding of the same signed token may verify; it must carry the same identity.
			if p.User != alice.User || p.Company != alice.Company {
				t.Fatalf("accepted a token it did not sign: %q", tok)
			}
		}
	})
}

// BenchmarkVerify reports token verification per call, cached (the common
// case: same token, many calls) and uncached (first sight of a token).
func BenchmarkVerify(b *testing.B) {
	k := testKey(b)
	tok, _ := Sign(k, alice, time.Now(), time.Hour)
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		v := NewVerifier(keysOf(k), nil)
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		v := NewVerifier(keysOf(k), nil)
		b.ReportAllocs()
		for b.Loop() {
			clear(v.cache)
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRoleChangesApplyInSequenceOrder: identity applies its own events from
// concurrent requests, so an older event may arrive after a newer one.
func TestRoleChangesApplyInSequenceOrder(t *testing.T) {
	k := testKey(t)
	v := NewVerifier(keysOf(k), nil)
	tok, _ := Sign(k, alice, time.Now().Add(-time.Minute), time.Hour)
	at := timestamppb.Now()
	v.Revocations().Apply(&identityv1.RevocationEvent{Sequence: 6, User: alice.User, Company: alice.Company,
		Kind: identityv1.RevocationEvent_KIND_ROLE_CHANGED, Role: identityv1.Role_ROLE_RESTRICTED_USER, NotBefore: at})
	v.Revocations().Apply(&identityv1.RevocationEvent{Sequence: 5, User: alice.User, Company: alice.Company,
		Kind: identityv1.RevocationEvent_KIND_ROLE_CHANGED, Role: identityv1.Role_ROLE_ADMINISTRATOR, NotBefore: at})
	p, err := v.Verify(context.Background(), tok)
	if err != nil || p.Role != authz.RoleRestricted {
		t.Fatalf("role %v (%v), want the later change ROLE_RESTRICTED_USER", p.Role, err)
	}
}

func TestLongLivedTokensAreRefused(t *testing.T) {
	k := testKey(t)
	tok, _ := Sign(k, alice, time.Now(), MaxTokenLifetime+time.Hour)
	if _, err := NewVerifier(keysOf(k), nil).Verify(context.Background(), tok); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Fatalf("a token living past MaxTokenLifetime must be refused (revocations are forgotten after it): %v", err)
	}
}

func TestRevocationsArePruned(t *testing.T) {
	r := NewRevocations()
	old := timestamppb.New(time.Now().Add(-MaxTokenLifetime - 2*time.Hour))
	r.Apply(&identityv1.RevocationEvent{Sequence: 1, User: "users/a", Session: "s", Kind: identityv1.RevocationEvent_KIND_SESSION_REVOKED, NotBefore: old})
	r.pruned = time.Time{}
	r.Apply(&identityv1.RevocationEvent{Sequence: 2, User: "users/b", Session: "t", Kind: identityv1.RevocationEvent_KIND_SESSION_REVOKED, NotBefore: timestamppb.Now()})
	if _, ok := r.sessions["s"]; ok || len(r.sessions) != 1 {
		t.Fatalf("sessions %v: the entry older than any token must be forgotten, the new one kept", r.sessions)
	}
}

// TestTokenKey: the cache key is the SHA-256 of the whole token.
func TestTokenKey(t *testing.T) {
	for _, tok := range []string{"", "a", "header.payload.signature", strings.Repeat("x", 5000)} {
		if tokenKey(tok) != sha256.Sum256([]byte(tok)) {
			t.Errorf("key of %.20q", tok)
		}
	}
}
