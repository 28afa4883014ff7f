// Package storetest is the conformance suite of notify's store: every
// implementation (bbolt today, PostgreSQL later) runs Run from its tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/runtime/names"
)

// Store is what an implementation must provide: the notify store and the
// scheduler's.
type Store interface {
	notify.Store
	schedule.Store
}

// Factory returns an empty store and a function that closes it and opens
// it again on the same data (a restart).
type Factory func(t *testing.T) (s Store, reopen func() Store)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	t.Run("EnqueueIsIdempotent", func(t *testing.T) { testEnqueueIdempotent(t, newStore) })
	t.Run("ConcurrentEnqueueSameKey", func(t *testing.T) { testConcurrentSameKey(t, newStore) })
	t.Run("ClaimAndComplete", func(t *testing.T) { testClaimComplete(t, newStore) })
	t.Run("ReleaseClaimsAfterRestart", func(t *testing.T) { testReleaseClaims(t, newStore) })
	t.Run("DeadLetters", func(t *testing.T) { testDeadLetters(t, newStore) })
	t.Run("Inbox", func(t *testing.T) { testInbox(t, newStore) })
	t.Run("JobState", func(t *testing.T) { testJobState(t, newStore) })
	t.Run("EnqueueBatchAndMarks", func(t *testing.T) { testEnqueueBatch(t, newStore) })
	t.Run("Stats", func(t *testing.T) { testStats(t, newStore) })
	t.Run("SecretsDroppedWhenFinal", func(t *testing.T) { testSecrets(t, newStore) })
	t.Run("Suppressions", func(t *testing.T) { testSuppressions(t, newStore) })
}

// notification builds a notification of n recipients; recipients with
// an even index are users.
func notification(id, key string, created time.Time, n int) (notify.Notification, []notify.Delivery, []notify.InboxEntry) {
	nt := notify.Notification{ID: id, IdempotencyKey: key, Template: notify.TemplatePasswordReset,
		Data: map[string]any{"link": "https://x.example/r"}, CreateTime: created}
	var ds []notify.Delivery
	var inbox []notify.InboxEntry
	for i := range n {
		r := notify.Recipient{Email: fmt.Sprintf("r%d@example.com", i), Language: "en"}
		if i%2 == 0 {
			r.User = fmt.Sprintf("users/u%d", i)
		}
		nt.Recipients = append(nt.Recipients, r)
		did := notify.DeliveryID(id, i)
		ds = append(ds, notify.Delivery{ID: did, NotificationID: id, Index: i, Email: r.Email, Template: nt.Template,
			IdempotencyKey: key, State: notify.StatePending, NextAttempt: created})
		if r.User != "" {
			inbox = append(inbox, notify.InboxEntry{ID: did, User: r.User, NotificationID: id, Index: i, CreateTime: created})
		}
	}
	return nt, ds, inbox
}

// nid makes a valid, time-ordered notification ID from a number.
func nid(i int) string { return fmt.Sprintf("%026d", i) }

func enqueue(t *testing.T, s notify.Store, id, key string, created time.Time, n int) string {
	t.Helper()
	nt, ds, inbox := notification(id, key, created, n)
	got, dup, err := s.Enqueue(context.Background(), nt, ds, inbox)
	if err != nil {
		t.Fatal(err)
	}
	if dup {
		t.Fatalf("enqueue %s: unexpected duplicate", key)
	}
	return got
}

func testEnqueueIdempotent(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	id := enqueue(t, s, nid(1), "k1", t0, 2)
	nt, ds, inbox := notification(nid(2), "k1", t0, 2)
	got, dup, err := s.Enqueue(ctx, nt, ds, inbox)
	if err != nil || !dup || got != id {
		t.Fatalf("second enqueue = %q, %v, %v; want %q, duplicate", got, dup, err, id)
	}
	if _, err := s.Notification(ctx, nid(2)); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("the duplicate was stored: %v", err)
	}
	s = reopen()
	got, dup, err = s.Enqueue(ctx, nt, ds, inbox)
	if err != nil || !dup || got != id {
		t.Fatalf("enqueue after restart = %q, %v, %v; want %q, duplicate", got, dup, err, id)
	}
	n, err := s.Notification(ctx, id)
	if err != nil || n.IdempotencyKey != "k1" || len(n.Recipients) != 2 || n.Data["link"] != "https://x.example/r" || !n.CreateTime.Equal(t0) {
		t.Fatalf("stored notification = %+v, %v", n, err)
	}
	claimed, err := s.ClaimDue(ctx, t0, 10)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claimed %d deliveries (%v), want 2: the duplicate added none", len(claimed), err)
	}
}

