// Package notify is the notification domain (SPEC R-NOTIF-*): what an
// accepted notification is, who may read which inbox and dead letter, how a
// delivery is retried, and the store interface its implementations satisfy.
// It knows neither proto nor bbolt: handlers translate proto into these
// types, and the store (internal/boltstore today, PostgreSQL later) keeps them.
package notify

import (
	"context"
	"errors"
	"time"
)

// Template names the kind of message. The values are stable: they are stored.
type Template string

// The templates (SPEC R-NOTIF-1..4, R-ID-6, R-DIR-5, R-VAULT-7).
const (
	TemplateInvitation            Template = "invitation"
	TemplatePasswordReset         Template = "password_reset"
	TemplateReviewNewUser         Template = "review_new_user"
	TemplateDocumentRejected      Template = "document_rejected"
	TemplateDocumentUpdateRequest Template = "document_update_request"
	TemplateExpiryReminder        Template = "expiry_reminder"
	TemplateWeeklyDigest          Template = "weekly_digest"
)

// Requested reports whether a person asked for this message (an
// invitation, a password reset): it is attempted even to an address that
// bounced before, since the person may have fixed it. Every other template
// is skipped for a suppressed address (R-NOTIF-1: bounces count).
func (t Template) Requested() bool {
	return t == TemplateInvitation || t == TemplatePasswordReset
}

// Languages a recipient can read; the first is the default.
var Languages = []string{"en", "fr"}

// DefaultLanguage renders recipients that did not choose one.
const DefaultLanguage = "en"

// Recipient is one addressee of a notification. User is `users/{id}` for a
// platform user (who also gets an inbox entry), empty for a bare address.
type Recipient struct {
	User     string `json:"user,omitempty"`
	Email    string `json:"email"`
	Name     string `json:"name,omitempty"`
	Language string `json:"language,omitempty"`
}

// Notification is one accepted notification, stored once; every recipient
// gets its own Delivery. Data is what the template renders.
type Notification struct {
	ID             string         `json:"id"`
	IdempotencyKey string         `json:"idempotency_key"`
	Template       Template       `json:"template"`
	Data           map[string]any `json:"data,omitempty"`
	Company        string         `json:"company,omitempty"`
	Recipients     []Recipient    `json:"recipients"`
	CreateTime     time.Time      `json:"create_time"`

	// DataFrom, when set, names the notification whose Data this one shares
	// (the store keeps one copy of a company's digest for all its members);
	// the store fills Data from it when it reads the notification.
	DataFrom string `json:"data_from,omitempty"`

	// Sealed holds the template's secret fields (a single-use link),
	// encrypted with the operator's key (Sealer) and bound to ID; the store
	// keeps it apart from the record and drops it once every delivery of
	// the notification is final (sent, dead or suppressed). Data never
	// holds a secret field (issue 7: secrets at rest).
	Sealed []byte `json:"-"`
}

// DeliveryState is where one recipient's e-mail stands.
type DeliveryState string

// The states: pending (waiting for an attempt, or being attempted), sent (the
// SMTP server answered 250, or the .eml file is written), dead (failed for
// good), suppressed (not attempted: mail to the address bounced before and
// the template is not one the person asked for).
const (
	StatePending    DeliveryState = "pending"
	StateSent       DeliveryState = "sent"
	StateDead       DeliveryState = "dead"
	StateSuppressed DeliveryState = "suppressed"
)

// Final reports whether a delivery in state s is over.
func (s DeliveryState) Final() bool { return s == StateSent || s == StateDead || s == StateSuppressed }

