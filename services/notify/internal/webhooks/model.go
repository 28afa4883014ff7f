// Package webhooks is how integrations learn what happens to a company's
// data (SPEC R-NOTIF-6): notify follows the event feeds of identity,
// directory and vault, keeps each event once for the company it is for (a
// change feed kept 30 days), and pushes it, signed, to that company's HTTPS
// endpoints subscribed to its type, at least once, retried for 3 days.
//
// The package holds the rules: who may manage endpoints (authz
// ManageWebhooks), what an acceptable endpoint is (https, never an address
// inside the platform's network: ssrf.go), how a delivery is signed
// (signing.go), rendered (cloudevents.go), retried and given up (dispatcher.go),
// and which events reach which company (relay.go). It knows neither proto
// nor bbolt: the handlers translate proto, and the store (internal/boltstore
// today, PostgreSQL later) keeps the records.
package webhooks

import (
	"context"
	"errors"
	"time"
)

// Endpoint is one HTTPS endpoint of a company (a Webhook resource).
type Endpoint struct {
	ID          string   `json:"id"`
	Company     string   `json:"company"` // companies/{company}
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	Enabled     bool     `json:"enabled"`
	Description string   `json:"description,omitempty"`
	// Secret is the signing secret sealed with the operator's key
	// (runtime/secrets), bound to the endpoint's name; never in clear.
	Secret []byte `json:"secret"`
	// PreviousSecret signs too until PreviousSecretExpireTime (rotation).
	PreviousSecret           []byte    `json:"previous_secret,omitempty"`
	PreviousSecretExpireTime time.Time `json:"previous_secret_expire_time,omitzero"`
	// FailingSince is the first failed attempt with no success since.
	FailingSince   time.Time `json:"failing_since,omitzero"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	DisableTime    time.Time `json:"disable_time,omitzero"`
	CreateTime     time.Time `json:"create_time"`
	UpdateTime     time.Time `json:"update_time"`
}

// Name is the endpoint's resource name.
func (e Endpoint) Name() string { return e.Company + "/webhooks/" + e.ID }

// Subscribed reports whether the endpoint receives events of type t.
func (e Endpoint) Subscribed(t string) bool {
	for _, s := range e.EventTypes {
		if s == t {
			return true
		}
	}
	return false
}

// Event is one event kept for one company: the change feed's entry and
// the content of its deliveries.
type Event struct {
	// Seq is notify's own position of the event (the change feed's order),
	// assigned by the store; 0 for a test event, which is not in the feed.
	Seq uint64 `json:"seq"`
	// ID is `{source}-{sequence}` (feed.ID): unique and stable.
	ID         string            `json:"id"`
	Source     string            `json:"source"` // identity, directory, vault (notify for tests)
	Type       string            `json:"type"`
	Company    string            `json:"company"`
	Subject    string            `json:"subject,omitempty"`
	Time       time.Time         `json:"time"`
	Resources  map[string]string `json:"resources,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// StoreTime is when notify recorded it; the feed keeps it 30 days from then.
	StoreTime time.Time `json:"store_time"`
}

// Incoming is one event of a source's feed: its sequence there, and the
// event to keep, or nil when it only moves the cursor (not for
// integrations, or a gap).
type Incoming struct {
	Seq   uint64
	Event *Event
}

// State is where a delivery stands.
type State string

// The states of a delivery.
const (
	StatePending   State = "pending"
	StateDelivered State = "delivered"
	StateDead      State = "dead"
)

