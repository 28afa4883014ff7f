package notify_test

// Delivery tests against a real SMTP server (go-smtp, in process): each
// proves that every accepted notification is delivered exactly once, or
// dead-lettered and then delivered once by hand, and that nothing is lost.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/mailer"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
	"github.com/vigil/vigil/services/notify/internal/templates"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/secrets"
)

var admin = notify.Caller{User: "users/admin", PlatformAdmin: true}

// harness is notify without its gRPC surface: a bbolt store, the real
// templates, an SMTP sender, a dispatcher and the service.
type harness struct {
	t        *testing.T
	path     string
	smtpAddr string
	cfg      notify.DispatcherConfig

	store  *boltstore.Store
	svc    *notify.Service
	disp   *notify.Dispatcher
	sender *mailer.SMTP
	stop   context.CancelFunc
	done   chan struct{}
	// wrap, when set, stands between the store and the dispatcher and
	// service (tests that make the store fail).
	wrap func(notify.Store) notify.Store
	// box seals the secrets (the same key across restarts).
	box *secrets.Box
}

// testBox is a secrets box over a fresh random key.
func testBox(tb testing.TB) *secrets.Box {
	tb.Helper()
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	b, err := secrets.New(key)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func newHarness(t *testing.T, smtpAddr string, cfg notify.DispatcherConfig, options ...func(*harness)) *harness {
	t.Helper()
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = 50 * time.Millisecond
	}
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "notify.db"), smtpAddr: smtpAddr, cfg: cfg}
	for _, o := range options {
		o(h)
	}
	h.open()
	t.Cleanup(h.close)
	return h
}

// open opens the store and starts the dispatcher: a (re)start of notify.
func (h *harness) open() {
	h.t.Helper()
	store, err := boltstore.Open(h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := templates.Load()
	if err != nil {
		h.t.Fatal(err)
	}
	sender, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: h.smtpAddr, From: "Vigil <no-reply@vigil.test>", Timeout: 5 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	h.store, h.sender = store, sender
	var st notify.Store = store
	if h.wrap != nil {
		st = h.wrap(store)
	}
	if h.box == nil {
		h.box = testBox(h.t)
	}
	h.disp = notify.NewDispatcher(st, r, h.box, sender, zap.NewNop(), h.cfg)
	h.svc = notify.NewService(st, r, h.box, zap.NewNop(), notify.ServiceOptions{Accepted: h.disp.Wake})
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		if err := h.disp.Run(ctx); err != nil {
			h.t.Error(err)
		}
	}()
}

// close stops the dispatcher gracefully, then closes the store.
func (h *harness) close() {
	if h.store == nil {
		return
	}
	h.stop()
	<-h.done
	_ = h.sender.Close()
	_ = h.store.Close()
	h.store = nil
}

// restart is a graceful stop and a start on the same data.
func (h *harness) restart() {
	h.close()
	h.open()
}

func (h *harness) enqueue(key string, recipients ...notify.Recipient) string {
	h.t.Helper()
	return h.enqueueTemplate(key, notify.TemplatePasswordReset, map[string]any{"link": "https://vigil.test/reset-password?token=" + key}, recipients...)
}

// enqueueUpdateRequest enqueues a message without a secret (a customer's
// request to update documents, R-NOTIF-3).
func (h *harness) enqueueUpdateRequest(key string, recipients ...notify.Recipient) string {
	h.t.Helper()
	return h.enqueueTemplate(key, notify.TemplateDocumentUpdateRequest, map[string]any{"customer_name": "Big Buyer"}, recipients...)
}