func testConcurrentSameKey(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, _ := newStore(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]int{}
	dups := 0
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nt, ds, inbox := notification(nid(100+i), "same", t0, 1)
			id, dup, err := s.Enqueue(ctx, nt, ds, inbox)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids[id]++
			if dup {
				dups++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ids) != 1 || dups != 31 {
		t.Fatalf("ids %v, duplicates %d; want one id and 31 duplicates", ids, dups)
	}
	claimed, _ := s.ClaimDue(ctx, t0, 100)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d deliveries, want 1", len(claimed))
	}
}

func testClaimComplete(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	enqueue(t, s, nid(1), "a", t0, 1)
	enqueue(t, s, nid(2), "b", t0.Add(time.Minute), 1)

	if next, ok, err := s.NextDue(ctx); err != nil || !ok || !next.Equal(t0) {
		t.Fatalf("NextDue = %v, %v, %v; want %v", next, ok, err, t0)
	}
	claimed, err := s.ClaimDue(ctx, t0, 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != notify.DeliveryID(nid(1), 0) || claimed[0].Attempts != 1 || !claimed[0].Claimed {
		t.Fatalf("ClaimDue(t0) = %+v, %v; want the first delivery, attempt 1", claimed, err)
	}
	if again, _ := s.ClaimDue(ctx, t0, 10); len(again) != 0 {
		t.Fatalf("a claimed delivery was claimed again: %+v", again)
	}
	a := claimed[0]

	// A temporary failure: due again later, not before.
	retryAt := t0.Add(10 * time.Minute)
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: a.ID, Attempt: 1, State: notify.StatePending, Time: t0, NextAttempt: retryAt, Error: "451"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: a.ID, Attempt: 1, State: notify.StatePending, Time: t0, NextAttempt: retryAt, Error: "451"}); err != nil {
		t.Fatalf("the same outcome twice: %v", err)
	}
	got, _ := s.ClaimDue(ctx, t0.Add(5*time.Minute), 10)
	if len(got) != 1 || got[0].ID != notify.DeliveryID(nid(2), 0) {
		t.Fatalf("at +5m claimed %+v; want only the second notification", got)
	}
	got, _ = s.ClaimDue(ctx, retryAt, 10)
	if len(got) != 1 || got[0].ID != a.ID || got[0].Attempts != 2 || got[0].LastError != "451" {
		t.Fatalf("at retry time claimed %+v; want the first again, attempt 2", got)
	}
	// An outcome of an old claim is stale.
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: a.ID, Attempt: 1, State: notify.StateSent, Time: t0}); !errors.Is(err, notify.ErrStale) {
		t.Fatalf("stale outcome: %v, want ErrStale", err)
	}
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: a.ID, Attempt: 2, State: notify.StateSent, Time: retryAt, Response: "250 ok"}); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	d, err := s.Delivery(ctx, a.ID)
	if err != nil || d.State != notify.StateSent || d.Claimed || d.Attempts != 2 || d.Response != "250 ok" || !d.SentTime.Equal(retryAt) {
		t.Fatalf("after restart delivery = %+v, %v", d, err)
	}
	if got, _ := s.ClaimDue(ctx, t0.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("a sent delivery was claimed again: %+v", got)
	}
	if _, err := s.Delivery(ctx, "nope"); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("Delivery(nope) = %v", err)
	}
}

