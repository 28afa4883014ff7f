package domain

import (
	"context"
	"errors"
	"time"

	"github.com/vigil/vigil/services/runtime/feed"
)

// ErrNotFound is what every store lookup returns for a missing key.
var ErrNotFound = errors.New("store: not found")

// ErrEmailTaken is returned by PutLogin when another login has the e-mail.
var ErrEmailTaken = errors.New("store: e-mail taken")

// Store is identity's persistence, defined here by its consumer. Every
// change and the revocation and audit entries it causes are written in one
// Update, so that they commit together.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	// The event log as runtime/feed's server reads it (EventsAfter,
	// PrunedThrough); Tx.AppendEvent writes it.
	feed.Log
	// Update runs fn in one serializable write transaction; an error from fn
	// rolls everything back.
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is one transaction. Values returned are copies the caller may keep and
// change; nothing is written until a Put.
type Tx interface {
	Login(id string) (*Login, error)
	LoginByEmail(email string) (*Login, error)
	// PutLogin creates or replaces a login and its e-mail index entry.
	PutLogin(l *Login) error
	DeleteLogin(id string) error
	// LoginsAfter lists logins by id, after `after` ("" from the first), at
	// most limit (one-time migrations only, never a request).
	LoginsAfter(after string, limit int) ([]*Login, error)

	Company(id string) (*Company, error)
	PutCompany(c *Company) error

	Membership(company, user string) (*Membership, error)
	PutMembership(m *Membership) error
	DeleteMembership(company, user string) error
	// CompanyMembers lists a company's memberships, by user id.
	CompanyMembers(company string) ([]*Membership, error)
	// UserMemberships lists a login's memberships, by company id.
	UserMemberships(user string) ([]*Membership, error)
	// MembersAfter lists memberships in (company id, user id) order after
	// the pair (afterCompany, afterUser) ("", "": from the first), of
	// `company` only when it is set, at most limit. It reads the store's
	// own order: never the whole collection.
	MembersAfter(company, afterCompany, afterUser string, limit int) ([]*Membership, error)

	Session(id string) (*Session, error)
	PutSession(s *Session) error
	DeleteSession(id string) error
	UserSessions(user string) ([]*Session, error)

	LinkToken(hash [32]byte) (*LinkToken, error)
	PutLinkToken(t *LinkToken) error
	DeleteLinkToken(hash [32]byte) error
	// UserLinkTokens lists a login's link tokens, of every kind.
	UserLinkTokens(user string) ([]*LinkToken, error)

	Grant(company, id string) (*Grant, error)
	PutGrant(g *Grant) error
	DeleteGrant(company, id string) error
	// Grants lists a company's grants, by id.
	Grants(company string) ([]*Grant, error)

	// AppendAudit assigns e.Seq and stores e.
	AppendAudit(e *AuditEvent) error
	// AuditEvents lists a company's events with Seq < before (0: no bound),
	// newest first, at most limit.
	AuditEvents(company string, before uint64, limit int) ([]*AuditEvent, error)

	// AppendRevocation assigns e.Seq (strictly increasing) and stores e.
	AppendRevocation(e *RevocationEvent) error
	// Revocations lists events with Seq > after, oldest first, at most limit.
	Revocations(after uint64, limit int) ([]*RevocationEvent, error)
	// RevocationBounds returns the highest sequence pruned away (0: none)
	// and the last sequence assigned (0: none).
	RevocationBounds() (pruned, last uint64, err error)
	// PruneRevocations deletes events with NotBefore before t.
	PruneRevocations(t time.Time) error

	SigningKeys() ([]*SigningKey, error)
	PutSigningKey(k *SigningKey) error
	DeleteSigningKey(id string) error

	PutNotification(n *Notification) error
	// Notifications lists queued notifications, oldest first.
	Notifications(limit int) ([]*Notification, error)
	DeleteNotification(id string) error

	// DeleteExpired removes sessions and link tokens expired at now,
	// reading an expiry index (never the whole collections).
	DeleteExpired(now time.Time) error

	// AppendEvent assigns e.Sequence and appends e to the event log.
	AppendEvent(e *feed.Event) error
	// PruneEvents deletes events older than before, at most limit of them,
	// and reports how many.
	PruneEvents(before time.Time, limit int) (int, error)

	PutPendingSignUp(p *PendingSignUp) error
	PendingSignUp(id string) (*PendingSignUp, error)
	DeletePendingSignUp(id string) error
	// ExpiredPendingSignUps lists pending sign-ups expired at now, oldest
	// first, at most limit.
	ExpiredPendingSignUps(now time.Time, limit int) ([]*PendingSignUp, error)

	// Flag reports whether a one-time marker (a migration done) is set.
	Flag(name string) (bool, error)
	SetFlag(name string) error
}