func (h *harness) enqueueTemplate(key string, tmpl notify.Template, data map[string]any, recipients ...notify.Recipient) string {
	h.t.Helper()
	if len(recipients) == 0 {
		recipients = []notify.Recipient{{User: "users/u1", Email: "u1@example.com", Name: "User One"}}
	}
	id, dup, err := h.svc.Enqueue(context.Background(), notify.EnqueueRequest{
		IdempotencyKey: key, Template: tmpl, Recipients: recipients, Data: data,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if dup {
		h.t.Fatalf("enqueue %s: duplicate", key)
	}
	return id
}

func (h *harness) delivery(id string) notify.Delivery {
	h.t.Helper()
	d, err := h.store.Delivery(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) deadLetters() []notify.Delivery {
	h.t.Helper()
	dead, _, err := h.svc.ListDeadLetters(context.Background(), admin, 500, "")
	if err != nil {
		h.t.Fatal(err)
	}
	return dead
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exactlyOnce checks that every delivery of ids was received exactly once.
func exactlyOnce(t *testing.T, srv *smtptest.Server, ids []string) {
	t.Helper()
	for _, id := range ids {
		if n := srv.Count(id); n != 1 {
			t.Errorf("delivery %s received %d times, want once", id, n)
		}
	}
	if srv.Len() != len(ids) {
		t.Errorf("server received %d messages, want %d", srv.Len(), len(ids))
	}
}

func TestAcceptingServerGetsEachMessageOnce(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: 4})
	var ids []string
	for i := range 20 {
		rcpts := []notify.Recipient{
			{User: "users/a", Email: "a@example.com", Name: "Anne"},
			{Email: fmt.Sprintf("bare%d@example.com", i), Language: "fr"},
			{Email: "A@EXAMPLE.com"}, // the same address as the first: dropped
		}
		id := h.enqueue(fmt.Sprintf("k%d", i), rcpts...)
		ids = append(ids, notify.DeliveryID(id, 0), notify.DeliveryID(id, 1))
	}
	if !srv.WaitFor(len(ids), 10*time.Second) {
		t.Fatalf("received %d of %d", srv.Len(), len(ids))
	}
	// The same keys again: duplicates, nothing new is sent.
	for i := range 20 {
		_, dup, err := h.svc.Enqueue(context.Background(), notify.EnqueueRequest{
			IdempotencyKey: fmt.Sprintf("k%d", i), Template: notify.TemplatePasswordReset,
			Recipients: []notify.Recipient{{Email: "a@example.com"}}, Data: map[string]any{"link": "https://vigil.test/x"},
		})
		if err != nil || !dup {
			t.Fatalf("re-enqueue: dup=%v err=%v", dup, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	exactlyOnce(t, srv, ids)
	for _, id := range ids {
		if d := h.delivery(id); d.State != notify.StateSent || d.Attempts != 1 || !strings.HasPrefix(d.Response, "250") {
			t.Errorf("delivery %s = %+v", id, d)
		}
	}
	// The French recipient got French.
	for _, m := range srv.Messages() {
		if strings.HasPrefix(m.To[0], "bare") && !strings.Contains(string(m.Data), "Content-Language: fr") {
			t.Errorf("message to %s is not in French", m.To[0])
		}
	}
}

func TestTemporaryFailuresAreRetriedWithBackoff(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{RejectData: func(n int) error {
		if n <= 3 {
			return smtptest.Temporary
		}
		return nil
	}})
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: 2, MaxAttempts: 10})
	start := time.Now()
	id := notify.DeliveryID(h.enqueue("k"), 0)
	if !srv.WaitFor(1, 10*time.Second) {
		t.Fatal("not delivered")
	}
	elapsed := time.Since(start)
	eventually(t, "sent recorded", 5*time.Second, func() bool { return h.delivery(id).State == notify.StateSent })
	d := h.delivery(id)
	if d.Attempts != 4 || !strings.Contains(d.LastError, "451") {
		t.Errorf("delivery = %+v; want 4 attempts, last error 451", d)
	}
	// Backoff waits at least half of 20+40+80 ms.
	if elapsed < 70*time.Millisecond {
		t.Errorf("delivered after %v: no backoff", elapsed)
	}
	exactlyOnce(t, srv, []string{id})
	if got := srv.DataAttempts(); got != 4 {
		t.Errorf("server saw %d attempts, want 4", got)
	}
}

func TestPermanentFailureIsDeadLetteredThenRetriedByHand(t *testing.T) {
	var reject atomic.Bool
	reject.Store(true)
	srv := smtptest.Start(t, smtptest.Options{RejectRcpt: func(_ int, to string) error {
		if reject.Load() && to == "gone@example.com" {
			return smtptest.Permanent
		}
		return nil
	}})
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: 2})
	nid := h.enqueueUpdateRequest("k", notify.Recipient{Email: "gone@example.com"}, notify.Recipient{Email: "fine@example.com"})
	gone, fine := notify.DeliveryID(nid, 0), notify.DeliveryID(nid, 1)
	eventually(t, "dead letter", 5*time.Second, func() bool { return len(h.deadLetters()) == 1 })
	dead := h.deadLetters()[0]
	if dead.ID != gone || dead.Attempts != 1 || !strings.Contains(dead.LastError, "550") || dead.DeadTime.IsZero() {
		t.Fatalf("dead letter = %+v; want %s after one attempt, 550", dead, gone)
	}
	if !srv.WaitFor(1, 5*time.Second) || srv.Count(fine) != 1 || srv.Count(gone) != 0 {
		t.Fatalf("the other recipient was not delivered alone: %v", srv.Counts())
	}
	// Not retried on its own, even across a restart.
	h.restart()
	time.Sleep(200 * time.Millisecond)
	if srv.Count(gone) != 0 || len(h.deadLetters()) != 1 {
		t.Fatal("a dead letter was retried without being asked")
	}

	// Only a platform admin may retry.
	if _, err := h.svc.RetryDeadLetter(context.Background(), notify.Caller{User: "users/x"}, gone); !errors.Is(err, errs.ErrPermissionDenied) {
		t.Fatalf("retry by a user: %v, want PERMISSION_DENIED", err)
	}
	reject.Store(false) // the mailbox was fixed: retrying by hand says so
	d, err := h.svc.RetryDeadLetter(context.Background(), admin, gone)
	if err != nil || d.State != notify.StatePending {
		t.Fatalf("RetryDeadLetter = %+v, %v", d, err)
	}
	eventually(t, "retried delivery", 5*time.Second, func() bool { return srv.Count(gone) == 1 })
	eventually(t, "sent recorded", 5*time.Second, func() bool { return h.delivery(gone).State == notify.StateSent })
	if len(h.deadLetters()) != 0 {
		t.Fatal("the dead letter is still listed")
	}
	if _, err := h.svc.RetryDeadLetter(context.Background(), admin, gone); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("retrying a sent delivery: %v, want NOT_FOUND", err)
	}
	exactlyOnce(t, srv, []string{gone, fine})
}

