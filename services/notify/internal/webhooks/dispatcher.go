package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/backoff"
)

// Results of an attempt, as counted by vigil_notify_deliveries_total{channel="webhook"}.
const (
	ResultSent  = "sent"
	ResultRetry = "retry"
	ResultDead  = "dead"
)

// Notifier tells a company's Administrators that one of its endpoints was
// disabled after failing for DisableAfter. It must be idempotent for one
// disabling (same endpoint and DisableTime): it may be called again after
// a crash.
type Notifier interface {
	WebhookDisabled(ctx context.Context, e Endpoint) error
}

// DispatcherConfig tunes delivery.
type DispatcherConfig struct {
	// Workers is how many attempts run at once, all endpoints together.
	Workers int
	// PerEndpoint is how many attempts run at once for one endpoint; an
	// endpoint that failed gets one at a time until it answers again.
	PerEndpoint int
	// BackoffBase is the wait after a first failure, doubled after each
	// further one up to BackoffMax, with jitter. The same schedule spaces a
	// failing endpoint's probes.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RetryFor is how long a delivery is retried before it is dead.
	RetryFor time.Duration
	// DisableAfter is how long an endpoint fails before it is disabled.
	DisableAfter time.Duration
	// MaxIdle bounds the sleep when nothing is due (a safety net).
	MaxIdle time.Duration
	// StopGrace lets an attempt in progress at shutdown finish and be recorded.
	StopGrace time.Duration
	// NoticeInterval is how often untold disablings are retried; pruning
	// runs every PruneInterval.
	NoticeInterval time.Duration
	PruneInterval  time.Duration
}

func (c *DispatcherConfig) complete() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 4
	}
	def(&c.BackoffBase, 30*time.Second)
	def(&c.BackoffMax, time.Hour)
	c.BackoffMax = max(c.BackoffMax, c.BackoffBase)
	def(&c.RetryFor, 72*time.Hour)
	def(&c.DisableAfter, 72*time.Hour)
	def(&c.MaxIdle, time.Minute)
	def(&c.StopGrace, 5*time.Second)
	def(&c.NoticeInterval, time.Minute)
	def(&c.PruneInterval, time.Hour)
}

// DispatcherOptions are a Dispatcher's collaborators.
type DispatcherOptions struct {
	Store    Store
	Box      Sealer
	Poster   Poster
	Notifier Notifier
	Log      *zap.Logger
	// Observe counts each attempt's result (ResultSent, ResultRetry, ResultDead).
	Observe func(result string)
	Now     func() time.Time
}

// Dispatcher delivers webhooks: it claims due deliveries, endpoints with
// the oldest work first and never more than an endpoint's room, hands them
// to a bounded pool of workers, and records each outcome: delivered (2xx),
// retried later with exponential backoff and jitter, or dead after
// RetryFor. An endpoint that fails is probed one attempt at a time, spaced
// by the same backoff, so that an endpoint that is down costs one attempt
// per backoff rather than one per queued event, and one that hangs holds
// one worker; after DisableAfter of failures it is disabled and its
// Administrators are told.
//
// Delivery is at least once: an attempt is recorded delivered only after
// the endpoint's 2xx, in its own transaction; a process stopped between the
// two sends the event again, with the same id in Webhook-Id and
// Idempotency-Key, so that the receiver can drop the repeat.
type Dispatcher struct {
	DispatcherOptions
	cfg     DispatcherConfig
	wake    chan struct{}
	notices chan struct{}
	sched   *scheduler
}

// NewDispatcher builds a dispatcher; Run starts it.
func NewDispatcher(o DispatcherOptions, cfg DispatcherConfig) *Dispatcher {
	cfg.complete()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observe == nil {
		o.Observe = func(string) {}
	}
	d := &Dispatcher{
		DispatcherOptions: o, cfg: cfg,
		wake: make(chan struct{}, 1), notices: make(chan struct{}, 1),
	}
	d.sched = newScheduler(cfg.PerEndpoint, o.Now, d.backoff)
	return d
}