func testReleaseClaims(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	enqueue(t, s, nid(1), "a", t0, 3)
	claimed, _ := s.ClaimDue(ctx, t0, 2)
	if len(claimed) != 2 {
		t.Fatalf("claimed %d", len(claimed))
	}
	// One outcome recorded; then the process "dies" with one claim open.
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: claimed[0].ID, Attempt: 1, State: notify.StateSent, Time: t0}); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	later := t0.Add(time.Second)
	n, err := s.ReleaseClaims(ctx, later)
	if err != nil || n != 1 {
		t.Fatalf("ReleaseClaims = %d, %v; want 1", n, err)
	}
	got, _ := s.ClaimDue(ctx, later, 10)
	ids := map[string]int{}
	for _, d := range got {
		ids[d.ID] = d.Attempts
	}
	if len(got) != 2 || ids[claimed[1].ID] != 2 || ids[notify.DeliveryID(nid(1), 2)] != 1 {
		t.Fatalf("after release claimed %v; want the interrupted one (attempt 2) and the unclaimed one", ids)
	}
	if n, _ := s.ReleaseClaims(ctx, later); n != 2 {
		t.Fatalf("second release = %d, want 2", n)
	}
}

func testDeadLetters(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	enqueue(t, s, nid(1), "a", t0, 5)
	claimed, _ := s.ClaimDue(ctx, t0, 10)
	for i, d := range claimed {
		if i == 4 {
			break // one stays claimed
		}
		err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: d.ID, Attempt: 1, State: notify.StateDead,
			Time: t0.Add(time.Duration(4-i) * time.Second), Error: fmt.Sprintf("550 #%d", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	s = reopen()
	var all []notify.Delivery
	var after notify.Cursor
	for page := 0; ; page++ {
		got, err := s.ListDeadLetters(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
		if len(got) < 3 {
			break
		}
		after = notify.Cursor{Time: got[len(got)-1].DeadTime, ID: got[len(got)-1].ID}
		if page > 3 {
			t.Fatal("paging does not end")
		}
	}
	if len(all) != 4 {
		t.Fatalf("listed %d dead letters, want 4", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].DeadTime.Before(all[i-1].DeadTime) {
			t.Fatalf("dead letters not oldest first: %v then %v", all[i-1].DeadTime, all[i].DeadTime)
		}
	}
	if all[0].LastError != "550 #3" || all[0].State != notify.StateDead || all[0].Email == "" || all[0].IdempotencyKey != "a" {
		t.Fatalf("first dead letter = %+v", all[0])
	}
	retry := t0.Add(time.Hour)
	d, err := s.RetryDeadLetter(ctx, all[0].ID, retry)
	if err != nil || d.State != notify.StatePending || d.Attempts != 0 || !d.NextAttempt.Equal(retry) {
		t.Fatalf("RetryDeadLetter = %+v, %v", d, err)
	}
	if _, err := s.RetryDeadLetter(ctx, all[0].ID, retry); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("retrying a pending delivery: %v, want ErrNotFound", err)
	}
	if _, err := s.RetryDeadLetter(ctx, "nope", retry); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("retrying nothing: %v, want ErrNotFound", err)
	}
	if got, _ := s.ListDeadLetters(ctx, notify.Cursor{}, 10); len(got) != 3 {
		t.Fatalf("%d dead letters after a retry, want 3", len(got))
	}
	got, _ := s.ClaimDue(ctx, retry, 10)
	if len(got) != 1 || got[0].ID != all[0].ID || got[0].Attempts != 1 {
		t.Fatalf("claimed %+v; want the retried dead letter, attempt 1", got)
	}
}

func testInbox(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	// users/u0 gets 7 notifications, one a minute; users/u2 gets them too
	// (recipient 2 of each).
	for i := range 7 {
		enqueue(t, s, nid(10+i), fmt.Sprintf("k%d", i), t0.Add(time.Duration(i)*time.Minute), 3)
	}
	list := func(user string, unread bool, size int) []notify.InboxEntry {
		var all []notify.InboxEntry
		var after notify.Cursor
		for {
			got, err := s.ListInbox(ctx, user, after, size, unread)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, got...)
			if len(got) < size {
				return all
			}
			after = notify.Cursor{ID: got[len(got)-1].ID}
		}
	}
	got := list("users/u0", false, 3)
	if len(got) != 7 {
		t.Fatalf("u0 has %d entries, want 7", len(got))
	}
	for i, e := range got {
		if want := notify.DeliveryID(nid(16-i), 0); e.ID != want {
			t.Fatalf("entry %d = %s, want %s (newest first)", i, e.ID, want)
		}
		if e.Notification.ID != e.NotificationID || e.Notification.Template != notify.TemplatePasswordReset || e.User != "users/u0" {
			t.Fatalf("entry not joined with its notification: %+v", e)
		}
	}
	if len(list("users/u1", false, 3)) != 0 {
		t.Fatal("a bare address got inbox entries")
	}
	if len(list("users/u", false, 3)) != 0 {
		t.Fatal("a user whose name prefixes another's sees its entries")
	}

	// Mark two read; the unread listing drops them, the full one keeps them.
	readAt := t0.Add(time.Hour)
	for _, id := range []string{got[0].ID, got[3].ID} {
		e, err := s.MarkRead(ctx, "users/u0", id, readAt)
		if err != nil || !e.ReadTime.Equal(readAt) || e.Notification.ID == "" {
			t.Fatalf("MarkRead = %+v, %v", e, err)
		}
	}
	if e, err := s.MarkRead(ctx, "users/u0", got[0].ID, readAt.Add(time.Hour)); err != nil || !e.ReadTime.Equal(readAt) {
		t.Fatalf("marking read twice changed the read time: %+v, %v", e, err)
	}
	if _, err := s.MarkRead(ctx, "users/u2", got[1].ID, readAt); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("another user's entry: %v, want ErrNotFound", err)
	}
	s = reopen()
	unread := list("users/u0", true, 2)
	if len(unread) != 5 {
		t.Fatalf("%d unread, want 5", len(unread))
	}
	for _, e := range unread {
		if e.ID == got[0].ID || e.ID == got[3].ID || !e.ReadTime.IsZero() {
			t.Fatalf("read entry %s listed as unread", e.ID)
		}
	}
	if all := list("users/u0", false, 100); len(all) != 7 || all[0].ReadTime.IsZero() {
		t.Fatalf("full listing after marking read: %d entries, first read time %v", len(all), all[0].ReadTime)
	}
	if len(list("users/u2", true, 100)) != 7 {
		t.Fatal("u2's unread entries changed")
	}
}

