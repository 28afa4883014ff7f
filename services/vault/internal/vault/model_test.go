package vault

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestStatusByDate: R-VAULT-6's statuses on the days around a validity's end.
func TestStatusByDate(t *testing.T) {
	until, _ := ParseDate("2026-03-31")
	e := Entry{Document: "d", ValidUntil: until}
	for _, tc := range []struct {
		day  string
		want Status
	}{
		{"2026-02-28", StatusValid}, {"2026-03-01", StatusExpiringSoon}, {"2026-03-31", StatusExpiringSoon}, {"2026-04-01", StatusExpired},
	} {
		d, _ := ParseDate(tc.day)
		if got := e.Status(d); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.day, got, tc.want)
		}
	}
	if (&Entry{}).Status(until) != StatusMissing || (&Entry{Document: "d", ValidUntil: until + 100, Rejected: true}).Status(until) != StatusRejected {
		t.Error("missing and rejected do not depend on the date")
	}
}

// TestSummaryOnAnyDay: counts and class follow the date without a write,
// and the worst entries kept are the worst on any later day.
func TestSummaryOnAnyDay(t *testing.T) {
	d0, _ := ParseDate("2026-01-01")
	entries := []Entry{
		{Requirement: "r1", Document: "a", ValidUntil: d0 + 10},
		{Requirement: "r2", Document: "b", ValidUntil: d0 + 50},
		{Requirement: "r3", Document: "c", ValidUntil: d0 + 200},
		{Requirement: "r4"},
	}
	s := summarize("c", "s", "S", entries)
	if c := s.Counts(d0); c != (Counts{Missing: 1, ExpiringSoon: 1, Valid: 2}) || s.ClassOn(d0) != ClassNonCompliant {
		t.Fatalf("day 0: %+v", c)
	}
	s2 := summarize("c", "s", "S", entries[:3])
	for _, tc := range []struct {
		day  Date
		want Class
		c    Counts
	}{
		{d0 - 30, ClassCompliant, Counts{Valid: 3}},
		{d0, ClassExpiring, Counts{ExpiringSoon: 1, Valid: 2}},
		{d0 + 11, ClassNonCompliant, Counts{Expired: 1, Valid: 2}},
		{d0 + 21, ClassNonCompliant, Counts{Expired: 1, ExpiringSoon: 1, Valid: 1}},
		{d0 + 201, ClassNonCompliant, Counts{Expired: 3}},
	} {
		if s2.ClassOn(tc.day) != tc.want || s2.Counts(tc.day) != tc.c {
			t.Errorf("%s: class %v counts %+v, want %v %+v", tc.day, s2.ClassOn(tc.day), s2.Counts(tc.day), tc.want, tc.c)
		}
	}
	if open := s.OpenWorst(d0+60, 3); len(open) != 3 || open[0].Requirement != "r4" || open[1].Requirement != "r1" {
		t.Fatalf("worst open entries 60 days on: %+v", open)
	}
}

func TestDates(t *testing.T) {
	d, ok := ParseDate("2026-02-29")
	if ok {
		t.Fatalf("2026-02-29 parsed as %s", d)
	}
	d, _ = ParseDate("2028-02-29")
	if d.String() != "2028-02-29" || DateFromKey(d.Key()) != d || MaxDate.String() != "9999-12-31" {
		t.Fatal("round trips")
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	if DateOf(time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC).In(paris)).String() != "2026-04-01" {
		t.Fatal("a day is the customer's day")
	}
}

// TestWorstNIsTheSortsFirstN: the bounded pick (an operator's list) keeps
// exactly the first n entries of the full stable sort, ties included.
func TestWorstNIsTheSortsFirstN(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	today, _ := ParseDate("2026-06-15")
	for round := range 2000 {
		entries := make([]Entry, rng.IntN(9))
		for i := range entries {
			// Version tells ties apart: compareWorst ignores it.
			e := Entry{Requirement: string(rune('a' + rng.IntN(3))), Employee: string(rune('x' + rng.IntN(2))), Version: int32(i)}
			switch rng.IntN(4) {
			case 0: // missing
			case 1:
				e.Document, e.Rejected = "d", true
			default:
				e.Document, e.ValidUntil = "d", today+Date(rng.IntN(80)-20)
			}
			entries[i] = e
		}
		all := openEntries(entries, today, 0)
		for n := 1; n <= 4; n++ {
			want := all[:min(n, len(all))]
			if got := openEntries(entries, today, n); !slices.Equal(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("round %d, n %d: %v, want %v", round, n, got, want)
			}
		}
	}
}