// Wake tells the dispatcher that something may be due now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Poke lifts an endpoint's pause (an Administrator changed it, tests it or
// asks for a redelivery) and wakes the dispatcher.
func (d *Dispatcher) Poke(endpoint string) {
	d.sched.unpause(endpoint)
	d.Wake()
}

// Run delivers until ctx ends, then waits for the workers (an attempt in
// progress gets StopGrace to finish and be recorded). Claims not started
// stay in the store and are released at the next start.
func (d *Dispatcher) Run(ctx context.Context) error {
	released, err := d.Store.ReleaseClaims(ctx, d.Now().UTC())
	if err != nil {
		return fmt.Errorf("release claims: %w", err)
	}
	if released > 0 {
		d.Log.Info("resuming webhook deliveries interrupted by the last stop", zap.Int("count", released))
	}
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(d.cfg.StopGrace, cancelSend) })
	defer stopGrace()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.housekeeping(ctx) }()
	for range d.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				job, ok := d.sched.next()
				if !ok {
					return
				}
				d.deliver(sendCtx, job)
			}
		}()
	}
	defer func() {
		d.sched.close()
		wg.Wait()
	}()

	// At most capacity deliveries are claimed at once (queued or being
	// attempted): memory stays bounded whatever the backlog.
	capacity := d.cfg.Workers * lookahead
	for ctx.Err() == nil {
		free := capacity - d.sched.claimedCount()
		claimed := 0
		if free > 0 {
			batch, err := d.Store.ClaimDue(ctx, d.Now().UTC(), free, d.sched.room)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d.Log.Error("claim due webhook deliveries", zap.Error(err))
			}
			if rejected := d.sched.add(batch); len(rejected) > 0 {
				d.unclaim(ctx, rejected)
			}
			claimed = len(batch)
		}
		if claimed > 0 && claimed == free {
			continue
		}
		now := d.Now()
		wait := d.cfg.MaxIdle
		if next, ok, err := d.Store.NextDue(ctx); err == nil && ok {
			if w := next.Sub(now); w > 0 {
				wait = min(wait, w)
			} else {
				// Due work held back (endpoints full or paused) is claimed
				// when an attempt ends (freed) or a pause ends (below).
				wait = min(wait, heldBackRecheck)
			}
		}
		if w, ok := d.sched.nextUnpause(now); ok {
			wait = min(wait, w)
		}
		timer := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-d.sched.freed:
		case <-timer.C:
		}
		timer.Stop()
		d.sched.poll() // a pause may have ended: queued work may start
	}
	return nil
}

// heldBackRecheck bounds the sleep while due work is held back by full
// endpoints (a finished attempt wakes the loop anyway).
const heldBackRecheck = time.Second

// permanentError is a failure that retrying cannot mend.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// deliver makes one attempt and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, job Delivery) {
	log := d.Log.With(zap.String("delivery", job.ID), zap.String("webhook", job.Endpoint), zap.Int("attempt", job.Attempts))
	code, health, err := d.attempt(ctx, job)
	now := d.Now().UTC()
	out := Outcome{DeliveryID: job.ID, Attempt: job.Attempts, Time: now, Code: code, Health: health}
	var perm *permanentError
	switch {
	case err == nil:
		out.State = StateDelivered
	case errors.As(err, &perm), job.Test != nil:
		out.State, out.Error = StateDead, truncate(err.Error())
	case now.Sub(job.WindowStart) >= d.cfg.RetryFor:
		out.State, out.Error = StateDead, truncate(fmt.Sprintf("gave up after %d attempts over %s: %v", job.Attempts, d.cfg.RetryFor, err))
	default:
		out.State, out.Error = StatePending, truncate(err.Error())
		out.NextAttempt = now.Add(d.backoff(job.Attempts))
	}
	failingSince := d.record(ctx, out, log)
	if released := d.sched.finished(job.Endpoint, health, now); len(released) > 0 {
		d.unclaim(ctx, released)
	}
	switch out.State {
	case StateDelivered:
		d.Observe(ResultSent)
	case StateDead:
		d.Observe(ResultDead)
		log.Warn("webhook delivery failed for good; dead letter", zap.String("error", out.Error))
	default:
		d.Observe(ResultRetry)
		log.Debug("webhook delivery failed; will retry", zap.String("error", out.Error), zap.Time("next_attempt", out.NextAttempt))
	}
	if health == HealthFailed && !failingSince.IsZero() && now.Sub(failingSince) >= d.cfg.DisableAfter {
		d.disable(ctx, job.Endpoint, failingSince, now)
	}
}

