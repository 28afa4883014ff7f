// Package schedule runs notify's jobs (the weekly digest of R-NOTIF-1, the
// expiry reminders of R-NOTIF-2) for each day they have work, once, across
// restarts and downtime, and lets a platform administrator see them and run
// one by hand (R-ID-11).
//
// A job works by days: a day's scheduled run opens at a time (Window's
// from: 06:00 UTC for the reminders; for the weekly digest, the first time
// zone to reach Monday 07:00) and is complete at another (to: when the last
// time zone has reached it). The scheduler remembers, per job, the last day
// whose run is complete (CompletedThrough). At every check it runs each
// later day that is open, oldest first: after downtime it catches up every
// day it missed, once (up to CatchUpDays back; a job that Supersedes skips a
// day when a later day is already open, since a newer weekly status makes an
// older one pointless). A day stays pending until a run of it succeeds and
// its window has closed; a run that fails is tried again at the next check.
//
// Jobs never send directly: they enqueue notifications whose idempotency
// keys are fixed by what they are about (a user and an ISO week, a document
// version and a threshold), so running a day twice, by hand or after a
// crash, sends nothing twice.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
)

// Run is one run of a job for one day.
type Run struct {
	// Day is the day the run is for (midnight UTC).
	Day time.Time
	// Now is when the run happens.
	Now time.Time
	// Manual runs (RunJob) cover everything of the day at once; scheduled
	// runs cover what is due at Now (e.g. the companies whose local time
	// has reached Monday 07:00).
	Manual bool
}

// Counts are what a run did.
type Counts struct {
	Examined    int // companies (digest) or documents (reminders)
	Sent        int // e-mails newly queued
	AlreadySent int // e-mails an earlier run had queued
	Suppressed  int // recipients skipped: their address bounced for good
}

// Add returns c + o.
func (c Counts) Add(o Counts) Counts {
	return Counts{c.Examined + o.Examined, c.Sent + o.Sent, c.AlreadySent + o.AlreadySent, c.Suppressed + o.Suppressed}
}

func (c Counts) zero() bool { return c == Counts{} }

// Job is one scheduled job.
type Job interface {
	// Name identifies the job (`weekly-digest`); it must not change.
	Name() string
	// Describe says what the job does and when, for people.
	Describe() (what, when string)
	// RunsOn reports whether the job has work on day (midnight UTC).
	RunsOn(day time.Time) bool
	// Window is when day's scheduled run opens and when it is complete.
	Window(day time.Time) (from, to time.Time)
	// Supersedes reports whether a later open day makes an earlier one
	// that never ran pointless (a newer weekly status).
	Supersedes() bool
	// Run does the day's work (see Run); it must be safe to repeat.
	Run(ctx context.Context, r Run) (Counts, error)
}