func testJobState(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	st, err := s.JobState(ctx, "weekly-digest")
	if err != nil || st.Job != "weekly-digest" || st.CompletedThrough != "" || st.Last != nil {
		t.Fatalf("a job never seen = %+v, %v; want its empty state", st, err)
	}
	want := schedule.State{Job: "weekly-digest", CompletedThrough: "2025-03-10", Last: &schedule.Record{
		Day: "2025-03-10", Start: t0, End: t0.Add(time.Minute), Counts: schedule.Counts{Examined: 3, Sent: 5, AlreadySent: 1, Suppressed: 2},
	}}
	if err := s.PutJobState(ctx, want); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	got, err := s.JobState(ctx, "weekly-digest")
	if err != nil || got.CompletedThrough != want.CompletedThrough || got.Last == nil || got.Last.Counts != want.Last.Counts || !got.Last.End.Equal(want.Last.End) {
		t.Fatalf("after restart = %+v, %v; want %+v", got, err, want)
	}
	if other, _ := s.JobState(ctx, "expiry-reminders"); other.CompletedThrough != "" {
		t.Fatal("jobs share their state")
	}
}

// batched builds a notification for EnqueueBatch.
func batched(id, key string, n int) notify.Batched {
	nt, ds, inbox := notification(id, key, t0, n)
	return notify.Batched{Notification: nt, Deliveries: ds, Inbox: inbox}
}