// attempt loads what the delivery needs, signs it and posts it.
func (d *Dispatcher) attempt(ctx context.Context, job Delivery) (int, Health, error) {
	e, err := d.Store.Endpoint(ctx, job.Endpoint)
	if errors.Is(err, ErrNotFound) {
		return 0, HealthUnchanged, &permanentError{"the webhook was deleted"}
	}
	if err != nil {
		return 0, HealthUnchanged, fmt.Errorf("read webhook: %w", err)
	}
	if !e.Enabled && job.Test == nil {
		return 0, HealthUnchanged, &permanentError{"the webhook is disabled"}
	}
	var ev Event
	if job.Test != nil {
		ev = *job.Test
	} else if ev, err = d.Store.Event(ctx, job.EventSeq); errors.Is(err, ErrNotFound) {
		return 0, HealthUnchanged, &permanentError{"the event is no longer kept"}
	} else if err != nil {
		return 0, HealthUnchanged, fmt.Errorf("read event: %w", err)
	}
	payload, err := body(ev)
	if err != nil {
		return 0, HealthUnchanged, &permanentError{"the event cannot be rendered"}
	}
	now := d.Now()
	secrets, err := d.secrets(e, now)
	if err != nil {
		d.Log.Error("webhook signing secret does not open: is VIGIL_SECRET_KEY_FILE the key it was sealed with?",
			zap.String("webhook", e.Name()), zap.Error(err))
		return 0, HealthUnchanged, &permanentError{"the signing secret cannot be read"}
	}
	header := http.Header{}
	header.Set("Content-Type", ContentType)
	header.Set("User-Agent", "Vigil-Webhooks/1")
	header.Set(HeaderWebhookID, ev.ID)
	header.Set(HeaderIdempotencyKey, ev.ID)
	header.Set(HeaderSignature, SignatureHeader(now, payload, secrets...))
	health := HealthFailed
	if job.Test != nil {
		health = HealthUnchanged // a test says nothing of the endpoint's record
	}
	code, err := d.Poster.Post(ctx, e.URL, header, payload)
	if err != nil {
		return 0, health, err
	}
	if code < 200 || code > 299 {
		return code, health, fmt.Errorf("HTTP %d", code)
	}
	if health == HealthFailed {
		health = HealthOK
	}
	return code, health, nil
}

