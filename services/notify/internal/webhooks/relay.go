package webhooks

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// Relay turns the events of the services' feeds into the change feed and
// webhook deliveries. One feed.Follower per source calls HandleBatch with
// runs of the source's events in order; each event is kept once, for the one company it
// is for (the producer already addressed it: R-VAULT-3), and fanned out to
// that company's enabled endpoints subscribed to its type, in the same
// transaction as the source's cursor: a replay after a crash changes
// nothing, and nothing is lost.
type Relay struct {
	store Store
	log   *zap.Logger
	now   func() time.Time
	// queued is called after deliveries were created (wakes the dispatcher).
	queued func()
}

// NewRelay builds a relay; queued may be nil.
func NewRelay(store Store, log *zap.Logger, queued func()) *Relay {
	if queued == nil {
		queued = func() {}
	}
	return &Relay{store: store, log: log, now: time.Now, queued: queued}
}

// Cursor is a feed.Follower's Cursor for source.
func (r *Relay) Cursor(source string) func(context.Context) (uint64, error) {
	return func(ctx context.Context) (uint64, error) { return r.store.Cursor(ctx, source) }
}

// HandleBatch is a feed.Follower's HandleBatch for source: the run of
// events is applied in one transaction.
func (r *Relay) HandleBatch(source string) func(context.Context, []feed.Event) error {
	return func(ctx context.Context, es []feed.Event) error {
		now := r.now().UTC()
		in := make([]Incoming, len(es))
		for i, e := range es {
			in[i].Seq = e.Sequence
			if feed.IsSkip(e) || !feed.IsPublic(e.Type) {
				continue
			}
			if _, ok := names.Company.Match(e.Company); !ok {
				// A producer's bug: without its company the event cannot be
				// addressed to anyone, so it reaches no one.
				r.log.Error("event without a valid company dropped", zap.String("event", feed.ID(source, e.Sequence)),
					zap.String("type", e.Type), zap.String("company", e.Company))
				continue
			}
			in[i].Event = &Event{
				ID: feed.ID(source, e.Sequence), Source: source, Type: e.Type, Company: e.Company, Subject: e.Subject,
				Time: e.Time.UTC(), Resources: e.Resources, Attributes: e.Attributes, StoreTime: now,
			}
		}
		n, err := r.store.AppendEvents(ctx, source, in, func(ev Event, endpoints []Endpoint) []Delivery {
			return fanout(ev, endpoints, now)
		})
		if err != nil {
			return fmt.Errorf("keep %d events of %s from %d: %w", len(es), source, es[0].Sequence, err)
		}
		if n > 0 {
			r.queued()
		}
		return nil
	}
}

// fanout is the rule of who receives an event: the enabled endpoints of its
// company (the store passes no others) subscribed to its type.
func fanout(ev Event, endpoints []Endpoint, now time.Time) []Delivery {
	var out []Delivery
	for _, e := range endpoints {
		if e.Company != ev.Company || !e.Enabled || !e.Subscribed(ev.Type) {
			continue
		}
		out = append(out, Delivery{
			ID: names.NewIDAt(now), Endpoint: e.ID, Company: e.Company, EventSeq: ev.Seq, EventID: ev.ID, EventType: ev.Type,
			State: StatePending, NextAttempt: now, WindowStart: now, CreateTime: now,
		})
	}
	return out
}
