// Package schedule runs notify's periodic jobs (the weekly digest of
// R-NOTIF-1, the expiry reminders of R-NOTIF-2) once per period, across
// restarts. Later issues add jobs; this package is only the mechanism.
//
// Each job has a Period that names the period a moment belongs to ("2025-W07",
// "2025-02-14") and says whether the job is due yet in it. Before a job runs
// for a period, the period's key is committed to the store; after it returns
// without error, the period is marked done and never runs again. A process
// that stops while a job runs leaves the period begun but not done, and the
// job runs again at the next start: jobs therefore send nothing directly, they
// enqueue notifications whose idempotency keys derive from the period
// (IdempotencyKey), so the second run enqueues nothing new and nothing is sent
// twice. A period missed entirely (notify down all week) is not caught up:
// only the current period runs.
package schedule

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Store records each job's current period.
type Store interface {
	// BeginPeriod records that job starts period, unless the job already
	// finished that period: then it returns false and records nothing.
	BeginPeriod(ctx context.Context, job, period string, at time.Time) (run bool, err error)
	// FinishPeriod marks job's begun period done.
	FinishPeriod(ctx context.Context, job, period string, at time.Time) error
}

// Period places a moment in a period.
type Period interface {
	// Key names the period that contains t, and whether the job is due in
	// it at t (a weekly job at Monday 07:00 is not due on Monday at 06:00).
	Key(t time.Time) (key string, due bool)
}

// Job is one periodic job.
type Job struct {
	// Name identifies the job in the store; it must not change.
	Name   string
	Period Period
	// Run does the period's work: it enqueues notifications with
	// idempotency keys from IdempotencyKey(Name, period, …), never sends
	// directly, so that running twice for one period is harmless.
	Run func(ctx context.Context, period string) error
}

// IdempotencyKey is the idempotency key of a notification that job enqueues
// for period about subject (e.g. a user): the same on every run of the period.
func IdempotencyKey(job, period, subject string) string {
	return fmt.Sprintf("schedule/%s/%s/%s", job, period, subject)
}

// Scheduler checks its jobs every Interval and runs those due.
type Scheduler struct {
	store    Store
	log      *zap.Logger
	jobs     []Job
	interval time.Duration
	now      func() time.Time
	mu       sync.Mutex // one Tick at a time
}

// New returns a scheduler for jobs, checking every interval (default a minute).
func New(store Store, log *zap.Logger, interval time.Duration, jobs ...Job) *Scheduler {
	if interval <= 0 {
		interval = time.Minute
	}
	return &Scheduler{store: store, log: log, jobs: jobs, interval: interval, now: time.Now}
}

// Run ticks until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	if len(s.jobs) == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.Tick(ctx, s.now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick runs every job due at now whose period is not done; it returns the
// names of the jobs it ran (for tests). A failing job is logged and runs
// again at the next tick.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ran []string
	for _, job := range s.jobs {
		if ctx.Err() != nil {
			return ran
		}
		key, due := job.Period.Key(now)
		if !due {
			continue
		}
		log := s.log.With(zap.String("job", job.Name), zap.String("period", key))
		run, err := s.store.BeginPeriod(ctx, job.Name, key, now)
		if err != nil {
			log.Error("record job period", zap.Error(err))
			continue
		}
		if !run {
			continue
		}
		ran = append(ran, job.Name)
		if err := job.Run(ctx, key); err != nil {
			log.Error("scheduled job failed; it will run again", zap.Error(err))
			continue
		}
		if err := s.store.FinishPeriod(ctx, job.Name, key, s.now()); err != nil {
			log.Error("record job done; it will run again", zap.Error(err))
			continue
		}
		log.Info("scheduled job done")
	}
	return ran
}

// Daily is due every day from Hour:00 in Location.
type Daily struct {
	Hour     int
	Location *time.Location
}

// Key implements Period: "2006-01-02".
func (d Daily) Key(t time.Time) (string, bool) {
	t = t.In(loc(d.Location))
	return t.Format(time.DateOnly), t.Hour() >= d.Hour
}

// Weekly is due every week from Weekday at Hour:00 in Location; weeks are
// ISO 8601 weeks (Monday first).
type Weekly struct {
	Weekday  time.Weekday
	Hour     int
	Location *time.Location
}

// Key implements Period: "2006-W01".
func (w Weekly) Key(t time.Time) (string, bool) {
	t = t.In(loc(w.Location))
	year, week := t.ISOWeek()
	// Days since Monday, Monday = 0 … Sunday = 6.
	day := (int(t.Weekday()) + 6) % 7
	want := (int(w.Weekday) + 6) % 7
	due := day > want || (day == want && t.Hour() >= w.Hour)
	return fmt.Sprintf("%04d-W%02d", year, week), due
}

func loc(l *time.Location) *time.Location {
	if l == nil {
		return time.UTC
	}
	return l
}