// secrets opens the endpoint's signing secrets: the current one, and the
// previous one while its overlap lasts.
func (d *Dispatcher) secrets(e Endpoint, now time.Time) ([]string, error) {
	cur, err := d.Box.Open(e.Secret, secretAAD(e))
	if err != nil {
		return nil, err
	}
	out := []string{string(cur)}
	if len(e.PreviousSecret) > 0 && now.Before(e.PreviousSecretExpireTime) {
		prev, err := d.Box.Open(e.PreviousSecret, secretAAD(e))
		if err != nil {
			return nil, err
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// record stores an outcome, retrying a failing store until shutdown (a
// claim without its outcome is retried only at the next start).
func (d *Dispatcher) record(ctx context.Context, out Outcome, log *zap.Logger) time.Time {
	retry := backoff.Retry{Base: 10 * time.Millisecond, Max: time.Second}
	for {
		failingSince, err := d.Store.CompleteDelivery(context.WithoutCancel(ctx), out)
		switch {
		case err == nil:
			return failingSince
		case errors.Is(err, ErrStale):
			log.Warn("outcome of a stale webhook claim ignored")
			return time.Time{}
		}
		wait := retry.Next()
		log.Error("record webhook delivery outcome; retrying", zap.Error(err), zap.Duration("backoff", wait))
		select {
		case <-ctx.Done():
			return time.Time{}
		case <-time.After(wait):
		}
	}
}

// unclaim returns deliveries claimed but not attempted to the store, due as
// before; if the store fails they are queued again rather than lost.
func (d *Dispatcher) unclaim(ctx context.Context, ds []Delivery) {
	ids := make([]string, len(ds))
	for i, x := range ds {
		ids[i] = x.ID
	}
	if err := d.Store.Unclaim(context.WithoutCancel(ctx), ids); err != nil {
		d.Log.Error("return claimed webhook deliveries", zap.Int("count", len(ids)), zap.Error(err))
		d.sched.requeue(ds)
	}
}

// disable turns off an endpoint that has failed for DisableAfter.
func (d *Dispatcher) disable(ctx context.Context, endpoint string, since, now time.Time) {
	reason := fmt.Sprintf("every delivery failed since %s", since.UTC().Format(time.RFC3339))
	e, changed, err := d.Store.DisableEndpoint(context.WithoutCancel(ctx), endpoint, reason, now)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			d.Log.Error("disable failing webhook", zap.String("webhook", endpoint), zap.Error(err))
		}
		return
	}
	if !changed {
		return
	}
	d.Log.Warn("webhook disabled after failing too long", zap.String("webhook", e.Name()), zap.String("reason", reason))
	d.sched.forget(endpoint)
	d.Wake()
	select {
	case d.notices <- struct{}{}:
	default:
	}
}

// housekeeping tells Administrators of disabled endpoints and prunes what
// is older than Retention.
func (d *Dispatcher) housekeeping(ctx context.Context) {
	tell := time.NewTicker(d.cfg.NoticeInterval)
	defer tell.Stop()
	prune := time.NewTicker(d.cfg.PruneInterval)
	defer prune.Stop()
	d.tellDisabled(ctx)
	d.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.notices:
			d.tellDisabled(ctx)
		case <-tell.C:
			d.tellDisabled(ctx)
		case <-prune.C:
			d.prune(ctx)
		}
	}
}

func (d *Dispatcher) tellDisabled(ctx context.Context) {
	es, err := d.Store.PendingNotices(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Error("list disabled webhooks to tell", zap.Error(err))
		}
		return
	}
	for _, e := range es {
		if d.Notifier != nil {
			if err := d.Notifier.WebhookDisabled(ctx, e); err != nil {
				d.Log.Warn("cannot tell the Administrators of a disabled webhook yet; will retry", zap.String("webhook", e.Name()), zap.Error(err))
				continue
			}
		}
		if err := d.Store.ClearNotice(ctx, e.ID); err != nil {
			d.Log.Error("record a told webhook disabling", zap.String("webhook", e.Name()), zap.Error(err))
		}
	}
}

// pruneBatch bounds one pruning transaction.
const pruneBatch = 1000

func (d *Dispatcher) prune(ctx context.Context) {
	before := d.Now().UTC().Add(-Retention)
	for _, step := range []struct {
		what string
		f    func(context.Context, time.Time, int) (int, error)
	}{{"events", d.Store.PruneEvents}, {"deliveries", d.Store.PruneDeliveries}} {
		total := 0
		for ctx.Err() == nil {
			n, err := step.f(ctx, before, pruneBatch)
			if err != nil {
				d.Log.Error("prune webhook "+step.what, zap.Error(err))
				break
			}
			total += n
			if n < pruneBatch {
				break
			}
		}
		if total > 0 {
			d.Log.Info("pruned webhook "+step.what+" older than the retention", zap.Int("count", total))
		}
	}
}

// backoff is the wait after the n-th failure: BackoffBase doubled per
// earlier failure, capped at BackoffMax, with equal jitter (half fixed, half
// random) so that a recovering endpoint is not hit by everything at once.
func (d *Dispatcher) backoff(n int) time.Duration {
	return backoff.Delay(d.cfg.BackoffBase, d.cfg.BackoffMax, n)
}

func truncate(s string) string {
	const n = 500
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
