package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/backoff"
)

// Email is one rendered message to one recipient, as a Sender sends it.
type Email struct {
	// MessageID is the delivery's ID: the same on every attempt.
	MessageID string
	To        Recipient
	Subject   string
	Text      string
	HTML      string
	Date      time.Time
}

// Sender delivers one e-mail. It returns the server's acknowledgement (for
// the record) once the message is accepted; an error wrapped by Permanent
// means retrying cannot help, any other error is temporary.
type Sender interface {
	Send(ctx context.Context, e Email) (response string, err error)
}

// DispatcherConfig tunes delivery.
type DispatcherConfig struct {
	Workers     int           // concurrent deliveries
	MaxAttempts int           // attempts before a temporary failure becomes a dead letter
	BackoffBase time.Duration // wait after the first failure; doubles each time
	BackoffMax  time.Duration // longest wait between attempts
	// MaxIdle bounds the sleep when nothing is due (a safety net: enqueues
	// and retries wake the dispatcher directly).
	MaxIdle time.Duration
	// StopGrace is how long a send in progress may go on after shutdown
	// begins, so that its outcome is recorded rather than resent later.
	StopGrace time.Duration
	// OnOutcome, when set, is told each recorded outcome: "sent", "retry",
	// "dead" or "suppressed" (the operations metrics).
	OnOutcome func(result string)
	// OnBounce, when set, is called after an address was suppressed (wakes
	// the reporter that tells identity).
	OnBounce func()
}

func (c *DispatcherConfig) complete() {
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 12
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 30 * time.Second
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = max(c.BackoffBase, time.Hour)
	}
	if c.MaxIdle <= 0 {
		c.MaxIdle = time.Minute
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 5 * time.Second
	}
}

// Dispatcher delivers the outbox: it claims due deliveries in batches, hands
// them to a pool of workers, and records each outcome (sent, retry later
// with backoff, or dead letter).
//
// Delivery is at least once. A delivery is marked sent only after the SMTP
// server acknowledged it (250), in its own committed transaction. A process
// killed between that 250 and the commit sends the message again on restart:
// that window (one round trip and one fsync per in-flight message, at most
// Workers messages) is the only place a duplicate can come from. The resent
// message carries the same Message-ID, so receiving systems can tell.
type Dispatcher struct {
	store  Store
	render Renderer
	sealer Sealer
	send   Sender
	log    *zap.Logger
	cfg    DispatcherConfig
	now    func() time.Time
	wake   chan struct{}
}

// NewDispatcher builds a dispatcher; Run starts it. sealer opens the
// secret fields (single-use links) of what it sends.
func NewDispatcher(store Store, render Renderer, sealer Sealer, send Sender, log *zap.Logger, cfg DispatcherConfig) *Dispatcher {
	cfg.complete()
	return &Dispatcher{
		store: store, render: render, sealer: sealer, send: send, log: log, cfg: cfg, now: time.Now,
		wake: make(chan struct{}, 1),
	}
}