func TestTooManyTemporaryFailuresDeadLetter(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{RejectData: func(int) error { return smtptest.Temporary }})
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: 1, MaxAttempts: 3})
	id := notify.DeliveryID(h.enqueue("k"), 0)
	eventually(t, "dead letter", 5*time.Second, func() bool { return len(h.deadLetters()) == 1 })
	d := h.delivery(id)
	if d.State != notify.StateDead || d.Attempts != 3 || !strings.Contains(d.LastError, "gave up after 3 attempts") {
		t.Fatalf("delivery = %+v", d)
	}
	if srv.DataAttempts() != 3 || srv.Len() != 0 {
		t.Fatalf("server saw %d attempts, accepted %d", srv.DataAttempts(), srv.Len())
	}
}

func TestServerDownThenBack(t *testing.T) {
	addr := smtptest.FreeAddr(t) // connection refused until the server starts
	h := newHarness(t, addr, notify.DispatcherConfig{Workers: 2, MaxAttempts: 50})
	var ids []string
	for i := range 5 {
		ids = append(ids, notify.DeliveryID(h.enqueue(fmt.Sprintf("k%d", i)), 0))
	}
	eventually(t, "failed attempts", 5*time.Second, func() bool {
		for _, id := range ids {
			if h.delivery(id).Attempts < 2 {
				return false
			}
		}
		return true
	})
	if d := h.delivery(ids[0]); d.State != notify.StatePending || !strings.Contains(d.LastError, "connect") {
		t.Fatalf("while down: %+v", d)
	}
	srv := smtptest.Start(t, smtptest.Options{Addr: addr})
	if !srv.WaitFor(len(ids), 10*time.Second) {
		t.Fatalf("received %d of %d after the server came back", srv.Len(), len(ids))
	}
	eventually(t, "all sent", 5*time.Second, func() bool {
		for _, id := range ids {
			if h.delivery(id).State != notify.StateSent {
				return false
			}
		}
		return true
	})
	time.Sleep(50 * time.Millisecond)
	exactlyOnce(t, srv, ids)

	// Down again mid-stream, then back: still nothing lost, nothing twice.
	_ = srv.Close()
	var more []string
	for i := range 5 {
		more = append(more, notify.DeliveryID(h.enqueue(fmt.Sprintf("m%d", i)), 0))
	}
	time.Sleep(100 * time.Millisecond)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if !srv.WaitFor(len(ids)+len(more), 10*time.Second) {
		t.Fatalf("received %d of %d", srv.Len(), len(ids)+len(more))
	}
	time.Sleep(50 * time.Millisecond)
	exactlyOnce(t, srv, append(ids, more...))
}

