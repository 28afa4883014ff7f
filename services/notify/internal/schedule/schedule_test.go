package schedule_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
)

// Monday 10 March 2025.
var monday = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

// fakeJob records its runs; it has work every day (daily) or on Mondays
// (weekly, with a window like the digest's: from 14 h before the hour to 12
// h after).
type fakeJob struct {
	name   string
	weekly bool
	hour   int

	mu   sync.Mutex
	runs []schedule.Run
	fail bool
}

func (j *fakeJob) Name() string               { return j.name }
func (j *fakeJob) Describe() (string, string) { return "fake", "fake schedule" }
func (j *fakeJob) Supersedes() bool           { return j.weekly }
func (j *fakeJob) RunsOn(d time.Time) bool    { return !j.weekly || d.Weekday() == time.Monday }
func (j *fakeJob) Window(d time.Time) (time.Time, time.Time) {
	at := d.Add(time.Duration(j.hour) * time.Hour)
	if j.weekly {
		return at.Add(-14 * time.Hour), at.Add(12 * time.Hour)
	}
	return at, at
}

func (j *fakeJob) Run(_ context.Context, r schedule.Run) (schedule.Counts, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.runs = append(j.runs, r)
	if j.fail {
		return schedule.Counts{Examined: 1}, errors.New("vault is down")
	}
	return schedule.Counts{Examined: 2, Sent: 3}, nil
}

// days lists the days of the runs, scheduled or manual.
func (j *fakeJob) days() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for _, r := range j.runs {
		out = append(out, schedule.FormatDay(r.Day))
	}
	return out
}

type harness struct {
	t     *testing.T
	path  string
	store *boltstore.Store
	s     *schedule.Scheduler
	jobs  []schedule.Job
	cfg   schedule.Config
}

func newHarness(t *testing.T, cfg schedule.Config, jobs ...schedule.Job) *harness {
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "notify.db"), jobs: jobs, cfg: cfg}
	h.open()
	t.Cleanup(func() { _ = h.store.Close() })
	return h
}

