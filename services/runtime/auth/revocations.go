package auth

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/backoff"
	"github.com/vigil/vigil/services/runtime/errs"
)

// Revocations is what a service knows of identity's revocation feed: which
// users' and sessions' tokens issued before a time are refused, and which
// memberships changed role since their tokens were issued (R-ID-7).
type Revocations struct {
	mu       sync.RWMutex
	sequence uint64
	users    map[string]time.Time // user, or user|company → tokens issued before are refused
	sessions map[string]time.Time // session → tokens issued before are refused
	roles    map[string]roleChange
	// twoFactor: user|company → tokens issued before are limited to
	// enrolment (the company began requiring two-factor, R-ID-8).
	twoFactor map[string]time.Time
	pruned    time.Time
	// listeners hear every applied event, after the state changed (e.g. a
	// cache of grants that forgets the user's answers).
	listeners []func(*identityv1.RevocationEvent)
}

type roleChange struct {
	role     authz.Role
	at       time.Time
	sequence uint64
}

// MaxTokenLifetime bounds an access token's life (exp - iat); the verifier
// refuses longer-lived tokens, which lets revocation entries older than this
// be forgotten: every token they could refuse has expired.
const MaxTokenLifetime = 24 * time.Hour

// NewRevocations returns an empty state.
func NewRevocations() *Revocations {
	return &Revocations{users: map[string]time.Time{}, sessions: map[string]time.Time{}, roles: map[string]roleChange{},
		twoFactor: map[string]time.Time{}}
}

// Sequence is the last applied event's sequence.
func (r *Revocations) Sequence() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.sequence
}

// OnApply registers fn to hear every event applied from now on, after the
// state changed. Register listeners before the feed starts.
func (r *Revocations) OnApply(fn func(*identityv1.RevocationEvent)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listeners = append(r.listeners, fn)
}

// Apply records one event of the feed.
func (r *Revocations) Apply(ev *identityv1.RevocationEvent) {
	r.apply(ev)
	r.mu.RLock()
	listeners := r.listeners
	r.mu.RUnlock()
	for _, fn := range listeners {
		fn(ev)
	}
}

func (r *Revocations) apply(ev *identityv1.RevocationEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.GetSequence() > r.sequence {
		r.sequence = ev.GetSequence()
	}
	at := ev.GetNotBefore().AsTime()
	switch ev.GetKind() {
	case identityv1.RevocationEvent_KIND_USER_DEACTIVATED, identityv1.RevocationEvent_KIND_USER_DELETED:
		// With a company, the membership is what ends: the user's sessions
		// in its other companies go on (R-DIR-2). Reactivation needs no
		// entry: no token can have been issued while deactivated.
		key := ev.GetUser()
		if ev.GetCompany() != "" {
			key += "|" + ev.GetCompany()
		}
		if at.After(r.users[key]) {
			r.users[key] = at
		}
	case identityv1.RevocationEvent_KIND_SESSION_REVOKED:
		if s := ev.GetSession(); s != "" && at.After(r.sessions[s]) {
			r.sessions[s] = at
		} else if s == "" && at.After(r.users[ev.GetUser()]) {
			r.users[ev.GetUser()] = at
		}
	case identityv1.RevocationEvent_KIND_TWO_FACTOR_REQUIRED:
		key := ev.GetUser() + "|" + ev.GetCompany()
		if at.After(r.twoFactor[key]) {
			r.twoFactor[key] = at
		}
	case identityv1.RevocationEvent_KIND_ROLE_CHANGED:
		// Events may be applied out of order (identity applies its own from
		// concurrent requests): the later change wins.
		key := ev.GetUser() + "|" + ev.GetCompany()
		if prev, ok := r.roles[key]; !ok || ev.GetSequence() >= prev.sequence {
			r.roles[key] = roleChange{role: authz.Role(ev.GetRole()), at: at, sequence: ev.GetSequence()}
		}
	}
	r.pruneLocked(time.Now())
}