// TestCrashMidDelivery stops notify abruptly while messages are in flight:
// the store closes under the dispatcher, and the SMTP server answers 250 only
// after that, so the outcome of those sends cannot be recorded — the window
// where a duplicate is possible. After a restart, every accepted notification
// is delivered, none that was recorded as sent is sent again, and the only
// duplicates are the messages that were in flight.
func TestCrashMidDelivery(t *testing.T) {
	const total, workers, before = 40, 4, 10
	gate := make(chan struct{})
	var blocked atomic.Int32
	var accepted atomic.Int32
	var gateOnce sync.Once
	srv := smtptest.Start(t, smtptest.Options{DataHook: func(smtptest.Message) {
		if accepted.Add(1) > before {
			blocked.Add(1)
			<-gate
		}
	}})
	t.Cleanup(func() { gateOnce.Do(func() { close(gate) }) })
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: workers, StopGrace: 2 * time.Second})
	var ids []string
	for i := range total {
		ids = append(ids, notify.DeliveryID(h.enqueue(fmt.Sprintf("k%d", i)), 0))
	}
	eventually(t, "sends in flight", 5*time.Second, func() bool { return blocked.Load() == workers })
	time.Sleep(20 * time.Millisecond) // let the first outcomes commit

	// The crash: the store goes away under the dispatcher (as with kill -9,
	// only committed transactions survive), then the server says 250.
	h.stop()
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	gateOnce.Do(func() { close(gate) })
	<-h.done
	_ = h.sender.Close()
	h.store = nil
	inFlight := int(blocked.Load())

	// Restart: what the store recorded as sent is final.
	h.open()
	sentBefore := map[string]bool{}
	for _, id := range ids {
		if d := h.delivery(id); d.State == notify.StateSent {
			sentBefore[id] = true
		}
	}
	if len(sentBefore) == 0 || len(sentBefore) == total {
		t.Fatalf("%d of %d recorded sent at the crash; the test did not crash mid-delivery", len(sentBefore), total)
	}
	eventually(t, "all delivered after restart", 10*time.Second, func() bool {
		for _, id := range ids {
			if h.delivery(id).State != notify.StateSent {
				return false
			}
		}
		return true
	})
	dups := 0
	for _, id := range ids {
		n := srv.Count(id)
		switch {
		case n == 0:
			t.Errorf("%s lost", id)
		case sentBefore[id] && n != 1:
			t.Errorf("%s was recorded sent before the crash, then sent again (%d times)", id, n)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > inFlight {
		t.Errorf("%d duplicates; at most the %d messages in flight at the crash may be resent", dups, inFlight)
	}
	t.Logf("recorded sent at crash: %d/%d; in flight: %d; duplicates after restart: %d", len(sentBefore), total, inFlight, dups)
}

func TestIdempotencyKeySurvivesRestart(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: 1})
	id := h.enqueue("once")
	if !srv.WaitFor(1, 5*time.Second) {
		t.Fatal("not delivered")
	}
	h.restart()
	got, dup, err := h.svc.Enqueue(context.Background(), notify.EnqueueRequest{
		IdempotencyKey: "once", Template: notify.TemplatePasswordReset,
		Recipients: []notify.Recipient{{Email: "u1@example.com"}}, Data: map[string]any{"link": "https://vigil.test/x"},
	})
	if err != nil || !dup || got != id {
		t.Fatalf("enqueue after restart = %s, %v, %v; want %s, duplicate", got, dup, err, id)
	}
	time.Sleep(150 * time.Millisecond)
	exactlyOnce(t, srv, []string{notify.DeliveryID(id, 0)})
}

