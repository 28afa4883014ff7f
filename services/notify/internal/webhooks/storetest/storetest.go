// Package storetest is the conformance suite of the webhooks store: every
// implementation (bbolt today, PostgreSQL later) runs Run from its tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil/vigil/services/notify/internal/webhooks"
)

// Factory returns an empty store and a function that closes it and opens
// it again on the same data (a restart).
type Factory func(t *testing.T) (s webhooks.Store, reopen func() webhooks.Store)

var (
	t0  = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	ctx = context.Background()
)

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	t.Run("Endpoints", func(t *testing.T) { testEndpoints(t, newStore) })
	t.Run("EndpointLimit", func(t *testing.T) { testEndpointLimit(t, newStore) })
	t.Run("AppendEventsOncePerCursor", func(t *testing.T) { testAppendEvent(t, newStore) })
	t.Run("FeedPerCompany", func(t *testing.T) { testFeed(t, newStore) })
	t.Run("ClaimRoomAndOrder", func(t *testing.T) { testClaim(t, newStore) })
	t.Run("CompleteAndHealth", func(t *testing.T) { testComplete(t, newStore) })
	t.Run("ReleaseClaimsAfterRestart", func(t *testing.T) { testRelease(t, newStore) })
	t.Run("Unclaim", func(t *testing.T) { testUnclaim(t, newStore) })
	t.Run("ListAndRedeliver", func(t *testing.T) { testListRedeliver(t, newStore) })
	t.Run("DisableAndNotices", func(t *testing.T) { testDisable(t, newStore) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, newStore) })
	t.Run("ConcurrentClaimsNeverShare", func(t *testing.T) { testConcurrentClaims(t, newStore) })
}

// id makes a valid, ordered id from a number.
func id(i int) string { return fmt.Sprintf("%026d", i) }

func endpoint(i int, company string, types ...string) webhooks.Endpoint {
	return webhooks.Endpoint{ID: id(i), Company: company, URL: fmt.Sprintf("https://h%d.example/hook", i), EventTypes: types,
		Enabled: true, Secret: []byte("sealed"), CreateTime: t0, UpdateTime: t0}
}

func mustCreate(t *testing.T, s webhooks.Store, es ...webhooks.Endpoint) {
	t.Helper()
	for _, e := range es {
		if err := s.CreateEndpoint(ctx, e, webhooks.MaxEndpointsPerCompany); err != nil {
			t.Fatal(err)
		}
	}
}

// everyone fans an event out to every endpoint of its company.
func everyone(at time.Time, next *int) func(webhooks.Event, []webhooks.Endpoint) []webhooks.Delivery {
	return func(ev webhooks.Event, es []webhooks.Endpoint) []webhooks.Delivery {
		var out []webhooks.Delivery
		for _, e := range es {
			*next++
			out = append(out, webhooks.Delivery{ID: id(*next), Endpoint: e.ID, Company: e.Company, EventSeq: ev.Seq,
				EventID: ev.ID, EventType: ev.Type, State: webhooks.StatePending, NextAttempt: at, WindowStart: at, CreateTime: at})
		}
		return out
	}
}

func event(source string, seq uint64, company string, at time.Time) webhooks.Event {
	return webhooks.Event{ID: fmt.Sprintf("%s-%d", source, seq), Source: source, Type: "document.uploaded", Company: company,
		Subject: company + "/documents/d", Time: at, StoreTime: at, Resources: map[string]string{"document": company + "/documents/d"}}
}

func delivery(i int, e webhooks.Endpoint, at time.Time) webhooks.Delivery {
	return webhooks.Delivery{ID: id(i), Endpoint: e.ID, Company: e.Company, EventID: fmt.Sprintf("vault-%d", i),
		EventType: "document.uploaded", State: webhooks.StatePending, NextAttempt: at, WindowStart: at, CreateTime: at}
}

func all(string) int { return 1000 }

