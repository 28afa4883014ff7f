package schedule_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/schedule"
)

// Monday 10 March 2025 is in ISO week 2025-W11.
var monday = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

func TestJobRunsOncePerPeriodAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "notify.db")
	open := func() *boltstore.Store {
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var runs []string
	fail := false
	job := schedule.Job{
		Name:   "weekly-digest",
		Period: schedule.Weekly{Weekday: time.Monday, Hour: 7},
		Run: func(_ context.Context, period string) error {
			runs = append(runs, period)
			if fail {
				return errors.New("boom")
			}
			return nil
		},
	}
	store := open()
	s := schedule.New(store, zap.NewNop(), time.Minute, job)

	if ran := s.Tick(ctx, monday.Add(6*time.Hour)); len(ran) != 0 {
		t.Fatalf("ran before its hour: %v", ran)
	}
	if ran := s.Tick(ctx, monday.Add(7*time.Hour)); !slices.Equal(ran, []string{"weekly-digest"}) {
		t.Fatalf("did not run at its hour: %v", ran)
	}
	if ran := s.Tick(ctx, monday.Add(9*time.Hour)); len(ran) != 0 {
		t.Fatalf("ran twice in one week: %v", ran)
	}

	// A restart does not run it again in the same week.
	_ = store.Close()
	store = open()
	s = schedule.New(store, zap.NewNop(), time.Minute, job)
	if ran := s.Tick(ctx, monday.Add(4*24*time.Hour)); len(ran) != 0 {
		t.Fatalf("ran again after a restart: %v", ran)
	}

	// Next week: a failing run is retried at the next tick, then done.
	fail = true
	nextWeek := monday.Add(7*24*time.Hour + 8*time.Hour)
	s.Tick(ctx, nextWeek)
	fail = false
	s.Tick(ctx, nextWeek.Add(time.Minute))
	s.Tick(ctx, nextWeek.Add(2*time.Minute))
	_ = store.Close()

	if want := []string{"2025-W11", "2025-W12", "2025-W12"}; !slices.Equal(runs, want) {
		t.Fatalf("runs %v, want %v", runs, want)
	}
}

func TestPeriods(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone data")
	}
	cases := []struct {
		p   schedule.Period
		at  time.Time
		key string
		due bool
	}{
		{schedule.Daily{Hour: 6}, monday.Add(5 * time.Hour), "2025-03-10", false},
		{schedule.Daily{Hour: 6}, monday.Add(6 * time.Hour), "2025-03-10", true},
		{schedule.Daily{Hour: 6, Location: paris}, monday.Add(5 * time.Hour), "2025-03-10", true},  // 06:00 in Paris
		{schedule.Weekly{Weekday: time.Monday, Hour: 7}, monday.Add(-time.Hour), "2025-W10", true}, // Sunday night: last week, due
		{schedule.Weekly{Weekday: time.Wednesday, Hour: 0}, monday.Add(24 * time.Hour), "2025-W11", false},
		{schedule.Weekly{Weekday: time.Wednesday, Hour: 0}, monday.Add(48 * time.Hour), "2025-W11", true},
		{schedule.Weekly{Weekday: time.Sunday, Hour: 20}, monday.Add(6*24*time.Hour + 19*time.Hour), "2025-W11", false},
		{schedule.Weekly{Weekday: time.Monday}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "2026-W01", true},
	}
	for _, c := range cases {
		key, due := c.p.Key(c.at)
		if key != c.key || due != c.due {
			t.Errorf("%#v.Key(%v) = %s, %v; want %s, %v", c.p, c.at, key, due, c.key, c.due)
		}
	}
}

func TestIdempotencyKeyIsStablePerPeriod(t *testing.T) {
	a := schedule.IdempotencyKey("weekly-digest", "2025-W11", "users/1")
	if a != schedule.IdempotencyKey("weekly-digest", "2025-W11", "users/1") || a == schedule.IdempotencyKey("weekly-digest", "2025-W12", "users/1") {
		t.Fatal("idempotency keys are not one per job, period and subject")
	}
}