// TestSuppressedAddressIsNotMailedUnlessAsked (R-NOTIF-1, bounces count): a
// 5xx for an address suppresses it; later mail no one asked for is not
// attempted (suppressed, not a dead letter), while a reset the person asks
// for is.
func TestSuppressedAddressIsNotMailedUnlessAsked(t *testing.T) {
	var refused atomic.Int32
	srv := smtptest.Start(t, smtptest.Options{RejectRcpt: func(_ int, to string) error {
		if to == "gone@example.com" && refused.Add(1) == 1 {
			return smtptest.Permanent
		}
		return nil
	}})
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: 1})
	gone := notify.Recipient{Email: "gone@example.com"}
	first := notify.DeliveryID(h.enqueueUpdateRequest("a", gone), 0)
	eventually(t, "bounce", 5*time.Second, func() bool { return h.delivery(first).State == notify.StateDead })
	second := notify.DeliveryID(h.enqueueUpdateRequest("b", gone), 0)
	eventually(t, "suppressed", 5*time.Second, func() bool { return h.delivery(second).State == notify.StateSuppressed })
	if got := refused.Load(); got != 1 {
		t.Fatalf("the suppressed address was tried %d times, want once", got)
	}
	if len(h.deadLetters()) != 1 {
		t.Fatalf("%d dead letters, want only the bounce", len(h.deadLetters()))
	}
	reset := notify.DeliveryID(h.enqueue("c", gone), 0)
	eventually(t, "reset sent", 5*time.Second, func() bool { return h.delivery(reset).State == notify.StateSent })
}

// fakeIdentity fails its first reports, as identity down would.
type fakeIdentity struct {
	mu       sync.Mutex
	failures int
	reports  []string
}

func (f *fakeIdentity) ReportUndeliverable(_ context.Context, email, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		return errors.New("identity unavailable")
	}
	f.reports = append(f.reports, email+": "+reason)
	return nil
}

// TestBouncesReachIdentityOnce: each suppressed address is reported once,
// identity's outages retried.
func TestBouncesReachIdentityOnce(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{RejectRcpt: func(_ int, to string) error {
		if strings.HasPrefix(to, "gone") {
			return smtptest.Permanent
		}
		return nil
	}})
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: 2})
	target := &fakeIdentity{failures: 2}
	rep := notify.NewReporter(h.store, target, zap.NewNop())
	rep.BackoffBase, rep.Idle = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rep.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	h.enqueueUpdateRequest("a", notify.Recipient{Email: "gone1@example.com"}, notify.Recipient{Email: "gone2@example.com"})
	eventually(t, "reported", 5*time.Second, func() bool {
		target.mu.Lock()
		defer target.mu.Unlock()
		return len(target.reports) == 2
	})
	time.Sleep(150 * time.Millisecond)
	target.mu.Lock()
	defer target.mu.Unlock()
	if len(target.reports) != 2 || !strings.Contains(target.reports[0], "550") {
		t.Fatalf("reports %v; want each address once, with the server's answer", target.reports)
	}
}
