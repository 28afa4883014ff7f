package webhooks_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/feed"
)

func deliveriesOf(t *testing.T, h *harness, e webhooks.Endpoint, state webhooks.State) []webhooks.Delivery {
	t.Helper()
	ds, _, err := h.svc.ListDeliveries(ctx, adminA, e.Name(), state, 500, "")
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestDeliverySignedCloudEvent: an event reaches the endpoint as a
// CloudEvents 1.0 JSON POST, signed with the endpoint's secret, with the
// event id as idempotency key (R-NOTIF-6).
func TestDeliverySignedCloudEvent(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	e, secret := h.create(r.url("/hook"), feed.TypeComplianceChanged)
	id := h.emit("vault", feed.TypeComplianceChanged, "companies/a", map[string]string{feed.AttrCompliant: "false"})
	waitFor(t, "the delivery", func() bool { return len(r.deliveries()) == 1 })
	got := r.deliveries()[0]
	if !webhooks.Verify(got.Header.Get(webhooks.HeaderSignature), got.Body, secret, time.Now(), 5*time.Minute) {
		t.Fatalf("signature %q does not verify", got.Header.Get(webhooks.HeaderSignature))
	}
	if got.Header.Get("Idempotency-Key") != id || got.Header.Get("Webhook-Id") != id {
		t.Fatalf("idempotency headers %v, want %s", got.Header, id)
	}
	if !strings.HasPrefix(got.Header.Get("Content-Type"), "application/cloudevents+json") {
		t.Fatalf("content type %q", got.Header.Get("Content-Type"))
	}
	ev := got.Event
	if ev.SpecVersion != "1.0" || ev.ID != id || ev.Type != feed.TypeComplianceChanged || ev.Source != "/vigil/vault" ||
		ev.Subject != "companies/a/suppliers/s/compliance" || ev.DataContentType != "application/json" || ev.Time.IsZero() ||
		ev.Data.Company != "companies/a" || ev.Data.Resources["supplier"] != "companies/s" || ev.Data.Attributes["compliant"] != "false" {
		t.Fatalf("CloudEvent %+v from %s", ev, got.Body)
	}
	waitFor(t, "the outcome", func() bool { return len(deliveriesOf(t, h, e, webhooks.StateDelivered)) == 1 })
	d := deliveriesOf(t, h, e, "")[0]
	if d.Attempts != 1 || d.LastCode != 200 || d.EventID != id || d.CompleteTime.IsZero() {
		t.Fatalf("delivery record %+v", d)
	}
}

// TestRetryWithBackoffThenDeliver: non-2xx answers are retried with backoff
// until the endpoint answers 2xx (R-NOTIF-6, "at least once").
func TestRetryWithBackoffThenDeliver(t *testing.T) {
	r := newReceiver(t)
	var calls atomic.Int32
	r.answer(func(*http.Request) int {
		if calls.Add(1) <= 2 {
			return 503
		}
		return 200
	})
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	e, _ := h.create(r.url("/hook"), feed.TypeDocumentUploaded)
	h.emit("vault", feed.TypeDocumentUploaded, "companies/a", nil)
	waitFor(t, "delivered after retries", func() bool { return len(deliveriesOf(t, h, e, webhooks.StateDelivered)) == 1 })
	d := deliveriesOf(t, h, e, "")[0]
	if d.Attempts != 3 || len(r.deliveries()) != 1 {
		t.Fatalf("attempts %d, received %d", d.Attempts, len(r.deliveries()))
	}
	waitFor(t, "the success counted", func() bool { return h.result(webhooks.ResultSent) == 1 })
	if h.result(webhooks.ResultRetry) != 2 {
		t.Fatalf("results: retry %d sent %d", h.result(webhooks.ResultRetry), h.result(webhooks.ResultSent))
	}
	if ep, _ := h.svc.Get(ctx, adminA, e.Name()); !ep.FailingSince.IsZero() {
		t.Fatalf("a success clears the failures: %+v", ep)
	}
}

// TestDeadAfterRetryPeriodThenRedeliver: a delivery failing for the whole
// retry period is a dead letter, listed per endpoint and redeliverable.
func TestDeadAfterRetryPeriodThenRedeliver(t *testing.T) {
	r := newReceiver(t)
	r.answer(func(*http.Request) int { return 500 })
	h := newHarness(t, webhooks.DispatcherConfig{RetryFor: time.Second, DisableAfter: time.Hour}, r)
	e, _ := h.create(r.url("/hook"), feed.TypeDocumentUploaded)
	id := h.emit("vault", feed.TypeDocumentUploaded, "companies/a", nil)
	waitFor(t, "a dead letter", func() bool { return len(deliveriesOf(t, h, e, webhooks.StateDead)) == 1 })
	dead := deliveriesOf(t, h, e, webhooks.StateDead)[0]
	if dead.Attempts < 2 || dead.LastCode != 500 || !strings.Contains(dead.LastError, "gave up") {
		t.Fatalf("dead letter %+v", dead)
	}
	waitFor(t, "the dead letter counted", func() bool { return h.result(webhooks.ResultDead) == 1 })
	r.answer(func(*http.Request) int { return 204 })
	if _, err := h.svc.Redeliver(ctx, adminA, dead.Name()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the redelivery", func() bool { return len(r.deliveries()) == 1 })
	if got := r.deliveries()[0].Event.ID; got != id {
		t.Fatalf("redelivered %s, want the same event %s", got, id)
	}
	waitFor(t, "recorded", func() bool { return len(deliveriesOf(t, h, e, webhooks.StateDelivered)) == 1 })
	if d := deliveriesOf(t, h, e, "")[0]; d.Attempts != 1 {
		t.Fatalf("a redelivery starts a fresh count: %+v", d)
	}
}

// TestEndpointDisabledAfterFailing: an endpoint failing for DisableAfter is
// disabled, its Administrators are told once, what it still had queued
// becomes dead letters, and it receives nothing more until re-enabled.
func TestEndpointDisabledAfterFailing(t *testing.T) {
	r := newReceiver(t)
	r.answer(func(*http.Request) int { return 502 })
	h := newHarness(t, webhooks.DispatcherConfig{RetryFor: time.Hour, DisableAfter: 200 * time.Millisecond}, r)
	e, _ := h.create(r.url("/hook"), feed.TypeSupplierLinked)
	for range 5 {
		h.emit("directory", feed.TypeSupplierLinked, "companies/a", nil)
	}
	waitFor(t, "the endpoint disabled", func() bool {
		ep, _ := h.svc.Get(ctx, adminA, e.Name())
		return !ep.Enabled
	})
	ep, _ := h.svc.Get(ctx, adminA, e.Name())
	if !strings.Contains(ep.DisabledReason, "failed since") || ep.FailingSince.IsZero() {
		t.Fatalf("disabled endpoint %+v", ep)
	}
	waitFor(t, "the Administrators told", func() bool { return len(h.notices.list()) == 1 })
	waitFor(t, "the queue drained", func() bool { return len(deliveriesOf(t, h, e, webhooks.StateDead)) == 5 })
	h.emit("directory", feed.TypeSupplierLinked, "companies/a", nil)
	if n := len(deliveriesOf(t, h, e, "")); n != 5 {
		t.Fatalf("a disabled endpoint got a new delivery: %d", n)
	}
	if n := len(h.notices.list()); n != 1 {
		t.Fatalf("told %d times", n)
	}
	// Re-enabled by an Administrator: the failures are forgiven.
	r.answer(func(*http.Request) int { return 200 })
	on := true
	ep, err := h.svc.Update(ctx, adminA, e.Name(), webhooks.Input{Enabled: &on}, []string{"enabled"})
	if err != nil || !ep.Enabled || !ep.FailingSince.IsZero() || ep.DisabledReason != "" {
		t.Fatalf("re-enabled: %+v %v", ep, err)
	}
	h.emit("directory", feed.TypeSupplierLinked, "companies/a", nil)
	waitFor(t, "delivered again", func() bool { return len(r.deliveries()) == 1 })
}

// TestRotationSignsWithBothFor24Hours: after a rotation deliveries carry a
// signature by the new secret and one by the previous, for 24 hours.
func TestRotationSignsWithBothFor24Hours(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	e, old := h.create(r.url("/hook"), feed.TypeDocumentRejected)
	rotated, fresh, err := h.svc.RotateSecret(ctx, adminA, e.Name())
	if err != nil || fresh == old || !strings.HasPrefix(fresh, "whsec_") || rotated.PreviousSecretExpireTime.Sub(time.Now()) < 23*time.Hour {
		t.Fatalf("rotate: %+v %q %v", rotated, fresh, err)
	}
	h.emit("vault", feed.TypeDocumentRejected, "companies/a", nil)
	waitFor(t, "a delivery", func() bool { return len(r.deliveries()) == 1 })
	got := r.deliveries()[0]
	sig := got.Header.Get(webhooks.HeaderSignature)
	if strings.Count(sig, "v1=") != 2 {
		t.Fatalf("during the overlap: %q", sig)
	}
	for _, s := range []string{old, fresh} {
		if !webhooks.Verify(sig, got.Body, s, time.Now(), 5*time.Minute) {
			t.Fatalf("does not verify with %s", s[:10])
		}
	}
	h.offset.Store(int64(25 * time.Hour))
	h.emit("vault", feed.TypeDocumentRejected, "companies/a", nil)
	waitFor(t, "a second delivery", func() bool { return len(r.deliveries()) == 2 })
	got = r.deliveries()[1]
	sig = got.Header.Get(webhooks.HeaderSignature)
	at := time.Now().Add(25 * time.Hour)
	if strings.Count(sig, "v1=") != 1 || !webhooks.Verify(sig, got.Body, fresh, at, 5*time.Minute) || webhooks.Verify(sig, got.Body, old, at, 5*time.Minute) {
		t.Fatalf("after the overlap: %q", sig)
	}
}

// TestSlowEndpointDoesNotBlockOthers: an endpoint that never answers holds
// at most its own share of the workers; another endpoint gets everything.
func TestSlowEndpointDoesNotBlockOthers(t *testing.T) {
	slow, fast := newReceiver(t), newReceiver(t)
	release := make(chan struct{})
	slow.answer(func(req *http.Request) int {
		select {
		case <-release:
		case <-req.Context().Done():
		}
		return 200
	})
	h := newHarness(t, webhooks.DispatcherConfig{Workers: 4, PerEndpoint: 2}, slow, fast)
	defer close(release)
	h.create(slow.url("/hook"), feed.TypeDocumentUploaded)
	h.create(fast.url("/hook"), feed.TypeDocumentUploaded)
	for range 30 {
		h.emit("vault", feed.TypeDocumentUploaded, "companies/a", nil)
	}
	waitFor(t, "the fast endpoint served", func() bool { return len(fast.deliveries()) == 30 })
	slow.mu.Lock()
	peak := slow.peak
	slow.mu.Unlock()
	if peak > 2 {
		t.Fatalf("the slow endpoint had %d attempts at once, want at most 2", peak)
	}
}

// TestDownEndpointIsProbedNotHammered: while an endpoint is down its queue
// waits behind one probe at a time; when it is back, everything arrives.
func TestDownEndpointIsProbedNotHammered(t *testing.T) {
	r := newReceiver(t)
	var attempts atomic.Int32
	var down atomic.Bool
	down.Store(true)
	r.answer(func(*http.Request) int {
		attempts.Add(1)
		if down.Load() {
			return 503
		}
		return 200
	})
	h := newHarness(t, webhooks.DispatcherConfig{BackoffBase: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond}, r)
	h.create(r.url("/hook"), feed.TypeDocumentUploaded)
	for range 100 {
		h.emit("vault", feed.TypeDocumentUploaded, "companies/a", nil)
	}
	time.Sleep(400 * time.Millisecond)
	during := attempts.Load()
	t.Logf("%d attempts while down", during)
	down.Store(false)
	waitFor(t, "everything delivered", func() bool { return len(r.deliveries()) == 100 })
	if during > 25 {
		t.Fatalf("%d attempts in 400 ms against a down endpoint with 100 queued: not backing off", during)
	}
	seen := map[string]bool{}
	for _, d := range r.deliveries() {
		if seen[d.Event.ID] {
			t.Fatalf("%s delivered twice", d.Event.ID)
		}
		seen[d.Event.ID] = true
	}
}

// TestTestEventTriedOnce: a test delivery is tried once and says nothing
// of the endpoint's record.
func TestTestEventTriedOnce(t *testing.T) {
	r := newReceiver(t)
	r.answer(func(*http.Request) int { return 500 })
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	e, secret := h.create(r.url("/hook"), feed.TypeDocumentUploaded)
	d, err := h.svc.Test(ctx, adminA, e.Name())
	if err != nil || !strings.HasPrefix(d.EventID, "test-") || d.EventType != webhooks.TypeTest {
		t.Fatalf("test: %+v %v", d, err)
	}
	waitFor(t, "the test given up", func() bool { return len(deliveriesOf(t, h, e, webhooks.StateDead)) == 1 })
	if got := deliveriesOf(t, h, e, "")[0]; got.Attempts != 1 || got.LastCode != 500 {
		t.Fatalf("test delivery %+v", got)
	}
	if ep, _ := h.svc.Get(ctx, adminA, e.Name()); !ep.FailingSince.IsZero() {
		t.Fatalf("a test counted as a failure: %+v", ep)
	}
	r.answer(func(*http.Request) int { return 200 })
	if _, err := h.svc.Test(ctx, adminA, e.Name()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the test received", func() bool { return len(r.deliveries()) == 1 })
	got := r.deliveries()[0]
	if got.Event.Type != webhooks.TypeTest || got.Event.Subject != e.Name() ||
		!webhooks.Verify(got.Header.Get(webhooks.HeaderSignature), got.Body, secret, time.Now(), time.Minute) {
		t.Fatalf("test event %+v", got.Event)
	}
	if evs, _, _ := h.svc.ListEvents(ctx, adminA, "companies/a", "", 10); len(evs) != 0 {
		t.Fatalf("a test event is not in the change feed: %+v", evs)
	}
}

// TestPendingDeliveriesSurviveRestart: what was queued when notify
// stopped is delivered after it starts again (at least once).
func TestPendingDeliveriesSurviveRestart(t *testing.T) {
	r := newReceiver(t)
	var up atomic.Bool
	r.answer(func(*http.Request) int {
		if up.Load() {
			return 200
		}
		return 503
	})
	cfg := webhooks.DispatcherConfig{}
	h := newHarness(t, cfg, r)
	h.create(r.url("/hook"), feed.TypeUserDeactivated)
	for range 10 {
		h.emit("identity", feed.TypeUserDeactivated, "companies/a", nil)
	}
	time.Sleep(50 * time.Millisecond)
	h.restart(cfg)
	up.Store(true)
	waitFor(t, "delivered after the restart", func() bool { return len(r.deliveries()) == 10 })
}

// TestFailingEndpointsHoldNoClaims: an endpoint that fails gives back what
// it had claimed while it waits for its next probe, so that the claims it
// holds (bounded for all endpoints together) do not keep others waiting.
func TestFailingEndpointsHoldNoClaims(t *testing.T) {
	failing, healthy := newReceiver(t), newReceiver(t)
	failing.answer(func(*http.Request) int { return 503 })
	h := newHarness(t, webhooks.DispatcherConfig{Workers: 1, PerEndpoint: 1, BackoffBase: 20 * time.Second, BackoffMax: time.Minute}, failing, healthy)
	f, _ := h.create(failing.url("/down"), feed.TypeDocumentUploaded)
	h.create(healthy.url("/up"), feed.TypeComplianceChanged)
	for range 30 {
		h.emit("vault", feed.TypeDocumentUploaded, "companies/a", nil)
	}
	waitFor(t, "the failing endpoint's first attempt", func() bool { return len(deliveriesOf(t, h, f, webhooks.StatePending)) == 30 && failing.attempts() > 0 })
	held := func() int {
		n := 0
		ds, _ := h.store.ListDeliveries(ctx, f.ID, "", "", 100)
		for _, d := range ds {
			if d.Claimed {
				n++
			}
		}
		return n
	}
	waitFor(t, "the failing endpoint's claims given back", func() bool { return held() == 0 })
	for range 5 {
		h.emit("vault", feed.TypeComplianceChanged, "companies/a", nil)
	}
	waitFor(t, "the healthy endpoint served", func() bool { return len(healthy.deliveries()) == 5 })
	if n := held(); n != 0 {
		t.Fatalf("the paused endpoint holds %d claims", n)
	}
}