// Wake tells the dispatcher that something may be due now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the workers: a send in
// progress gets StopGrace to finish and record its outcome. Claimed
// deliveries not yet started stay claimed in the store and are released at
// the next start.
func (d *Dispatcher) Run(ctx context.Context) error {
	released, err := d.store.ReleaseClaims(ctx, d.now().UTC())
	if err != nil {
		return fmt.Errorf("release claims: %w", err)
	}
	if released > 0 {
		d.log.Info("resuming deliveries interrupted by the last stop", zap.Int("count", released))
	}

	// sendCtx outlives ctx by StopGrace, so that a send in progress at
	// shutdown can finish and be recorded.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(d.cfg.StopGrace, cancelSend) })
	defer stopGrace()

	capacity := d.cfg.Workers * 2
	jobs := make(chan Delivery, capacity)
	done := make(chan struct{}, capacity)
	var wg sync.WaitGroup
	for range d.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				if ctx.Err() == nil {
					d.deliver(sendCtx, job)
				}
				done <- struct{}{}
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()

	inflight := 0
	for {
		// Collect finished jobs without blocking.
	drain:
		for {
			select {
			case <-done:
				inflight--
			default:
				break drain
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		free := capacity - inflight
		claimed := 0
		if free > 0 {
			batch, err := d.store.ClaimDue(ctx, d.now().UTC(), free)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				// The store is failing: wait the idle bound rather than
				// spinning on a due time that cannot be claimed.
				d.log.Error("claim due deliveries", zap.Error(err))
				free = 0
			}
			for _, job := range batch {
				inflight++
				jobs <- job
			}
			claimed = len(batch)
		}
		if free > 0 && claimed == free {
			continue // more may be due
		}
		wait := d.cfg.MaxIdle
		if free > 0 {
			if next, ok, err := d.store.NextDue(ctx); err == nil && ok {
				wait = min(wait, max(next.Sub(d.now()), time.Millisecond))
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-d.wake:
		case <-done:
			inflight--
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deliver makes one attempt and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, job Delivery) {
	log := d.log.With(zap.String("delivery", job.ID), zap.Int("attempt", job.Attempts))
	out := Outcome{DeliveryID: job.ID, Attempt: job.Attempts}
	resp, err := d.attempt(ctx, job)
	now := d.now().UTC()
	out.Time = now
	switch {
	case err == nil:
		out.State, out.Response = StateSent, resp
		log.Debug("delivered", zap.String("response", resp))
	case errors.Is(err, errSuppressed):
		out.State, out.Error = StateSuppressed, err.Error()
		log.Debug("not sent: address suppressed")
	case IsUndeliverable(err):
		out.State, out.Error, out.Undeliverable = StateDead, err.Error(), true
		log.Warn("address refused for good; dead letter, address suppressed", zap.Error(err))
	case IsPermanent(err):
		out.State, out.Error = StateDead, err.Error()
		log.Warn("delivery failed for good; dead letter", zap.Error(err))
	case job.Attempts >= d.cfg.MaxAttempts:
		out.State, out.Error = StateDead, fmt.Sprintf("gave up after %d attempts: %v", job.Attempts, err)
		log.Warn("delivery failed too often; dead letter", zap.Error(err))
	default:
		out.State, out.Error = StatePending, err.Error()
		out.NextAttempt = now.Add(d.backoff(job.Attempts))
		log.Info("delivery failed; will retry", zap.Error(err), zap.Time("next_attempt", out.NextAttempt))
	}
	if d.record(ctx, out, log) {
		if d.cfg.OnOutcome != nil {
			d.cfg.OnOutcome(resultName(out.State))
		}
		if out.Undeliverable && d.cfg.OnBounce != nil {
			d.cfg.OnBounce()
		}
	}
}

// resultName is an outcome as the operations metrics name it.
func resultName(s DeliveryState) string {
	if s == StatePending {
		return "retry"
	}
	return string(s)
}

// record stores an attempt's outcome, retrying a failing store (full disk,
// I/O error) with backoff: a claim left without its outcome would not be
// attempted again before the next restart. It gives up only when the send
// context ends at shutdown; the claim is then released at the next start.
// The store closes only after the dispatcher returns.
func (d *Dispatcher) record(ctx context.Context, out Outcome, log *zap.Logger) bool {
	retry := backoff.Retry{Base: 10 * time.Millisecond, Max: time.Second}
	for {
		err := d.store.CompleteDelivery(context.WithoutCancel(ctx), out)
		switch {
		case err == nil:
			return true
		case errors.Is(err, ErrStale):
			log.Warn("outcome of a stale claim ignored")
			return false
		}
		wait := retry.Next()
		log.Error("record delivery outcome; retrying", zap.Error(err), zap.Duration("backoff", wait))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// attempt renders and sends one delivery.
func (d *Dispatcher) attempt(ctx context.Context, job Delivery) (string, error) {
	if job.Attempts > d.cfg.MaxAttempts {
		// Claimed again and again without an outcome: each time the process
		// stopped during the attempt. Do not try once more.
		return "", Permanent(fmt.Errorf("%d attempts without an outcome", job.Attempts-1))
	}
	n, err := d.store.Notification(ctx, job.NotificationID)
	if errors.Is(err, ErrNotFound) {
		return "", Permanent(fmt.Errorf("notification %s is missing", job.NotificationID))
	}
	if err != nil {
		return "", fmt.Errorf("load notification: %w", err)
	}
	if job.Index < 0 || job.Index >= len(n.Recipients) {
		return "", Permanent(fmt.Errorf("recipient %d of notification %s is missing", job.Index, n.ID))
	}
	r := n.Recipients[job.Index]
	if !n.Template.Requested() {
		sup, err := d.store.Suppressions(ctx, []string{strings.ToLower(r.Email)})
		if err != nil {
			return "", fmt.Errorf("load suppression: %w", err)
		}
		if len(sup) > 0 {
			return "", errSuppressed
		}
	}
	data, err := openSecrets(d.sealer, d.render, n)
	if err != nil {
		return "", Permanent(err)
	}
	// Recipients of one data (a notification's, or the one it shares: a
	// company's digest) share its rendering.
	key := n.ID
	if n.DataFrom != "" {
		key = n.DataFrom
	}
	msg, err := d.render.RenderShared(key, n.Template, r.Language, r, data)
	if err != nil {
		return "", Permanent(fmt.Errorf("render: %w", err))
	}
	return d.send.Send(ctx, Email{
		MessageID: job.ID, To: r, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML, Date: n.CreateTime,
	})
}

// backoff is the wait after the attempt-th failure: BackoffBase doubled per
// earlier failure, capped at BackoffMax, with "equal jitter" (half fixed,
// half random) so that a recovering SMTP server is not hit by every queued
// message at once.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	return backoff.Delay(d.cfg.BackoffBase, d.cfg.BackoffMax, attempt)
}