// Delivery is one event sent to one endpoint. Its ID is time-ordered.
type Delivery struct {
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"` // the endpoint's ID
	Company  string `json:"company"`
	// EventSeq points at the stored event; a test delivery carries its
	// event in Test instead.
	EventSeq  uint64 `json:"event_seq,omitempty"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	Test      *Event `json:"test,omitempty"`
	State     State  `json:"state"`
	// Attempts counts attempts since creation or the last redelivery; it
	// grows when the delivery is claimed, before any byte is sent.
	Attempts    int       `json:"attempts"`
	Claimed     bool      `json:"claimed,omitempty"`
	NextAttempt time.Time `json:"next_attempt"`
	// WindowStart starts the retry period (creation or redelivery).
	WindowStart  time.Time `json:"window_start"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	LastCode     int       `json:"last_code,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	CreateTime   time.Time `json:"create_time"`
	CompleteTime time.Time `json:"complete_time,omitzero"`
}

// Name is the delivery's resource name given its endpoint's company.
func (d Delivery) Name() string {
	return d.Company + "/webhooks/" + d.Endpoint + "/deliveries/" + d.ID
}

// Health is what an attempt says of its endpoint.
type Health int

// An attempt leaves the endpoint's health alone (tests, attempts that never
// reached it), proves it answers, or adds to its failures.
const (
	HealthUnchanged Health = iota
	HealthOK
	HealthFailed
)

// Outcome is the result of one attempt, as CompleteDelivery records it.
type Outcome struct {
	DeliveryID string
	// Attempt is the Attempts value of the claim; an outcome of an older
	// claim is refused with ErrStale.
	Attempt     int
	State       State // delivered, pending (retry at NextAttempt) or dead
	Time        time.Time
	NextAttempt time.Time
	Code        int
	Error       string
	Health      Health
}

// Store errors; implementations return them, possibly wrapped.
var (
	ErrNotFound = errors.New("webhooks store: not found")
	// ErrStale: an outcome for a claim that is no longer current.
	ErrStale = errors.New("webhooks store: stale claim")
	// ErrClaimed: the delivery is being attempted right now.
	ErrClaimed = errors.New("webhooks store: delivery in progress")
	// ErrLimit: the company already has the most endpoints allowed.
	ErrLimit = errors.New("webhooks store: too many endpoints")
)

// Store keeps endpoints, the change feed, deliveries and the follower
// cursors. Every method is one short transaction, durable when it returns;
// none is held across network I/O. Callbacks run inside the transaction and
// must do no I/O.
type Store interface {
	// CreateEndpoint stores a new endpoint unless its company already has
	// max of them (ErrLimit).
	CreateEndpoint(ctx context.Context, e Endpoint, max int) error
	// Endpoint returns one endpoint, or ErrNotFound.
	Endpoint(ctx context.Context, id string) (Endpoint, error)
	// ListEndpoints returns up to limit endpoints of company, oldest first,
	// with IDs after afterID.
	ListEndpoints(ctx context.Context, company, afterID string, limit int) ([]Endpoint, error)
	// UpdateEndpoint applies change to the stored endpoint and stores the
	// result, in one transaction; change's error aborts it. ErrNotFound.
	UpdateEndpoint(ctx context.Context, id string, change func(*Endpoint) error) (Endpoint, error)
	// DeleteEndpoint removes an endpoint; its deliveries stay until pruned
	// (those still pending are given up when claimed). ErrNotFound.
	DeleteEndpoint(ctx context.Context, id string) error
	// DisableEndpoint disables an enabled endpoint and records that its
	// Administrators must be told (PendingNotices); false when it was not
	// enabled. ErrNotFound.
	DisableEndpoint(ctx context.Context, id, reason string, at time.Time) (Endpoint, bool, error)
	// PendingNotices lists the endpoints whose disabling is not yet told.
	PendingNotices(ctx context.Context) ([]Endpoint, error)
	// ClearNotice records that the disabling of endpoint id was told.
	ClearNotice(ctx context.Context, id string) error

	// Cursor is the last sequence of source's feed applied (0: none).
	Cursor(ctx context.Context, source string) (uint64, error)
	// AppendEvents applies a run of source's feed in one transaction: each
	// incoming event after the cursor is kept (its Seq assigned) for its
	// company with the deliveries fanout returns for the company's
	// endpoints, and the cursor moves to the last one. Incoming events at or
	// before the cursor are replays: skipped. It returns the deliveries made.
	AppendEvents(ctx context.Context, source string, in []Incoming, fanout func(ev Event, endpoints []Endpoint) []Delivery) (int, error)
	// Event returns the kept event at seq, or ErrNotFound.
	Event(ctx context.Context, seq uint64) (Event, error)
	// ListEvents returns up to limit events of company with Seq > after,
	// in order.
	ListEvents(ctx context.Context, company string, after uint64, limit int) ([]Event, error)
	// PruneEvents deletes up to limit events stored before before, oldest
	// first, and reports how many.
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)

	// CreateDelivery stores one pending delivery (a test).
	CreateDelivery(ctx context.Context, d Delivery) error
	// Delivery returns one delivery, or ErrNotFound.
	Delivery(ctx context.Context, id string) (Delivery, error)
	// ListDeliveries returns up to limit deliveries of an endpoint, newest
	// first, with IDs before beforeID (all when empty), only in state when set.
	ListDeliveries(ctx context.Context, endpoint string, state State, beforeID string, limit int) ([]Delivery, error)
	// ClaimDue claims up to limit pending, unclaimed deliveries due at now,
	// endpoints with the oldest due work first, at most room(endpoint) of
	// each: each gets Claimed and Attempts+1.
	ClaimDue(ctx context.Context, now time.Time, limit int, room func(endpoint string) int) ([]Delivery, error)
	// ReleaseClaims makes every claimed delivery due at now: claims left by
	// a process that stopped mid-attempt. Call it before the first claim.
	ReleaseClaims(ctx context.Context, now time.Time) (int, error)
	// Unclaim gives back claimed deliveries that were not attempted: each is
	// due again at its NextAttempt, its Attempts as before the claim.
	// Deliveries not claimed are left alone.
	Unclaim(ctx context.Context, ids []string) error
	// NextDue is the earliest NextAttempt of an unclaimed pending delivery.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// CompleteDelivery records an attempt's outcome and its endpoint's
	// health, and returns the endpoint's FailingSince afterwards (zero when
	// it answers, or is gone). ErrStale if the claim is not current.
	CompleteDelivery(ctx context.Context, o Outcome) (failingSince time.Time, err error)
	// Redeliver makes a delivery pending and due at now with a fresh retry
	// period. ErrNotFound, ErrClaimed.
	Redeliver(ctx context.Context, id string, now time.Time) (Delivery, error)
	// PruneDeliveries deletes up to limit finished deliveries created
	// before before, and reports how many.
	PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
}