func testEnqueueBatch(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	enqueue(t, s, nid(1), "k1", t0, 1)
	res, err := s.EnqueueBatch(ctx, []notify.Batched{batched(nid(2), "k1", 1), batched(nid(3), "k3", 2), batched(nid(4), "k3", 1)},
		[]string{"weekly-digest/2025-W11/companies/a", "weekly-digest/2025-W11/companies/b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || !res[0].Duplicate || res[0].ID != nid(1) || res[1].Duplicate || res[1].ID != nid(3) || !res[2].Duplicate || res[2].ID != nid(3) {
		t.Fatalf("EnqueueBatch = %+v; want k1 duplicate of the earlier one, k3 stored once", res)
	}
	s = reopen()
	// Items of one data group share their data: every one reads it.
	shared := []notify.Batched{batched(nid(5), "g1", 1), batched(nid(6), "g2", 1), batched(nid(7), "g3", 1)}
	for i := range shared {
		shared[i].Notification.Data = map[string]any{"link": "https://x.example/shared"}
		shared[i].DataGroup = 1
	}
	if _, err := s.EnqueueBatch(ctx, append([]notify.Batched{batched(nid(8), "k1", 1)}, shared...), nil); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	for _, id := range []string{nid(5), nid(6), nid(7)} {
		n, err := s.Notification(ctx, id)
		if err != nil || n.Data["link"] != "https://x.example/shared" {
			t.Fatalf("notification %s of a data group = %+v, %v", id, n, err)
		}
	}
	inbox, err := s.ListInbox(ctx, "users/u0", notify.Cursor{}, 10, false)
	if err != nil || len(inbox) == 0 {
		t.Fatalf("inbox = %v, %v", inbox, err)
	}
	for _, e := range inbox {
		if e.Notification.Data["link"] == nil {
			t.Fatalf("inbox entry %s without its shared data", e.ID)
		}
	}
	marked, err := s.Marked(ctx, []string{"weekly-digest/2025-W11/companies/a", "weekly-digest/2025-W11/companies/c"})
	if err != nil || !marked["weekly-digest/2025-W11/companies/a"] || marked["weekly-digest/2025-W11/companies/c"] {
		t.Fatalf("Marked = %v, %v", marked, err)
	}
	if claimed, _ := s.ClaimDue(ctx, t0, 100); len(claimed) != 6 {
		t.Fatalf("claimed %d deliveries, want 6 (one of k1, two of k3, three of the group)", len(claimed))
	}
	if _, err := s.EnqueueBatch(ctx, nil, []string{"weekly-digest/2025-W12/companies/a", "weekly-digest/2025-W09/companies/a", "other/2025-W01/x"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneMarks(ctx, "weekly-digest/", "2025-W11")
	if err != nil || n != 1 {
		t.Fatalf("PruneMarks = %d, %v; want the one mark of W09", n, err)
	}
	marked, _ = s.Marked(ctx, []string{"weekly-digest/2025-W09/companies/a", "weekly-digest/2025-W11/companies/b", "weekly-digest/2025-W12/companies/a", "other/2025-W01/x"})
	if len(marked) != 3 || marked["weekly-digest/2025-W09/companies/a"] {
		t.Fatalf("after pruning: %v", marked)
	}
}

func testStats(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	if st, err := s.Stats(ctx); err != nil || st.Pending != 0 || st.DeadLetters != 0 || !st.OldestPending.IsZero() {
		t.Fatalf("empty store stats = %+v, %v", st, err)
	}
	enqueue(t, s, names.NewIDAt(t0), "a", t0, 2)
	later := t0.Add(time.Hour)
	enqueue(t, s, names.NewIDAt(later), "b", later, 1)
	st, _ := s.Stats(ctx)
	if st.Pending != 3 || !st.OldestPending.Equal(t0) {
		t.Fatalf("stats = %+v; want 3 pending, the oldest from %v", st, t0)
	}
	claimed, _ := s.ClaimDue(ctx, later, 10)
	if len(claimed) != 3 {
		t.Fatalf("claimed %d", len(claimed))
	}
	outcome := func(d notify.Delivery, state notify.DeliveryState) {
		if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: d.ID, Attempt: 1, State: state, Time: later, NextAttempt: later}); err != nil {
			t.Fatal(err)
		}
	}
	outcome(claimed[0], notify.StateSent)
	outcome(claimed[1], notify.StateDead)
	outcome(claimed[2], notify.StatePending)
	s = reopen()
	st, _ = s.Stats(ctx)
	if st.Pending != 1 || st.DeadLetters != 1 || !st.OldestPending.Equal(later) {
		t.Fatalf("stats = %+v; want 1 pending (from %v), 1 dead", st, later)
	}
	if _, err := s.RetryDeadLetter(ctx, claimed[1].ID, later); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Stats(ctx)
	if st.Pending != 2 || st.DeadLetters != 0 || !st.OldestPending.Equal(t0) {
		t.Fatalf("stats after a retry = %+v; want 2 pending (from %v), 0 dead", st, t0)
	}
}

func testSecrets(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	nt, ds, inbox := notification(nid(1), "a", t0, 2)
	nt.Sealed = []byte("ciphertext")
	if _, _, err := s.Enqueue(ctx, nt, ds, inbox); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Notification(ctx, nid(1)); string(n.Sealed) != "ciphertext" {
		t.Fatalf("sealed secrets = %q", n.Sealed)
	}
	claimed, _ := s.ClaimDue(ctx, t0, 10)
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: claimed[0].ID, Attempt: 1, State: notify.StateSent, Time: t0}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Notification(ctx, nid(1)); string(n.Sealed) != "ciphertext" {
		t.Fatal("secrets dropped while a delivery still needs them")
	}
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: claimed[1].ID, Attempt: 1, State: notify.StateDead, Time: t0}); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	n, err := s.Notification(ctx, nid(1))
	if err != nil || len(n.Sealed) != 0 || n.IdempotencyKey != "a" {
		t.Fatalf("after every delivery is final: %+v, %v; want the notification without its secrets", n, err)
	}
}