// Record is one run as kept in the job's state. Scheduled runs of one day
// (the digest's runs as time zones reach their hour) add up in one record.
type Record struct {
	Day    string    `json:"day"`
	Manual bool      `json:"manual,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Counts Counts    `json:"counts"`
	Error  string    `json:"error,omitempty"`
}

// State is a job's durable state.
type State struct {
	Job string `json:"job"`
	// CompletedThrough is the last day (YYYY-MM-DD) whose scheduled run is
	// complete; empty before the first check.
	CompletedThrough string  `json:"completed_through,omitempty"`
	Last             *Record `json:"last,omitempty"`
}

// Store keeps the jobs' states.
type Store interface {
	// JobState returns job's state; a job never seen has State{Job: job}.
	JobState(ctx context.Context, job string) (State, error)
	// PutJobState stores a job's state.
	PutJobState(ctx context.Context, st State) error
}

// Config tunes the scheduler.
type Config struct {
	// Interval is how often the jobs are checked (default a minute).
	Interval time.Duration
	// CatchUpDays bounds how far back a missed day is still run after
	// downtime (default 31: the earliest reminder is 30 days ahead).
	CatchUpDays int
}

// Scheduler checks its jobs every Interval and runs the days due.
type Scheduler struct {
	store Store
	log   *zap.Logger
	cfg   Config
	jobs  map[string]Job
	names []string
	now   func() time.Time

	mu      map[string]*sync.Mutex // one run of a job at a time
	runMu   sync.Mutex
	running map[string]bool
}

// New returns a scheduler for jobs.
func New(store Store, log *zap.Logger, cfg Config, jobs ...Job) *Scheduler {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.CatchUpDays <= 0 {
		cfg.CatchUpDays = 31
	}
	s := &Scheduler{store: store, log: log, cfg: cfg, jobs: map[string]Job{}, now: time.Now,
		mu: map[string]*sync.Mutex{}, running: map[string]bool{}}
	for _, j := range jobs {
		s.jobs[j.Name()] = j
		s.names = append(s.names, j.Name())
		s.mu[j.Name()] = &sync.Mutex{}
	}
	sort.Strings(s.names)
	return s
}

// SetClock replaces the clock (tests).
func (s *Scheduler) SetClock(now func() time.Time) { s.now = now }

// Run checks the jobs until ctx ends: once at start, then every Interval.
func (s *Scheduler) Run(ctx context.Context) error {
	if len(s.jobs) == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.cfg.Interval)
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

// Tick runs, for every job, each day due at now that is not complete; it
// returns "job@day" for each run made (tests).
func (s *Scheduler) Tick(ctx context.Context, now time.Time) []string {
	var ran []string
	for _, name := range s.names {
		if ctx.Err() != nil {
			break
		}
		ran = append(ran, s.tickJob(ctx, s.jobs[name], now.UTC())...)
	}
	return ran
}

// DayOf is the UTC calendar day of t, as midnight UTC.
func DayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// FormatDay writes a day as YYYY-MM-DD.
func FormatDay(d time.Time) string { return d.Format(time.DateOnly) }

// ParseDay reads YYYY-MM-DD as midnight UTC.
func ParseDay(s string) (time.Time, error) { return time.Parse(time.DateOnly, s) }

// nextRunDay is the first day after day on which job has work.
func nextRunDay(job Job, day time.Time) time.Time {
	d := day.AddDate(0, 0, 1)
	for i := 0; i < 400 && !job.RunsOn(d); i++ {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// initialThrough is where a job never checked before starts: the last day
// whose window closed before now (nothing earlier is "missed" by a new
// installation).
func initialThrough(job Job, now time.Time) time.Time {
	d := DayOf(now).AddDate(0, 0, 2)
	for i := 0; i < 400; i++ {
		if _, to := job.Window(d); job.RunsOn(d) && !to.After(now) {
			return d
		}
		d = d.AddDate(0, 0, -1)
	}
	return d
}

func (s *Scheduler) lock(name string) func() {
	s.mu[name].Lock()
	s.runMu.Lock()
	s.running[name] = true
	s.runMu.Unlock()
	return func() {
		s.runMu.Lock()
		s.running[name] = false
		s.runMu.Unlock()
		s.mu[name].Unlock()
	}
}

func (s *Scheduler) tickJob(ctx context.Context, job Job, now time.Time) []string {
	unlock := s.lock(job.Name())
	defer unlock()
	log := s.log.With(zap.String("job", job.Name()))
	st, err := s.store.JobState(ctx, job.Name())
	if err != nil {
		log.Error("read job state", zap.Error(err))
		return nil
	}
	var through time.Time
	if st.CompletedThrough == "" {
		through = initialThrough(job, now)
	} else if through, err = ParseDay(st.CompletedThrough); err != nil {
		log.Error("job state: bad day; starting from now", zap.String("completed_through", st.CompletedThrough))
		through = initialThrough(job, now)
	}
	save := func() bool {
		st.CompletedThrough = FormatDay(through)
		if err := s.store.PutJobState(ctx, st); err != nil {
			log.Error("record job state; it will run again", zap.Error(err))
			return false
		}
		return true
	}
	if st.CompletedThrough == "" && !save() {
		return nil
	}
	var ran []string
	for ctx.Err() == nil {
		day := nextRunDay(job, through)
		from, to := job.Window(day)
		if from.After(now) {
			break
		}
		dlog := log.With(zap.String("day", FormatDay(day)))
		if DayOf(now).Sub(day) > time.Duration(s.cfg.CatchUpDays)*24*time.Hour {
			dlog.Warn("day missed too long ago; skipped", zap.Int("catch_up_days", s.cfg.CatchUpDays))
			through = day
			if !save() {
				break
			}
			continue
		}
		if job.Supersedes() {
			if nf, _ := job.Window(nextRunDay(job, day)); !nf.After(now) {
				dlog.Info("day missed and superseded by a later one; skipped")
				through = day
				if !save() {
					break
				}
				continue
			}
		}
		start := time.Now()
		counts, err := job.Run(ctx, Run{Day: day, Now: now})
		ran = append(ran, job.Name()+"@"+FormatDay(day))
		changed := record(&st, day, false, start, time.Now(), counts, err)
		if err != nil {
			dlog.Error("scheduled run failed; it will run again", zap.Error(err))
			if changed {
				save()
			}
			break
		}
		if !counts.zero() {
			dlog.Info("scheduled run", zap.Int("examined", counts.Examined), zap.Int("sent", counts.Sent),
				zap.Int("already_sent", counts.AlreadySent), zap.Int("suppressed", counts.Suppressed))
		}
		if to.After(now) {
			// The day is still open (time zones yet to reach the hour).
			if changed {
				save()
			}
			break
		}
		through = day
		if !save() {
			break
		}
	}
	return ran
}

// record puts a run into st.Last: scheduled runs of the same day add up;
// anything else replaces it. It reports whether st changed in a way worth
// storing (an empty scheduled pass of a day already recorded is not).
func record(st *State, day time.Time, manual bool, start, end time.Time, c Counts, err error) bool {
	d := FormatDay(day)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if l := st.Last; l != nil && !manual && !l.Manual && l.Day == d {
		if c.zero() && msg == "" && l.Error == "" {
			return false
		}
		l.Counts, l.End, l.Error = l.Counts.Add(c), end, msg
		return true
	}
	st.Last = &Record{Day: d, Manual: manual, Start: start.UTC(), End: end.UTC(), Counts: c, Error: msg}
	return true
}

// Status is a job as the API shows it.
type Status struct {
	Name, Description, Schedule string
	State                       State
	Next                        time.Time
	Running                     bool
}

// Reasons of the jobs API's errors.
const (
	ReasonJobNotFound = "JOB_NOT_FOUND"
	ReasonRunFailed   = "JOB_RUN_FAILED"
)

// ListJobs lists every job with its state (R-ID-11: platform administrators).
func (s *Scheduler) ListJobs(ctx context.Context, c authz.Subject) ([]Status, error) {
	if err := authz.Authorize(ctx, c, "", authz.RunJobs, "", nil); err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(s.names))
	for _, name := range s.names {
		st, err := s.status(ctx, s.jobs[name])
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// GetJob returns one job with its state.
func (s *Scheduler) GetJob(ctx context.Context, c authz.Subject, name string) (Status, error) {
	if err := authz.Authorize(ctx, c, "", authz.RunJobs, "", nil); err != nil {
		return Status{}, err
	}
	job, ok := s.jobs[name]
	if !ok {
		return Status{}, errs.NotFound(ReasonJobNotFound, "no job %q", name)
	}
	return s.status(ctx, job)
}

// RunJob runs job name for date (YYYY-MM-DD; today in UTC when empty) now,
// by hand, and returns the job with this run as its last. The date may not
// be later than the day it is anywhere on Earth (UTC+14). The run sends
// only what no earlier run sent; it does not move CompletedThrough.
func (s *Scheduler) RunJob(ctx context.Context, c authz.Subject, name, date string) (Status, error) {
	if err := authz.Authorize(ctx, c, "", authz.RunJobs, "", nil); err != nil {
		return Status{}, err
	}
	job, ok := s.jobs[name]
	if !ok {
		return Status{}, errs.NotFound(ReasonJobNotFound, "no job %q", name)
	}
	now := s.now().UTC()
	day, err := RunDay(date, now, s.cfg.CatchUpDays)
	if err != nil {
		return Status{}, err
	}
	unlock := s.lock(name)
	st, err := s.store.JobState(ctx, name)
	if err != nil {
		unlock()
		return Status{}, errs.Internal(fmt.Errorf("read job state: %w", err))
	}
	start := time.Now()
	counts, runErr := job.Run(ctx, Run{Day: day, Now: now, Manual: true})
	record(&st, day, true, start, time.Now(), counts, runErr)
	if err := s.store.PutJobState(context.WithoutCancel(ctx), st); err != nil {
		unlock()
		return Status{}, errs.Internal(fmt.Errorf("record job state: %w", err))
	}
	unlock()
	s.log.Info("job run by hand", zap.String("job", name), zap.String("day", FormatDay(day)), zap.String("by", c.User),
		zap.Int("sent", counts.Sent), zap.Int("already_sent", counts.AlreadySent), zap.Error(runErr))
	if runErr != nil {
		var e *errs.Error
		if errors.As(runErr, &e) && e.Kind != errs.KindInternal {
			return Status{}, runErr
		}
		return Status{}, errs.Unavailable(ReasonRunFailed, "the run failed and can be started again (nothing is sent twice): %s", firstLine(runErr.Error()))
	}
	return s.status(ctx, job)
}

// RunDay reads the day of a manual run: YYYY-MM-DD, or today (UTC) when
// empty; never later than the day it is anywhere on Earth at now (UTC+14),
// and never more than backDays before today: a manual run replays what the
// scheduler would catch up, not any past week (each run of the weekly job
// mails every user of every company). Anything else is INVALID_ARGUMENT
// naming date.
func RunDay(date string, now time.Time, backDays int) (time.Time, error) {
	if date == "" {
		return DayOf(now), nil
	}
	d, err := ParseDay(date)
	if err != nil || len(date) != len(time.DateOnly) {
		return time.Time{}, errs.InvalidArgument("date", "must be a day YYYY-MM-DD")
	}
	if d.After(DayOf(now.Add(14 * time.Hour))) {
		return time.Time{}, errs.InvalidArgument("date", "must not be in the future")
	}
	if DayOf(now).Sub(d) > time.Duration(backDays)*24*time.Hour {
		return time.Time{}, errs.InvalidArgument("date", "must be within the last %d days (the catch-up window)", backDays)
	}
	return d, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (s *Scheduler) status(ctx context.Context, job Job) (Status, error) {
	st, err := s.store.JobState(ctx, job.Name())
	if err != nil {
		return Status{}, errs.Internal(fmt.Errorf("read job state: %w", err))
	}
	what, when := job.Describe()
	now := s.now().UTC()
	through := initialThrough(job, now)
	if d, err := ParseDay(st.CompletedThrough); err == nil {
		through = d
	}
	next, _ := job.Window(nextRunDay(job, through))
	if !next.After(now) {
		next = now.Add(s.cfg.Interval).Truncate(time.Second)
	}
	s.runMu.Lock()
	running := s.running[job.Name()]
	s.runMu.Unlock()
	return Status{Name: job.Name(), Description: what, Schedule: when, State: st, Next: next, Running: running}, nil
}