func (h *harness) open() {
	store, err := boltstore.Open(h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = store
	h.s = schedule.New(store, zap.NewNop(), h.cfg, h.jobs...)
}

// restart is notify stopping and starting again on the same data.
func (h *harness) restart() {
	_ = h.store.Close()
	h.open()
}

func (h *harness) state(job string) schedule.State {
	st, err := h.store.JobState(context.Background(), job)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func at(day time.Time, hour int) time.Time { return day.Add(time.Duration(hour) * time.Hour) }

// TestDailyJobCatchesUpEveryMissedDayOnce: after downtime the scheduler runs
// every day it missed, once, oldest first, whatever the restarts (issue 11:
// "today's scheduler does not catch up: fix it").
func TestDailyJobCatchesUpEveryMissedDayOnce(t *testing.T) {
	ctx := context.Background()
	job := &fakeJob{name: "expiry-reminders", hour: 6}
	h := newHarness(t, schedule.Config{}, job)

	// A new installation at 10:00 misses nothing: today's 06:00 is past.
	if ran := h.s.Tick(ctx, at(monday, 10)); len(ran) != 0 {
		t.Fatalf("a new installation ran %v", ran)
	}
	if got := h.state("expiry-reminders").CompletedThrough; got != "2025-03-10" {
		t.Fatalf("completed through %q, want 2025-03-10", got)
	}
	// Before 06:00 the next day is not due; at 06:00 it runs, once.
	tue := monday.AddDate(0, 0, 1)
	if ran := h.s.Tick(ctx, at(tue, 5)); len(ran) != 0 {
		t.Fatalf("ran before its hour: %v", ran)
	}
	if ran := h.s.Tick(ctx, at(tue, 6)); !slices.Equal(ran, []string{"expiry-reminders@2025-03-11"}) {
		t.Fatalf("ran %v at 06:00", ran)
	}
	if ran := h.s.Tick(ctx, at(tue, 9)); len(ran) != 0 {
		t.Fatalf("ran twice in a day: %v", ran)
	}

	// Down from Tuesday evening to Saturday 08:00: Wednesday, Thursday,
	// Friday and Saturday each run once, in order, after the restart.
	h.restart()
	sat := monday.AddDate(0, 0, 5)
	want := []string{"expiry-reminders@2025-03-12", "expiry-reminders@2025-03-13", "expiry-reminders@2025-03-14", "expiry-reminders@2025-03-15"}
	if ran := h.s.Tick(ctx, at(sat, 8)); !slices.Equal(ran, want) {
		t.Fatalf("catch-up ran %v, want %v", ran, want)
	}
	h.restart()
	if ran := h.s.Tick(ctx, at(sat, 9)); len(ran) != 0 {
		t.Fatalf("ran again after a restart: %v", ran)
	}
	if days := job.days(); !slices.Equal(days, []string{"2025-03-11", "2025-03-12", "2025-03-13", "2025-03-14", "2025-03-15"}) {
		t.Fatalf("days run %v", days)
	}
	for _, r := range job.runs {
		if r.Manual || !r.Now.Equal(at(tue, 6)) && !r.Now.Equal(at(sat, 8)) {
			t.Fatalf("run %+v", r)
		}
	}
}

// TestFailedDayIsRetriedAndHoldsLaterDays: a failing run stays pending and
// runs again at the next check; later days wait for it (none is skipped).
func TestFailedDayIsRetriedAndHoldsLaterDays(t *testing.T) {
	ctx := context.Background()
	job := &fakeJob{name: "expiry-reminders", hour: 6}
	h := newHarness(t, schedule.Config{}, job)
	h.s.Tick(ctx, at(monday, 10))
	job.fail = true
	thu := monday.AddDate(0, 0, 3)
	if ran := h.s.Tick(ctx, at(thu, 7)); !slices.Equal(ran, []string{"expiry-reminders@2025-03-11"}) {
		t.Fatalf("ran %v; want Tuesday only (it fails)", ran)
	}
	st := h.state("expiry-reminders")
	if st.CompletedThrough != "2025-03-10" || st.Last == nil || st.Last.Error != "vault is down" {
		t.Fatalf("state after a failure = %+v", st)
	}
	job.fail = false
	want := []string{"expiry-reminders@2025-03-11", "expiry-reminders@2025-03-12", "expiry-reminders@2025-03-13"}
	if ran := h.s.Tick(ctx, at(thu, 7).Add(time.Minute)); !slices.Equal(ran, want) {
		t.Fatalf("after recovery ran %v, want %v", ran, want)
	}
	st = h.state("expiry-reminders")
	if st.CompletedThrough != "2025-03-13" || st.Last.Error != "" || st.Last.Counts.Sent != 3 {
		t.Fatalf("state = %+v, last %+v", st, st.Last)
	}
}

// TestCatchUpIsBounded: days missed longer ago than CatchUpDays are
// skipped (their reminders would all come after the fact).
func TestCatchUpIsBounded(t *testing.T) {
	ctx := context.Background()
	job := &fakeJob{name: "expiry-reminders", hour: 6}
	h := newHarness(t, schedule.Config{CatchUpDays: 3}, job)
	h.s.Tick(ctx, at(monday, 10))
	later := monday.AddDate(0, 0, 10)
	ran := h.s.Tick(ctx, at(later, 7))
	want := []string{"expiry-reminders@2025-03-17", "expiry-reminders@2025-03-18", "expiry-reminders@2025-03-19", "expiry-reminders@2025-03-20"}
	if !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want the last days only %v", ran, want)
	}
}

// TestWeeklyJobRunsThroughItsWindowAndSupersedes: the weekly job's day is
// open from its first time zone to its last; every check in between runs
// it (each run sends what became due), and it is complete only after. A
// week missed entirely is skipped when a newer week is open.
func TestWeeklyJobRunsThroughItsWindowAndSupersedes(t *testing.T) {
	ctx := context.Background()
	job := &fakeJob{name: "weekly-digest", weekly: true, hour: 7}
	h := newHarness(t, schedule.Config{}, job)
	// Thursday: last Monday's window is closed; a new installation starts after it.
	thu := monday.AddDate(0, 0, 3)
	if ran := h.s.Tick(ctx, thu); len(ran) != 0 {
		t.Fatalf("ran %v", ran)
	}
	next := monday.AddDate(0, 0, 7)
	// Sunday 16:00 UTC: not yet 07:00 Monday anywhere.
	if ran := h.s.Tick(ctx, at(next, -8)); len(ran) != 0 {
		t.Fatalf("ran before the first time zone: %v", ran)
	}
	for _, hour := range []int{-7, 0, 7, 18} { // from UTC+14 to UTC-11
		if ran := h.s.Tick(ctx, at(next, hour)); !slices.Equal(ran, []string{"weekly-digest@2025-03-17"}) {
			t.Fatalf("at %d:00 ran %v", hour, ran)
		}
		if got := h.state("weekly-digest").CompletedThrough; got != "2025-03-10" {
			t.Fatalf("completed through %s while the day is open", got)
		}
	}
	// Scheduled runs of one day add up in one record.
	if st := h.state("weekly-digest"); st.Last.Counts.Sent != 12 || st.Last.Day != "2025-03-17" {
		t.Fatalf("last run = %+v", st.Last)
	}
	if ran := h.s.Tick(ctx, at(next, 19)); !slices.Equal(ran, []string{"weekly-digest@2025-03-17"}) {
		t.Fatalf("at the window's end ran %v", ran)
	}
	if got := h.state("weekly-digest").CompletedThrough; got != "2025-03-17" {
		t.Fatalf("completed through %s, want 2025-03-17", got)
	}
	// Down for two weeks and a day: only the newest week runs.
	n := len(job.days())
	after := next.AddDate(0, 0, 15)
	if ran := h.s.Tick(ctx, at(after, 12)); !slices.Equal(ran, []string{"weekly-digest@2025-03-31"}) {
		t.Fatalf("after two weeks down ran %v", ran)
	}
	if days := job.days()[n:]; !slices.Equal(days, []string{"2025-03-31"}) {
		t.Fatalf("after two weeks down ran %v; want only the current week's Monday", days)
	}
}

func TestRunJobByHand(t *testing.T) {
	ctx := context.Background()
	job := &fakeJob{name: "expiry-reminders", hour: 6}
	h := newHarness(t, schedule.Config{}, job)
	h.s.SetClock(func() time.Time { return at(monday, 10) })
	h.s.Tick(ctx, at(monday, 10))
	admin := authz.Subject{User: "users/root", PlatformAdmin: true}
	cases := []struct {
		name      string
		who       authz.Subject
		job, date string
		kind      errs.Kind
		field     string
	}{
		{"anonymous", authz.Subject{}, "expiry-reminders", "", errs.KindUnauthenticated, ""},
		{"an operator's administrator", authz.Subject{User: "users/a", Company: "companies/c", Kind: authz.KindOperator, Role: authz.RoleAdministrator}, "expiry-reminders", "", errs.KindPermissionDenied, ""},
		{"a supplier's administrator", authz.Subject{User: "users/b", Company: "companies/d", Kind: authz.KindSupplier, Role: authz.RoleAdministrator}, "expiry-reminders", "", errs.KindPermissionDenied, ""},
		{"unknown job", admin, "nope", "", errs.KindNotFound, ""},
		{"bad date", admin, "expiry-reminders", "2025-13-01", errs.KindInvalidArgument, "date"},
		{"future date", admin, "expiry-reminders", "2025-03-12", errs.KindInvalidArgument, "date"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.s.RunJob(ctx, c.who, c.job, c.date)
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != c.kind || e.Field != c.field {
				t.Fatalf("RunJob = %v, want kind %v field %q", err, c.kind, c.field)
			}
		})
	}
	if len(job.runs) != 0 {
		t.Fatalf("a refused call ran the job: %v", job.days())
	}
	if _, err := h.s.ListJobs(ctx, authz.Subject{User: "users/a", Company: "companies/c", Kind: authz.KindOperator, Role: authz.RoleAdministrator}); !errors.Is(err, errs.ErrPermissionDenied) {
		t.Fatalf("ListJobs by a company administrator: %v", err)
	}

	st, err := h.s.RunJob(ctx, admin, "expiry-reminders", "2025-03-01")
	if err != nil {
		t.Fatal(err)
	}
	if r := job.runs[0]; !r.Manual || schedule.FormatDay(r.Day) != "2025-03-01" {
		t.Fatalf("run %+v; want a manual run for 2025-03-01", r)
	}
	if st.State.Last == nil || !st.State.Last.Manual || st.State.Last.Day != "2025-03-01" || st.State.Last.Counts.Sent != 3 {
		t.Fatalf("job after the run = %+v", st.State.Last)
	}
	if st.State.CompletedThrough != "2025-03-10" {
		t.Fatalf("a manual run moved the schedule: %s", st.State.CompletedThrough)
	}
	// Today (UTC) by default; tomorrow in UTC+14 is still allowed.
	if _, err := h.s.RunJob(ctx, admin, "expiry-reminders", ""); err != nil || schedule.FormatDay(job.runs[1].Day) != "2025-03-10" {
		t.Fatalf("default day: %v, %v", err, job.days())
	}
	if _, err := h.s.RunJob(ctx, admin, "expiry-reminders", "2025-03-11"); err != nil {
		t.Fatalf("the day it is in UTC+14: %v", err)
	}
	job.fail = true
	if _, err := h.s.RunJob(ctx, admin, "expiry-reminders", "2025-03-09"); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("a failed run: %v, want UNAVAILABLE", err)
	}
	list, err := h.s.ListJobs(ctx, admin)
	if err != nil || len(list) != 1 || list[0].State.Last.Error != "vault is down" || !list[0].Next.Equal(at(monday, 24+6)) {
		t.Fatalf("ListJobs = %+v, %v", list, err)
	}
}