func testEndpoints(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	a1, a2, b1 := endpoint(1, "companies/a", "document.uploaded"), endpoint(2, "companies/a"), endpoint(3, "companies/b")
	mustCreate(t, s, a1, a2, b1)
	got, err := s.Endpoint(ctx, a1.ID)
	if err != nil || got.URL != a1.URL || !slices.Equal(got.EventTypes, a1.EventTypes) || string(got.Secret) != "sealed" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Endpoint(ctx, id(99)); !errors.Is(err, webhooks.ErrNotFound) {
		t.Fatalf("missing endpoint: %v", err)
	}
	page, err := s.ListEndpoints(ctx, "companies/a", "", 1)
	if err != nil || len(page) != 1 || page[0].ID != a1.ID {
		t.Fatalf("first page: %+v %v", page, err)
	}
	page, err = s.ListEndpoints(ctx, "companies/a", a1.ID, 10)
	if err != nil || len(page) != 1 || page[0].ID != a2.ID {
		t.Fatalf("second page: %+v %v", page, err)
	}
	up, err := s.UpdateEndpoint(ctx, a1.ID, func(e *webhooks.Endpoint) error {
		e.URL, e.Company = "https://new.example/", "companies/b" // the company never changes
		return nil
	})
	if err != nil || up.URL != "https://new.example/" || up.Company != "companies/a" {
		t.Fatalf("update: %+v %v", up, err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateEndpoint(ctx, a1.ID, func(e *webhooks.Endpoint) error { e.URL = "x"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("a failing change: %v", err)
	}
	if got, _ := s.Endpoint(ctx, a1.ID); got.URL != "https://new.example/" {
		t.Fatalf("a failing change was stored: %+v", got)
	}
	if err := s.DeleteEndpoint(ctx, a1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEndpoint(ctx, a1.ID); !errors.Is(err, webhooks.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	page, _ = s.ListEndpoints(ctx, "companies/a", "", 10)
	if len(page) != 1 || page[0].ID != a2.ID {
		t.Fatalf("after delete: %+v", page)
	}
	page, _ = s.ListEndpoints(ctx, "companies/b", "", 10)
	if len(page) != 1 || page[0].ID != b1.ID {
		t.Fatalf("other company: %+v", page)
	}
}

func testEndpointLimit(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	for i := range 3 {
		if err := s.CreateEndpoint(ctx, endpoint(i+1, "companies/a"), 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateEndpoint(ctx, endpoint(4, "companies/a"), 3); !errors.Is(err, webhooks.ErrLimit) {
		t.Fatalf("fourth endpoint: %v", err)
	}
	if err := s.CreateEndpoint(ctx, endpoint(5, "companies/b"), 3); err != nil {
		t.Fatalf("the limit is per company: %v", err)
	}
}

func testAppendEvent(t *testing.T, newStore Factory) {
	s, reopen := newStore(t)
	a := endpoint(1, "companies/a")
	mustCreate(t, s, a, endpoint(2, "companies/b"))
	next := 100
	var seen []string
	fan := func(ev webhooks.Event, es []webhooks.Endpoint) []webhooks.Delivery {
		for _, e := range es {
			seen = append(seen, e.Company)
		}
		return everyone(t0, &next)(ev, es)
	}
	n, err := appendOne(s, "vault", 7, event("vault", 7, "companies/a", t0), fan)
	if err != nil || n != 1 {
		t.Fatalf("append: %d %v", n, err)
	}
	if !slices.Equal(seen, []string{"companies/a"}) {
		t.Fatalf("fanout was offered endpoints of %v, want only the event's company", seen)
	}
	if c, _ := s.Cursor(ctx, "vault"); c != 7 {
		t.Fatalf("cursor %d, want 7", c)
	}
	if c, _ := s.Cursor(ctx, "directory"); c != 0 {
		t.Fatalf("cursors are per source: %d", c)
	}
	s = reopen()
	// A replay (same or older sequence) keeps nothing twice.
	for _, seq := range []uint64{7, 3} {
		if n, err := appendOne(s, "vault", seq, event("vault", seq, "companies/a", t0), everyone(t0, &next)); err != nil || n != 0 {
			t.Fatalf("replay of %d: %d %v", seq, n, err)
		}
	}
	evs, _ := s.ListEvents(ctx, "companies/a", 0, 10)
	if len(evs) != 1 || evs[0].ID != "vault-7" || evs[0].Seq == 0 {
		t.Fatalf("events after a replay: %+v", evs)
	}
	ds, _ := s.ListDeliveries(ctx, a.ID, "", "", 10)
	if len(ds) != 1 || ds[0].EventSeq != evs[0].Seq {
		t.Fatalf("deliveries after a replay: %+v", ds)
	}
	// A run: a replay, an event, a cursor move, another event.
	ev10, ev12 := event("vault", 10, "companies/a", t0), event("vault", 12, "companies/a", t0)
	n, err = s.AppendEvents(ctx, "vault", []webhooks.Incoming{{Seq: 6, Event: &ev10}, {Seq: 10, Event: &ev10}, {Seq: 11}, {Seq: 12, Event: &ev12}}, everyone(t0, &next))
	if err != nil || n != 2 {
		t.Fatalf("a run: %d deliveries, %v", n, err)
	}
	if c, _ := s.Cursor(ctx, "vault"); c != 12 {
		t.Fatalf("cursor %d, want 12", c)
	}
	evs, _ = s.ListEvents(ctx, "companies/a", 0, 10)
	if len(evs) != 3 || evs[1].ID != "vault-10" || evs[2].ID != "vault-12" || evs[2].Seq <= evs[1].Seq {
		t.Fatalf("events after a run: %+v", evs)
	}
	// Moving the cursor only, and never backwards.
	if _, err := s.AppendEvents(ctx, "vault", []webhooks.Incoming{{Seq: 13}}, everyone(t0, &next)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(ctx, "vault", []webhooks.Incoming{{Seq: 8}}, everyone(t0, &next)); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Cursor(ctx, "vault"); c != 13 {
		t.Fatalf("cursor %d, want 13 (never backwards)", c)
	}
}

// appendOne applies one event of source's feed.
func appendOne(s webhooks.Store, source string, seq uint64, ev webhooks.Event, fanout func(webhooks.Event, []webhooks.Endpoint) []webhooks.Delivery) (int, error) {
	return s.AppendEvents(ctx, source, []webhooks.Incoming{{Seq: seq, Event: &ev}}, fanout)
}

func testFeed(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	next := 0
	none := everyone(t0, &next)
	for i := uint64(1); i <= 5; i++ {
		company := "companies/a"
		if i%2 == 0 {
			company = "companies/b"
		}
		if _, err := appendOne(s, "directory", i, event("directory", i, company, t0), none); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := s.ListEvents(ctx, "companies/a", 0, 10)
	if len(a) != 3 || a[0].ID != "directory-1" || a[1].ID != "directory-3" || a[2].ID != "directory-5" {
		t.Fatalf("feed of a: %+v", a)
	}
	for _, e := range a {
		if e.Company != "companies/a" {
			t.Fatalf("a's feed lists %s's event", e.Company)
		}
	}
	rest, _ := s.ListEvents(ctx, "companies/a", a[0].Seq, 1)
	if len(rest) != 1 || rest[0].ID != "directory-3" {
		t.Fatalf("resume after the first: %+v", rest)
	}
	got, err := s.Event(ctx, a[1].Seq)
	if err != nil || got.ID != "directory-3" || got.Resources["document"] == "" {
		t.Fatalf("event by position: %+v %v", got, err)
	}
	if _, err := s.Event(ctx, 999); !errors.Is(err, webhooks.ErrNotFound) {
		t.Fatalf("missing event: %v", err)
	}
}

func testClaim(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	e1, e2 := endpoint(1, "companies/a"), endpoint(2, "companies/a")
	mustCreate(t, s, e1, e2)
	// e2's work is older: it goes first.
	for i := range 3 {
		if err := s.CreateDelivery(ctx, delivery(10+i, e2, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDelivery(ctx, delivery(20+i, e1, t0.Add(time.Minute+time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateDelivery(ctx, delivery(30, e1, t0.Add(time.Hour))); err != nil { // not due yet
		t.Fatal(err)
	}
	if next, ok, _ := s.NextDue(ctx); !ok || !next.Equal(t0) {
		t.Fatalf("next due %v %v", next, ok)
	}
	now := t0.Add(2 * time.Minute)
	got, err := s.ClaimDue(ctx, now, 10, func(ep string) int {
		if ep == e2.ID {
			return 2
		}
		return 10
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range got {
		ids = append(ids, d.ID)
		if !d.Claimed || d.Attempts != 1 {
			t.Fatalf("claimed delivery %+v", d)
		}
	}
	want := []string{id(10), id(11), id(20), id(21), id(22)}
	if !slices.Equal(ids, want) {
		t.Fatalf("claimed %v, want %v (oldest endpoint first, at most its room)", ids, want)
	}
	if again, _ := s.ClaimDue(ctx, now, 10, all); len(again) != 1 || again[0].ID != id(12) {
		t.Fatalf("second claim: %+v", again)
	}
	if again, _ := s.ClaimDue(ctx, now, 10, all); len(again) != 0 {
		t.Fatalf("claimed twice: %+v", again)
	}
	if none, _ := s.ClaimDue(ctx, now, 10, func(string) int { return 0 }); len(none) != 0 {
		t.Fatalf("room 0 claimed %+v", none)
	}
	if next, ok, _ := s.NextDue(ctx); !ok || !next.Equal(t0.Add(time.Hour)) {
		t.Fatalf("next due after claims: %v %v", next, ok)
	}
	if one, _ := s.ClaimDue(ctx, t0.Add(2*time.Hour), 1, all); len(one) != 1 || one[0].ID != id(30) {
		t.Fatalf("limit 1: %+v", one)
	}
}

func claimOne(t *testing.T, s webhooks.Store, now time.Time) webhooks.Delivery {
	t.Helper()
	got, err := s.ClaimDue(ctx, now, 1, all)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %+v %v", got, err)
	}
	return got[0]
}

func testComplete(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	e := endpoint(1, "companies/a")
	mustCreate(t, s, e)
	if err := s.CreateDelivery(ctx, delivery(1, e, t0)); err != nil {
		t.Fatal(err)
	}
	d := claimOne(t, s, t0)
	later := t0.Add(time.Minute)
	fs, err := s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: d.ID, Attempt: 1, State: webhooks.StatePending, Time: t0,
		NextAttempt: later, Code: 503, Error: "HTTP 503", Health: webhooks.HealthFailed})
	if err != nil || !fs.Equal(t0) {
		t.Fatalf("failed attempt: failing since %v, %v", fs, err)
	}
	if _, err := s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: d.ID, Attempt: 1, State: webhooks.StateDelivered, Time: t0}); !errors.Is(err, webhooks.ErrStale) {
		t.Fatalf("outcome of a finished claim: %v", err)
	}
	if got, _ := s.ClaimDue(ctx, t0.Add(30*time.Second), 10, all); len(got) != 0 {
		t.Fatalf("claimed before its next attempt: %+v", got)
	}
	d = claimOne(t, s, later)
	if d.Attempts != 2 || d.LastCode != 503 || d.LastError != "HTTP 503" {
		t.Fatalf("second claim: %+v", d)
	}
	_, err = s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: d.ID, Attempt: 1, State: webhooks.StateDelivered, Time: later})
	if !errors.Is(err, webhooks.ErrStale) {
		t.Fatalf("outcome of an older claim: %v", err)
	}
	fs, err = s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: d.ID, Attempt: 2, State: webhooks.StatePending, Time: later,
		NextAttempt: later.Add(time.Minute), Error: "timeout", Health: webhooks.HealthFailed})
	if err != nil || !fs.Equal(t0) {
		t.Fatalf("failing since must stay the first failure: %v %v", fs, err)
	}
	d = claimOne(t, s, later.Add(time.Minute))
	fs, err = s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: d.ID, Attempt: 3, State: webhooks.StateDelivered, Time: later.Add(time.Minute),
		Code: 200, Health: webhooks.HealthOK})
	if err != nil || !fs.IsZero() {
		t.Fatalf("a success clears failing since: %v %v", fs, err)
	}
	got, _ := s.Delivery(ctx, d.ID)
	if got.State != webhooks.StateDelivered || got.Claimed || got.CompleteTime.IsZero() || got.LastCode != 200 {
		t.Fatalf("delivered: %+v", got)
	}
	if ep, _ := s.Endpoint(ctx, e.ID); !ep.FailingSince.IsZero() {
		t.Fatalf("endpoint still failing: %+v", ep)
	}
	if _, ok, _ := s.NextDue(ctx); ok {
		t.Fatal("nothing should be due")
	}
}

func testRelease(t *testing.T, newStore Factory) {
	s, reopen := newStore(t)
	e := endpoint(1, "companies/a")
	mustCreate(t, s, e)
	for i := range 3 {
		if err := s.CreateDelivery(ctx, delivery(i+1, e, t0)); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.ClaimDue(ctx, t0, 2, all); len(got) != 2 {
		t.Fatalf("claimed %d", len(got))
	}
	s = reopen()
	n, err := s.ReleaseClaims(ctx, t0.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("released %d %v", n, err)
	}
	got, _ := s.ClaimDue(ctx, t0.Add(time.Minute), 10, all)
	if len(got) != 3 {
		t.Fatalf("after release: %+v", got)
	}
	for _, d := range got {
		if d.ID != id(3) && d.Attempts != 2 {
			t.Fatalf("a released claim keeps its attempt count: %+v", d)
		}
	}
}

func testUnclaim(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	e := endpoint(1, "companies/a")
	mustCreate(t, s, e)
	for i := range 3 {
		if err := s.CreateDelivery(ctx, delivery(i+1, e, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.ClaimDue(ctx, t0.Add(time.Minute), 10, all)
	if len(got) != 3 {
		t.Fatalf("claimed %d", len(got))
	}
	if _, ok, _ := s.NextDue(ctx); ok {
		t.Fatal("claimed deliveries are not due")
	}
	if err := s.Unclaim(ctx, []string{id(2), id(3), id(99)}); err != nil {
		t.Fatal(err)
	}
	if next, ok, _ := s.NextDue(ctx); !ok || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("next due %v %v, want delivery 2's own time", next, ok)
	}
	again, _ := s.ClaimDue(ctx, t0.Add(time.Minute), 10, all)
	if len(again) != 2 || again[0].ID != id(2) || again[0].Attempts != 1 {
		t.Fatalf("claimed again: %+v (an unclaimed delivery keeps its attempt count)", again)
	}
	// Delivery 1's claim stands: its outcome is recorded.
	if _, err := s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: id(1), Attempt: 1, State: webhooks.StateDelivered, Time: t0}); err != nil {
		t.Fatal(err)
	}
}

func testListRedeliver(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	e, other := endpoint(1, "companies/a"), endpoint(2, "companies/a")
	mustCreate(t, s, e, other)
	for i := range 4 {
		if err := s.CreateDelivery(ctx, delivery(i+1, e, t0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateDelivery(ctx, delivery(9, other, t0)); err != nil {
		t.Fatal(err)
	}
	d := claimOne(t, s, t0) // id(1)
	if _, err := s.Redeliver(ctx, d.ID, t0); !errors.Is(err, webhooks.ErrClaimed) {
		t.Fatalf("redeliver while claimed: %v", err)
	}
	if _, err := s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: d.ID, Attempt: 1, State: webhooks.StateDead, Time: t0, Error: "gave up"}); err != nil {
		t.Fatal(err)
	}
	page, _ := s.ListDeliveries(ctx, e.ID, "", "", 3)
	if len(page) != 3 || page[0].ID != id(4) || page[2].ID != id(2) {
		t.Fatalf("newest first: %+v", page)
	}
	page, _ = s.ListDeliveries(ctx, e.ID, "", page[2].ID, 3)
	if len(page) != 1 || page[0].ID != id(1) {
		t.Fatalf("second page: %+v", page)
	}
	dead, _ := s.ListDeliveries(ctx, e.ID, webhooks.StateDead, "", 10)
	if len(dead) != 1 || dead[0].ID != id(1) || dead[0].LastError != "gave up" {
		t.Fatalf("dead letters: %+v", dead)
	}
	if pending, _ := s.ListDeliveries(ctx, e.ID, webhooks.StatePending, "", 10); len(pending) != 3 {
		t.Fatalf("pending: %+v", pending)
	}
	later := t0.Add(time.Hour)
	r, err := s.Redeliver(ctx, d.ID, later)
	if err != nil || r.State != webhooks.StatePending || r.Attempts != 0 || !r.WindowStart.Equal(later) || !r.CompleteTime.IsZero() {
		t.Fatalf("redeliver: %+v %v", r, err)
	}
	if dead, _ := s.ListDeliveries(ctx, e.ID, webhooks.StateDead, "", 10); len(dead) != 0 {
		t.Fatalf("still dead: %+v", dead)
	}
	// A pending delivery redelivered is due now, once.
	if _, err := s.Redeliver(ctx, id(2), later); err != nil {
		t.Fatal(err)
	}
	got, _ := s.ClaimDue(ctx, later, 10, all)
	if len(got) != 5 {
		t.Fatalf("due after redeliveries: %d, want 5 (4 of e, 1 of other)", len(got))
	}
	if _, err := s.Redeliver(ctx, id(77), later); !errors.Is(err, webhooks.ErrNotFound) {
		t.Fatalf("missing delivery: %v", err)
	}
}

func testDisable(t *testing.T, newStore Factory) {
	s, reopen := newStore(t)
	e := endpoint(1, "companies/a")
	mustCreate(t, s, e)
	got, changed, err := s.DisableEndpoint(ctx, e.ID, "failing", t0)
	if err != nil || !changed || got.Enabled || got.DisabledReason != "failing" || !got.DisableTime.Equal(t0) {
		t.Fatalf("disable: %+v %v %v", got, changed, err)
	}
	if _, changed, _ := s.DisableEndpoint(ctx, e.ID, "again", t0); changed {
		t.Fatal("disabled twice")
	}
	s = reopen()
	notices, _ := s.PendingNotices(ctx)
	if len(notices) != 1 || notices[0].ID != e.ID {
		t.Fatalf("notices: %+v", notices)
	}
	if err := s.ClearNotice(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if notices, _ := s.PendingNotices(ctx); len(notices) != 0 {
		t.Fatalf("notices after clear: %+v", notices)
	}
	if _, _, err := s.DisableEndpoint(ctx, id(9), "x", t0); !errors.Is(err, webhooks.ErrNotFound) {
		t.Fatalf("missing endpoint: %v", err)
	}
}

func testPrune(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	e := endpoint(1, "companies/a")
	mustCreate(t, s, e)
	old, recent := t0, t0.Add(40*24*time.Hour)
	next := 0
	for i, at := range []time.Time{old, old, recent} {
		if _, err := appendOne(s, "vault", uint64(i+1), event("vault", uint64(i+1), "companies/a", at), everyone(at, &next)); err != nil {
			t.Fatal(err)
		}
	}
	// Deliveries 1 and 2 (old): one finished, one still pending; 3 recent.
	d := claimOne(t, s, old)
	if _, err := s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: d.ID, Attempt: 1, State: webhooks.StateDelivered, Time: old}); err != nil {
		t.Fatal(err)
	}
	cut := recent.Add(-30 * 24 * time.Hour)
	if n, err := s.PruneEvents(ctx, cut, 1); err != nil || n != 1 {
		t.Fatalf("pruned %d events with limit 1: %v", n, err)
	}
	if n, _ := s.PruneEvents(ctx, cut, 100); n != 1 {
		t.Fatalf("pruned %d events, want 1 more", n)
	}
	evs, _ := s.ListEvents(ctx, "companies/a", 0, 10)
	if len(evs) != 1 || evs[0].ID != "vault-3" {
		t.Fatalf("events left: %+v", evs)
	}
	if n, err := s.PruneDeliveries(ctx, cut, 100); err != nil || n != 1 {
		t.Fatalf("pruned %d deliveries, want 1 (a pending one stays): %v", n, err)
	}
	left, _ := s.ListDeliveries(ctx, e.ID, "", "", 10)
	if len(left) != 2 || slices.ContainsFunc(left, func(x webhooks.Delivery) bool { return x.ID == d.ID }) {
		t.Fatalf("deliveries left: %+v", left)
	}
	if delivered, _ := s.ListDeliveries(ctx, e.ID, webhooks.StateDelivered, "", 10); len(delivered) != 0 {
		t.Fatalf("state index kept a pruned delivery: %+v", delivered)
	}
}

func testConcurrentClaims(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	es := []webhooks.Endpoint{endpoint(1, "companies/a"), endpoint(2, "companies/a"), endpoint(3, "companies/b")}
	mustCreate(t, s, es...)
	const n = 300
	for i := range n {
		if err := s.CreateDelivery(ctx, delivery(i+1, es[i%3], t0)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimDue(ctx, t0, 7, all)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				for _, d := range got {
					if _, err := s.CompleteDelivery(ctx, webhooks.Outcome{DeliveryID: d.ID, Attempt: d.Attempts, State: webhooks.StateDelivered,
						Time: t0, Health: webhooks.HealthOK}); err != nil {
						t.Error(err)
					}
					mu.Lock()
					seen[d.ID]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct deliveries, want %d", len(seen), n)
	}
	for d, c := range seen {
		if c != 1 {
			t.Fatalf("%s claimed %d times", d, c)
		}
	}
}
