package notify

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/backoff"
)

// BounceTarget is told that mail to an address failed for good: identity's
// ReportUndeliverableEmail, which marks the person's e-mail for the
// company's Administrators to see. It returns nil once the report is
// recorded (also when no login has the address).
type BounceTarget interface {
	ReportUndeliverable(ctx context.Context, email, reason string) error
}

// Reporter tells identity about suppressed addresses: the store keeps each
// report until identity has it (an outbox, like the e-mails), so that a
// bounce reaches identity even across restarts and identity's outages.
type Reporter struct {
	store  Store
	target BounceTarget
	log    *zap.Logger
	now    func() time.Time
	wake   chan struct{}
	// Idle bounds the sleep when nothing is pending; Backoff* the waits
	// after a failed report.
	Idle, BackoffBase, BackoffMax time.Duration
}

// NewReporter builds a reporter; Run starts it.
func NewReporter(store Store, target BounceTarget, log *zap.Logger) *Reporter {
	return &Reporter{store: store, target: target, log: log, now: time.Now, wake: make(chan struct{}, 1),
		Idle: time.Minute, BackoffBase: time.Second, BackoffMax: 5 * time.Minute}
}

// Wake tells the reporter that a report may be pending.
func (r *Reporter) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reports until ctx ends.
func (r *Reporter) Run(ctx context.Context) error {
	retry := backoff.Retry{Base: r.BackoffBase, Max: r.BackoffMax}
	for {
		wait := r.Idle
		if err := r.flush(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = retry.Next()
			r.log.Warn("report undeliverable addresses to identity; will retry", zap.Error(err), zap.Duration("backoff", wait))
		} else {
			retry.Reset()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// flush reports every pending suppression, a page at a time.
func (r *Reporter) flush(ctx context.Context) error {
	for {
		pending, err := r.store.PendingReports(ctx, 100)
		if err != nil {
			return fmt.Errorf("pending reports: %w", err)
		}
		if len(pending) == 0 {
			return nil
		}
		for _, p := range pending {
			if err := r.target.ReportUndeliverable(ctx, p.Email, p.Reason); err != nil {
				return err
			}
			if err := r.store.ReportDone(ctx, p.Email, r.now().UTC()); err != nil {
				return fmt.Errorf("record report: %w", err)
			}
		}
	}
}
