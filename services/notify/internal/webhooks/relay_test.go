package webhooks_test

import (
	"testing"
	"time"

	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/feed"
)

// TestRelayFanOutPerCompany: an event reaches only its company's enabled
// endpoints subscribed to its type (R-NOTIF-6, R-VAULT-3); internal events,
// events without a company and replays reach no one; the feed keeps each
// event once, for its company.
func TestRelayFanOutPerCompany(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	a1, _ := h.create(r.url("/a1"), feed.TypeDocumentUploaded)
	a2, _ := h.create(r.url("/a2"), feed.TypeComplianceChanged, feed.TypeDocumentUploaded)
	a3, _ := h.create(r.url("/a3"), feed.TypeDocumentUploaded)
	off := false
	if _, err := h.svc.Update(ctx, adminA, a3.Name(), webhooks.Input{Enabled: &off}, []string{"enabled"}); err != nil {
		t.Fatal(err)
	}
	b1, _, err := h.svc.Create(ctx, adminB, "companies/b", webhooks.Input{URL: r.url("/b1"), EventTypes: []string{feed.TypeDocumentUploaded}})
	if err != nil {
		t.Fatal(err)
	}
	up := h.emit("vault", feed.TypeDocumentUploaded, "companies/a", nil)
	cc := h.emit("vault", feed.TypeComplianceChanged, "companies/a", map[string]string{feed.AttrCompliant: "true"})
	ub := h.emit("vault", feed.TypeDocumentUploaded, "companies/b", nil)
	h.emit("directory", feed.TypeProjectChanged, "companies/a", nil)
	h.emit("directory", feed.TypeSupplierLinked, "", nil)
	// A replay of vault's first event after a crash.
	if err := h.relay.HandleBatch("vault")(ctx, []feed.Event{{Sequence: 1, Type: feed.TypeDocumentUploaded, Time: time.Now(), Company: "companies/a"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four deliveries", func() bool { return len(r.deliveries()) == 4 })
	time.Sleep(50 * time.Millisecond)
	got := map[string][]string{}
	for _, d := range r.deliveries() {
		got[d.Header.Get("Webhook-Id")] = append(got[d.Header.Get("Webhook-Id")], d.Event.Data.Company)
	}
	if len(r.deliveries()) != 4 || len(got[up]) != 2 || len(got[cc]) != 1 || len(got[ub]) != 1 || got[ub][0] != "companies/b" {
		t.Fatalf("deliveries by event: %v", got)
	}
	for ep, want := range map[string]int{a1.Name(): 1, a2.Name(): 2, a3.Name(): 0} {
		if ds, _, _ := h.svc.ListDeliveries(ctx, adminA, ep, "", 10, ""); len(ds) != want {
			t.Errorf("%s: %d deliveries, want %d", ep, len(ds), want)
		}
	}
	if ds, _, _ := h.svc.ListDeliveries(ctx, adminB, b1.Name(), "", 10, ""); len(ds) != 1 || ds[0].EventID != ub {
		t.Errorf("b's deliveries: %+v", ds)
	}
	evs, _, _ := h.svc.ListEvents(ctx, adminA, "companies/a", "", 10)
	if len(evs) != 2 || evs[0].ID != up || evs[1].ID != cc {
		t.Fatalf("a's feed: %+v", evs)
	}
	if evs, _, _ := h.svc.ListEvents(ctx, adminB, "companies/b", "", 10); len(evs) != 1 || evs[0].ID != ub {
		t.Fatalf("b's feed: %+v", evs)
	}
	for src, want := range map[string]uint64{"vault": 3, "directory": 2} {
		if c, _ := h.store.Cursor(ctx, src); c != want {
			t.Errorf("%s cursor %d, want %d", src, c, want)
		}
	}
}

// TestFeedCursorResumes: the change feed pages in order from an opaque
// cursor, returns the same cursor when nothing is new, and resumes after a
// restart.
func TestFeedCursorResumes(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	var ids []string
	for range 5 {
		ids = append(ids, h.emit("directory", feed.TypeSupplierLinked, "companies/a", nil))
		h.emit("directory", feed.TypeSupplierLinked, "companies/b", nil)
	}
	var seen []string
	cursor := ""
	for range 3 {
		evs, next, err := h.svc.ListEvents(ctx, adminA, "companies/a", cursor, 2)
		if err != nil || next == "" {
			t.Fatalf("page: %v %q", err, next)
		}
		for _, e := range evs {
			seen = append(seen, e.ID)
		}
		cursor = next
	}
	if len(seen) != 5 {
		t.Fatalf("read %v, want %v", seen, ids)
	}
	for i := range ids {
		if seen[i] != ids[i] {
			t.Fatalf("order %v, want %v", seen, ids)
		}
	}
	evs, same, err := h.svc.ListEvents(ctx, adminA, "companies/a", cursor, 2)
	if err != nil || len(evs) != 0 || same != cursor {
		t.Fatalf("at the end: %+v %q %v", evs, same, err)
	}
	h.restart(webhooks.DispatcherConfig{})
	more := h.emit("vault", feed.TypeDocumentUploaded, "companies/a", nil)
	evs, _, err = h.svc.ListEvents(ctx, adminA, "companies/a", cursor, 10)
	if err != nil || len(evs) != 1 || evs[0].ID != more {
		t.Fatalf("resumed after a restart: %+v %v", evs, err)
	}
	if _, _, err := h.svc.ListEvents(ctx, adminA, "companies/a", "", 0); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecodeCursor: any string either decodes to a position that encodes
// back to the same cursor, or is refused.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(webhooks.EncodeCursor(42))
	f.Add("")
	f.Add("AQAAAAAAAAAq")
	f.Fuzz(func(t *testing.T, s string) {
		seq, err := webhooks.DecodeCursor(s)
		if err == nil && s != "" && webhooks.EncodeCursor(seq) != s {
			t.Fatalf("%q decodes to %d, which encodes to %q", s, seq, webhooks.EncodeCursor(seq))
		}
	})
}
