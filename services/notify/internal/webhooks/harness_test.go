package webhooks_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/secrets"
)

var ctx = context.Background()

// Subjects: the Administrator of company a, its other roles, and the
// Administrator of an unrelated company b.
func member(company string, role authz.Role) authz.Subject {
	return authz.Subject{User: "users/" + role.String(), Company: company, Kind: authz.KindOperator, Role: role}
}

var (
	adminA = member("companies/a", authz.RoleAdministrator)
	adminB = member("companies/b", authz.RoleAdministrator)
)

// received is one delivery as the receiver saw it.
type received struct {
	Header http.Header
	Body   []byte
	Event  webhooks.CloudEvent
}

// receiver is an HTTPS endpoint whose answers the test decides.
type receiver struct {
	srv  *httptest.Server
	pool *x509.CertPool
	// status answers each request (default 200); it may block.
	status atomic.Value // func(*http.Request) int

	mu       sync.Mutex
	got      []received
	inflight int
	peak     int
	calls    int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.answer(func(*http.Request) int { return 200 })
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.inflight++
		r.calls++
		r.peak = max(r.peak, r.inflight)
		r.mu.Unlock()
		defer func() { r.mu.Lock(); r.inflight--; r.mu.Unlock() }()
		body, _ := io.ReadAll(req.Body)
		code := r.status.Load().(func(*http.Request) int)(req)
		if code >= 200 && code < 300 {
			var ev webhooks.CloudEvent
			_ = json.Unmarshal(body, &ev)
			r.mu.Lock()
			r.got = append(r.got, received{Header: req.Header.Clone(), Body: body, Event: ev})
			r.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	r.pool = x509.NewCertPool()
	r.pool.AddCert(r.srv.Certificate())
	return r
}

func (r *receiver) answer(f func(*http.Request) int) { r.status.Store(f) }

func (r *receiver) deliveries() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) url(path string) string { return r.srv.URL + path }

// attempts counts every request, answered 2xx or not.
func (r *receiver) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// notices records the disablings told to Administrators.
type notices struct {
	mu  sync.Mutex
	got []webhooks.Endpoint
}

func (n *notices) WebhookDisabled(_ context.Context, e webhooks.Endpoint) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, e)
	return nil
}

func (n *notices) list() []webhooks.Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]webhooks.Endpoint(nil), n.got...)
}

// harness is the webhooks domain on a real bbolt store, a real HTTP client
// (private addresses allowed, the receivers' CAs trusted), the relay and a
// running dispatcher.
type harness struct {
	t       *testing.T
	path    string
	store   *boltstore.WebhookStore
	box     *secrets.Box
	svc     *webhooks.Service
	relay   *webhooks.Relay
	disp    *webhooks.Dispatcher
	notices *notices
	pool    *x509.CertPool
	offset  atomic.Int64 // added to the clock
	results sync.Map     // result → *atomic.Int32
	seq     map[string]uint64
	stop    func()
}

func newHarness(t *testing.T, cfg webhooks.DispatcherConfig, receivers ...*receiver) *harness {
	t.Helper()
	box, err := secrets.New(make([]byte, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "webhooks.db"), box: box, notices: &notices{}, pool: x509.NewCertPool(), seq: map[string]uint64{}}
	for _, r := range receivers {
		h.pool.AddCert(r.srv.Certificate())
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffMax = 10*time.Millisecond, 40*time.Millisecond
	}
	// MaxIdle stays the default (a minute): the tests rely on the
	// dispatcher waking itself, not on the safety net.
	h.start(cfg)
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *harness) now() time.Time { return time.Now().Add(time.Duration(h.offset.Load())) }

func (h *harness) start(cfg webhooks.DispatcherConfig) {
	store, err := boltstore.OpenWebhooks(h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = store
	client := webhooks.NewClient(webhooks.ClientOptions{Guard: webhooks.Guard{AllowPrivate: true}, RootCAs: h.pool, Timeout: time.Second, PerHost: 8})
	h.disp = webhooks.NewDispatcher(webhooks.DispatcherOptions{
		Store: store, Box: h.box, Poster: client, Notifier: h.notices, Log: zap.NewNop(), Now: h.now,
		Observe: func(r string) {
			c, _ := h.results.LoadOrStore(r, new(atomic.Int32))
			c.(*atomic.Int32).Add(1)
		},
	}, cfg)
	h.svc = webhooks.NewService(store, h.box, zap.NewNop(), webhooks.ServiceOptions{AllowPrivate: true, Now: h.now, Poke: h.disp.Poke})
	h.relay = webhooks.NewRelay(store, zap.NewNop(), h.disp.Wake)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.disp.Run(runCtx) }()
	h.stop = func() {
		cancel()
		<-done
		client.Close()
		_ = store.Close()
	}
}

func (h *harness) restart(cfg webhooks.DispatcherConfig) {
	h.stop()
	h.start(cfg)
}

func (h *harness) result(r string) int {
	c, ok := h.results.Load(r)
	if !ok {
		return 0
	}
	return int(c.(*atomic.Int32).Load())
}

// create registers an endpoint for company a.
func (h *harness) create(url string, types ...string) (webhooks.Endpoint, string) {
	h.t.Helper()
	e, secret, err := h.svc.Create(ctx, adminA, "companies/a", webhooks.Input{URL: url, EventTypes: types})
	if err != nil {
		h.t.Fatal(err)
	}
	return e, secret
}

// emit hands the relay the next event of source, as a follower would.
func (h *harness) emit(source, typ, company string, attrs map[string]string) string {
	h.t.Helper()
	h.seq[source]++
	e := feed.Event{Sequence: h.seq[source], Type: typ, Time: time.Now(), Company: company,
		Subject: company + "/suppliers/s/compliance", Resources: map[string]string{feed.ResourceCustomer: company, feed.ResourceSupplier: "companies/s"},
		Attributes: attrs}
	if err := h.relay.HandleBatch(source)(ctx, []feed.Event{e}); err != nil {
		h.t.Fatal(err)
	}
	return feed.ID(source, e.Sequence)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