// FuzzRunDay: any input is a day no later than UTC+14's today, or an
// INVALID_ARGUMENT naming date; never a panic.
func FuzzRunDay(f *testing.F) {
	for _, s := range []string{"", "2025-03-10", "2025-13-01", "2025-02-30", "99999-01-01", "2025-3-1", "2025-03-10T00:00:00Z", "\x00"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := schedule.RunDay(s, now, 31)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalidArgument || e.Field != "date" {
				t.Fatalf("RunDay(%q) = %v", s, err)
			}
			return
		}
		if d.After(time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC)) || d.Before(time.Date(2025, 2, 7, 0, 0, 0, 0, time.UTC)) || d != schedule.DayOf(d) {
			t.Fatalf("RunDay(%q) = %v", s, d)
		}
		if s != "" && schedule.FormatDay(d) != s {
			t.Fatalf("RunDay(%q) = %v: not the day asked", s, d)
		}
	})
}

// TestManualRunStaysInTheCatchUpWindow: a platform administrator replays
// what the scheduler would catch up, not any past week (review: each run of
// the weekly job mails every user of every company).
func TestManualRunStaysInTheCatchUpWindow(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	if _, err := schedule.RunDay("2025-02-08", now, 31); err != nil {
		t.Fatalf("a day inside the window: %v", err)
	}
	_, err := schedule.RunDay("2024-03-10", now, 31)
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.KindInvalidArgument || e.Field != "date" {
		t.Fatalf("a year back must be refused naming date: %v", err)
	}
}