// pruneLocked forgets, at most once an hour, entries older than any token
// can live, so that the maps do not grow with every logout forever.
func (r *Revocations) pruneLocked(now time.Time) {
	if now.Sub(r.pruned) < time.Hour {
		return
	}
	r.pruned = now
	horizon := now.Add(-MaxTokenLifetime - time.Minute)
	for k, at := range r.users {
		if at.Before(horizon) {
			delete(r.users, k)
		}
	}
	for k, at := range r.sessions {
		if at.Before(horizon) {
			delete(r.sessions, k)
		}
	}
	for k, c := range r.roles {
		if c.at.Before(horizon) {
			delete(r.roles, k)
		}
	}
	for k, at := range r.twoFactor {
		if at.Before(horizon) {
			delete(r.twoFactor, k)
		}
	}
}

// Check refuses a revoked principal and applies a role changed since its
// token was issued, so that a demotion bites at once without signing out;
// likewise a company's new two-factor requirement limits the tokens its
// unenrolled members already hold to enrolment (TOTPPending). Times compare
// to the microsecond (tokens carry a fractional iat): a token issued just
// after a revocation, in the same second, is not refused.
func (r *Revocations) Check(p Principal) (Principal, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	membership := p.User + "|" + p.Company // built once per call
	for _, key := range [...]string{p.User, membership} {
		if at, ok := r.users[key]; ok && p.IssuedAt.Before(at) {
			return Principal{}, errs.Unauthenticated("TOKEN_REVOKED", "access token revoked")
		}
	}
	if at, ok := r.sessions[p.Session]; ok && p.IssuedAt.Before(at) {
		return Principal{}, errs.Unauthenticated("TOKEN_REVOKED", "access token revoked")
	}
	if c, ok := r.roles[membership]; ok && p.IssuedAt.Before(c.at) {
		p.Role = c.role
	}
	if at, ok := r.twoFactor[membership]; ok && p.IssuedAt.Before(at) {
		p.TOTPPending = true
	}
	return p, nil
}

// RevocationKind is what a revocation event says changed; the numbers are
// those of vigil.identity.v1.RevocationEvent.Kind, so that a service's
// domain (identity's) speaks plain values and converts with a cast.
type RevocationKind int32

// The kinds, as in vigil.identity.v1.RevocationEvent.Kind.
const (
	RevokeUserDeactivated   RevocationKind = 1
	RevokeUserDeleted       RevocationKind = 2
	RevokeRoleChanged       RevocationKind = 3
	RevokeSessions          RevocationKind = 4
	RevokeUserReactivated   RevocationKind = 5
	RevokeGrantsChanged     RevocationKind = 6
	RevokeTwoFactorRequired RevocationKind = 7
)

// Revocation is one revocation event as plain values (identity's domain
// appends them; the feed carries them as vigil.identity.v1.RevocationEvent).
type Revocation struct {
	Sequence  uint64
	User      string // users/{user}
	Company   string // companies/{company}, or empty for every company
	Kind      RevocationKind
	Role      authz.Role
	Session   string
	NotBefore time.Time
}

// Proto is the event on the wire.
func (ev Revocation) Proto() *identityv1.RevocationEvent {
	return &identityv1.RevocationEvent{Sequence: ev.Sequence, User: ev.User, Company: ev.Company,
		Kind: identityv1.RevocationEvent_Kind(ev.Kind), Role: identityv1.Role(ev.Role), Session: ev.Session,
		NotBefore: timestamppb.New(ev.NotBefore)}
}

// ApplyRevocation records one event given as plain values.
func (r *Revocations) ApplyRevocation(ev Revocation) { r.Apply(ev.Proto()) }

// Watch follows identity's revocation feed until ctx ends, resuming after the
// last applied event and reconnecting with backoff. Events reach the state
// as identity commits them, well within R-ID-7's second.
func Watch(ctx context.Context, client identityv1.IdentityInternalServiceClient, r *Revocations, log *zap.Logger) {
	retry := backoff.Retry{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	for ctx.Err() == nil {
		err := watchOnce(ctx, client, r)
		if ctx.Err() != nil {
			return
		}
		if status.Code(err) == codes.OutOfRange {
			// The resume point is older than identity keeps: replay all it has.
			r.mu.Lock()
			r.sequence = 0
			r.mu.Unlock()
		}
		wait := retry.Next()
		log.Debug("revocation feed interrupted; reconnecting", zap.Error(err), zap.Duration("backoff", wait))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func watchOnce(ctx context.Context, client identityv1.IdentityInternalServiceClient, r *Revocations) error {
	stream, err := client.WatchRevocations(ctx, &identityv1.WatchRevocationsRequest{AfterSequence: r.Sequence()})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		r.Apply(ev)
	}
}