func testSuppressions(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s, reopen := newStore(t)
	enqueue(t, s, nid(1), "a", t0, 2)
	claimed, _ := s.ClaimDue(ctx, t0, 10)
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: claimed[0].ID, Attempt: 1, State: notify.StateDead, Time: t0,
		Error: "550 5.1.1 no such user", Undeliverable: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteDelivery(ctx, notify.Outcome{DeliveryID: claimed[1].ID, Attempt: 1, State: notify.StateSuppressed, Time: t0}); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	bounced := claimed[0].Email
	sup, err := s.Suppressions(ctx, []string{bounced, claimed[1].Email})
	if err != nil || len(sup) != 1 || sup[bounced].Reason != "550 5.1.1 no such user" || sup[bounced].Reported {
		t.Fatalf("Suppressions = %+v, %v; want the bounced address, not reported yet", sup, err)
	}
	pending, err := s.PendingReports(ctx, 10)
	if err != nil || len(pending) != 1 || pending[0].Email != bounced {
		t.Fatalf("PendingReports = %+v, %v", pending, err)
	}
	if lifted, _ := s.LiftSuppression(ctx, bounced, t0.Add(time.Hour)); lifted {
		t.Fatal("a suppression identity was never told about was lifted")
	}
	reported := t0.Add(time.Minute)
	if err := s.ReportDone(ctx, bounced, reported); err != nil {
		t.Fatal(err)
	}
	if pending, _ := s.PendingReports(ctx, 10); len(pending) != 0 {
		t.Fatalf("reported twice: %+v", pending)
	}
	if lifted, _ := s.LiftSuppression(ctx, bounced, reported); lifted {
		t.Fatal("lifted on a view of identity older than the report")
	}
	if lifted, err := s.LiftSuppression(ctx, bounced, reported.Add(time.Second)); err != nil || !lifted {
		t.Fatalf("LiftSuppression = %v, %v; want lifted", lifted, err)
	}
	if sup, _ := s.Suppressions(ctx, []string{bounced}); len(sup) != 0 {
		t.Fatalf("still suppressed: %+v", sup)
	}
	if st, _ := s.Stats(ctx); st.Pending != 0 || st.DeadLetters != 1 {
		t.Fatalf("stats = %+v; want nothing pending, one dead letter", st)
	}
}