// Delivery is the e-mail of one notification to one recipient. Its ID is
// `{notification id}-{recipient index}`: unique, time-ordered, and the
// Message-ID of the e-mail, so that a resend is recognisably the same message.
type Delivery struct {
	ID             string        `json:"id"`
	NotificationID string        `json:"notification_id"`
	Index          int           `json:"index"`
	Email          string        `json:"email"`
	Template       Template      `json:"template"`
	IdempotencyKey string        `json:"idempotency_key"`
	State          DeliveryState `json:"state"`
	// Attempts counts the attempts started; it grows when a delivery is
	// claimed, before any byte is sent, so a message that crashes the process
	// still runs out of attempts.
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	// Claimed is true between a claim and its outcome.
	Claimed   bool      `json:"claimed,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	Response  string    `json:"response,omitempty"`
	SentTime  time.Time `json:"sent_time,omitzero"`
	DeadTime  time.Time `json:"dead_time,omitzero"`
}

// InboxEntry is one notification in one user's in-app inbox (R-NOTIF-4). Its
// ID is the recipient's delivery ID; Notification and Recipient are filled
// when listed, for rendering.
type InboxEntry struct {
	ID             string    `json:"id"`
	User           string    `json:"user"`
	NotificationID string    `json:"notification_id"`
	Index          int       `json:"index"`
	CreateTime     time.Time `json:"create_time"`
	ReadTime       time.Time `json:"read_time,omitzero"`

	Notification Notification `json:"-"`
}

// Outcome is the result of one delivery attempt, as recorded by CompleteDelivery.
type Outcome struct {
	DeliveryID string
	// Attempt is the Attempts value of the claim; an outcome for an older
	// claim is refused with ErrStale.
	Attempt int
	// State is StateSent, StatePending (retry at NextAttempt), StateDead or
	// StateSuppressed.
	State       DeliveryState
	Time        time.Time
	NextAttempt time.Time
	Error       string
	Response    string
	// Undeliverable (with StateDead) records that the address itself was
	// refused for good (an SMTP 5xx about the mailbox): the store keeps a
	// Suppression for the delivery's address and a report for identity, in
	// the same transaction as the outcome.
	Undeliverable bool
}

// Suppression is an address that mail failed to reach for good. Messages
// that no one asked for (digests, reminders, …) are no longer sent to it;
// identity is told once (Reported), so that the company's Administrators
// see that the address may be wrong.
type Suppression struct {
	Email      string    `json:"email"` // lower case
	Reason     string    `json:"reason"`
	Time       time.Time `json:"time"`
	Reported   bool      `json:"reported,omitempty"`
	ReportedAt time.Time `json:"reported_at,omitzero"`
}

// Stats describe the outbox for the operations metrics.
type Stats struct {
	Pending       int       // deliveries not final yet
	OldestPending time.Time // creation of the oldest of them; zero when none
	DeadLetters   int
}

// Batched is one notification of an EnqueueBatch, with its deliveries and
// inbox entries.
type Batched struct {
	Notification Notification
	Deliveries   []Delivery
	Inbox        []InboxEntry
	// DataGroup, when not 0, says that the items of the batch with the same
	// group have equal Data: the store may keep it once (DataFrom).
	DataGroup int
}

// BatchResult is the store's answer for one Batched.
type BatchResult struct {
	ID        string
	Duplicate bool
}

// Cursor positions a page: the last item of the previous page.
type Cursor struct {
	Time time.Time
	ID   string
}

// Store errors. Implementations return them (possibly wrapped).
var (
	ErrNotFound = errors.New("notify store: not found")
	// ErrStale reports an outcome for a claim that is no longer current.
	ErrStale = errors.New("notify store: stale claim")
)

// Store keeps notifications, deliveries, inboxes and dead letters. Every
// method is one short transaction: no implementation may hold one across
// network I/O, and each returns only after its writes are durable.
type Store interface {
	// Enqueue stores n with one delivery per recipient and the inbox
	// entries, atomically, unless n.IdempotencyKey was stored before: then
	// it stores nothing and returns the earlier notification's ID and true.
	Enqueue(ctx context.Context, n Notification, deliveries []Delivery, inbox []InboxEntry) (id string, duplicate bool, err error)
	// Notification returns a stored notification, or ErrNotFound.
	Notification(ctx context.Context, id string) (Notification, error)
	// Delivery returns a stored delivery, or ErrNotFound.
	Delivery(ctx context.Context, id string) (Delivery, error)

	// ClaimDue claims up to limit pending, unclaimed deliveries whose
	// NextAttempt is at or before now, oldest first: each gets Claimed and
	// Attempts+1. A claimed delivery is not returned again until its outcome
	// is recorded or ReleaseClaims runs.
	ClaimDue(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// ReleaseClaims makes every claimed delivery due at once: claims left by
	// a process that stopped mid-delivery. Call it before the first claim.
	ReleaseClaims(ctx context.Context, now time.Time) (int, error)
	// NextDue returns the earliest NextAttempt of an unclaimed pending delivery.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// CompleteDelivery records an attempt's outcome; applying the same
	// outcome twice is harmless. ErrStale if the claim is not current.
	CompleteDelivery(ctx context.Context, o Outcome) error

	// ListInbox returns up to limit entries of user's inbox, newest first,
	// strictly after the cursor (older than it), with Notification filled.
	ListInbox(ctx context.Context, user string, after Cursor, limit int, unreadOnly bool) ([]InboxEntry, error)
	// MarkRead sets ReadTime (if unset) of user's entry id; ErrNotFound if
	// user has no such entry.
	MarkRead(ctx context.Context, user, id string, at time.Time) (InboxEntry, error)

	// ListDeadLetters returns up to limit dead deliveries, oldest DeadTime
	// first, strictly after the cursor.
	ListDeadLetters(ctx context.Context, after Cursor, limit int) ([]Delivery, error)
	// RetryDeadLetter makes a dead delivery pending again, due at now, with
	// its attempts reset, and lifts the suppression of its address (the
	// operator says it works again); ErrNotFound unless it is dead.
	RetryDeadLetter(ctx context.Context, id string, now time.Time) (Delivery, error)

	// EnqueueBatch is Enqueue for many notifications in one transaction:
	// each is stored unless its idempotency key was stored before, and the
	// marks (opaque keys, e.g. "this company's digest of this week is
	// done") are recorded in the same transaction.
	EnqueueBatch(ctx context.Context, items []Batched, marks []string) ([]BatchResult, error)
	// Marked returns which of keys were recorded as marks.
	Marked(ctx context.Context, keys []string) (map[string]bool, error)
	// PruneMarks deletes the marks that start with prefix and sort before
	// prefix+before.
	PruneMarks(ctx context.Context, prefix, before string) (int, error)

	// Suppressions returns the suppressions of the given addresses (lower
	// case), keyed by address; addresses without one are absent.
	Suppressions(ctx context.Context, emails []string) (map[string]Suppression, error)
	// LiftSuppression deletes the suppression of email if it was reported
	// before the given time (identity has since cleared its mark).
	LiftSuppression(ctx context.Context, email string, reportedBefore time.Time) (bool, error)
	// PendingReports returns up to limit suppressions not yet reported.
	PendingReports(ctx context.Context, limit int) ([]Suppression, error)
	// ReportDone records that identity was told about email.
	ReportDone(ctx context.Context, email string, at time.Time) error

	// Stats counts the outbox (without scanning it).
	Stats(ctx context.Context) (Stats, error)
}
