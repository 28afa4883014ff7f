package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/benchmem"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/secrets"
)

// BenchmarkWebhooks10k measures what issue 13 asks of webhook delivery, as
// an operator runs it: the real notify binary, in its own process, follows
// a vault event feed (served by this process with feed.NewServer over an
// in-memory log holding 10,000 events for one company) and delivers each
// event to one local HTTPS endpoint (a test CA, VIGIL_WEBHOOK_CA_FILE) that
// verifies every signature and counts event ids, as a deduping receiver
// does.
//
//   - steady: the endpoint is up; time from notify's start until the last
//     event arrives, against a baseline of the same 10,000 signed POSTs sent
//     by this process straight to the same endpoint with the same
//     concurrency (VIGIL_WEBHOOK_ENDPOINT_CONCURRENCY, 4);
//   - outage: the endpoint is down (connection refused) for
//     VIGIL_BENCH_WEBHOOK_OUTAGE (default 1m) after notify starts, then
//     comes back; time from its return until every event has arrived, with
//     the backoff shortened to 1 s…5 s (VIGIL_WEBHOOK_BACKOFF_BASE/MAX) so
//     that the figure is about recovery, not about the configured wait.
//
// Both report notify's peak RSS (VmHWM) and the events received twice.
func BenchmarkWebhooks10k(b *testing.B) {
	dir := b.TempDir()
	bin := buildNotify(b, dir)
	outage := time.Minute
	if v := os.Getenv("VIGIL_BENCH_WEBHOOK_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("VIGIL_BENCH_WEBHOOK_OUTAGE: %v", err)
		}
		outage = d
	}
	b.Run("steady", func(b *testing.B) {
		for n := range b.N {
			runWebhookBench(b, bin, filepath.Join(dir, fmt.Sprint("steady", n)), 0)
		}
	})
	b.Run("outage", func(b *testing.B) {
		for n := range b.N {
			runWebhookBench(b, bin, filepath.Join(dir, fmt.Sprint("outage", n)), outage)
		}
	})
}

const benchEvents, benchConcurrency = 10_000, 4

func runWebhookBench(b *testing.B, bin, data string, outage time.Duration) {
	b.StopTimer()
	company := "companies/bench"
	rcv := newBenchReceiver()
	// The endpoint's address is fixed before it listens, so that it can be
	// registered while down.
	addr := smtptest.FreeAddr(b)
	caFile := filepath.Join(data, "ca.pem")
	keyFile := filepath.Join(data, "secret.key")
	if err := os.MkdirAll(data, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rcv.srv.TLS.Certificates[0].Certificate[0]}), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := secrets.Generate(keyFile); err != nil {
		b.Fatal(err)
	}
	rcv.secret = registerBenchWebhook(b, data, keyFile, company, "https://"+addr+"/hook")

	// vault's feed, with every event committed before notify starts.
	log := &benchLog{}
	now := time.Now()
	for i := range benchEvents {
		log.events = append(log.events, feed.Event{Sequence: uint64(i + 1), Type: feed.TypeDocumentUploaded, Time: now, Company: company,
			Subject:   fmt.Sprintf("%s/suppliers/s%d/documents/d%d", company, i%100, i),
			Resources: map[string]string{feed.ResourceCustomer: company, feed.ResourceSupplier: fmt.Sprintf("companies/s%d", i%100)}})
	}
	vault := grpc.NewServer()
	feed.NewServer("vault", log).Register(vault)
	vaultLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = vault.Serve(vaultLis) }()
	defer vault.Stop()

	if outage == 0 {
		rcv.start(b, addr)
	}
	metricsAddr := smtptest.FreeAddr(b)
	env := []string{
		"VIGIL_DATA_DIR=" + data, "VIGIL_NOTIFY_ADDR=" + smtptest.FreeAddr(b), "VIGIL_METRICS_ADDR=" + metricsAddr, "VIGIL_LOG_LEVEL=error",
		"VIGIL_VAULT_ADDR=" + vaultLis.Addr().String(), "VIGIL_IDENTITY_ADDR=" + smtptest.FreeAddr(b),
		"VIGIL_DIRECTORY_ADDR=" + smtptest.FreeAddr(b), "VIGIL_SECRET_KEY_FILE=" + keyFile, "VIGIL_NOTIFY_SCHEDULER=false",
		"VIGIL_WEBHOOK_ALLOW_PRIVATE=true", "VIGIL_WEBHOOK_CA_FILE=" + caFile,
		fmt.Sprintf("VIGIL_WEBHOOK_ENDPOINT_CONCURRENCY=%d", benchConcurrency),
	}
	if outage > 0 {
		env = append(env, "VIGIL_WEBHOOK_BACKOFF_BASE=1s", "VIGIL_WEBHOOK_BACKOFF_MAX=5s")
	}
	b.StartTimer()
	start := time.Now()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	back := start
	if outage > 0 {
		time.Sleep(outage)
		rcv.start(b, addr)
		back = time.Now()
	}
	if !rcv.waitFor(benchEvents, 5*time.Minute) {
		b.Fatalf("received %d of %d events", rcv.unique(), benchEvents)
	}
	done := time.Now()
	b.StopTimer()
	rss, ok := benchmem.PeakRSSMiB(cmd.Process.Pid)
	failed := scrapeCounter(b, metricsAddr, `vigil_notify_deliveries_total{channel="webhook",result="retry"}`)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	time.Sleep(100 * time.Millisecond) // a late duplicate would show now
	if rcv.badSignatures.Load() > 0 {
		b.Fatalf("%d deliveries with a bad signature", rcv.badSignatures.Load())
	}
	if outage == 0 {
		baseline := rcv.baseline(b, addr)
		b.ReportMetric(done.Sub(start).Seconds(), "s-to-deliver-10k")
		b.ReportMetric(baseline.Seconds(), "baseline-s-direct-10k")
		b.ReportMetric(done.Sub(start).Seconds()/baseline.Seconds(), "x-baseline")
	} else {
		b.ReportMetric(outage.Seconds(), "s-outage")
		b.ReportMetric(done.Sub(back).Seconds(), "s-to-deliver-after-recovery")
		b.ReportMetric(failed, "failed-attempts")
	}
	b.ReportMetric(float64(rcv.duplicates.Load()), "events-received-twice")
	if ok {
		b.ReportMetric(rss, "notify-VmHWM-MiB")
	}
	rcv.close()
}

// registerBenchWebhook registers the endpoint in notify's store, through the
// domain's own rules, before notify starts; it returns the signing secret.
func registerBenchWebhook(b *testing.B, data, keyFile, company, url string) string {
	box, err := secrets.Load(keyFile)
	if err != nil {
		b.Fatal(err)
	}
	store, err := boltstore.OpenWebhooks(filepath.Join(data, "notify", "webhooks.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	svc := webhooks.NewService(store, box, zap.NewNop(), webhooks.ServiceOptions{AllowPrivate: true})
	admin := authz.Subject{User: "users/bench", Company: company, Kind: authz.KindOperator, Role: authz.RoleAdministrator}
	_, secret, err := svc.Create(context.Background(), admin, company, webhooks.Input{URL: url, EventTypes: []string{feed.TypeDocumentUploaded}})
	if err != nil {
		b.Fatal(err)
	}
	return secret
}

// benchLog is vault's event log in memory.
type benchLog struct{ events []feed.Event }

func (l *benchLog) EventsAfter(_ context.Context, after uint64, limit int) ([]feed.Event, error) {
	if after >= uint64(len(l.events)) {
		return nil, nil
	}
	return l.events[after:min(uint64(len(l.events)), after+uint64(limit))], nil
}

func (*benchLog) PrunedThrough(context.Context) (uint64, error) { return 0, nil }

// benchReceiver is the deduping HTTPS endpoint.
type benchReceiver struct {
	srv           *httptest.Server
	secret        string
	mu            sync.Mutex
	seen          map[string]bool
	duplicates    atomic.Int64
	badSignatures atomic.Int64
}

func newBenchReceiver() *benchReceiver {
	r := &benchReceiver{seen: map[string]bool{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if !webhooks.Verify(req.Header.Get(webhooks.HeaderSignature), body, r.secret, time.Now(), 5*time.Minute) {
			r.badSignatures.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := req.Header.Get("Idempotency-Key")
		var ev struct{ ID string }
		if json.Unmarshal(body, &ev) != nil || ev.ID != id {
			r.badSignatures.Add(1)
		}
		r.mu.Lock()
		if r.seen[id] {
			r.duplicates.Add(1)
		}
		r.seen[id] = true
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	r.srv.EnableHTTP2 = true
	r.srv.StartTLS() // makes the certificate; re-listened on the fixed address by start
	r.srv.Listener.Close()
	return r
}

func (r *benchReceiver) start(b *testing.B, addr string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatalf("the endpoint cannot listen on %s again: %v", addr, err)
	}
	go func() { _ = r.srv.Config.Serve(tls.NewListener(lis, r.srv.TLS)) }()
}

func (r *benchReceiver) close() { _ = r.srv.Config.Close() }

func (r *benchReceiver) unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *benchReceiver) waitFor(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for r.unique() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// baseline sends the same number of signed POSTs straight to the endpoint
// with notify's per-endpoint concurrency: the floor any relay can reach.
func (r *benchReceiver) baseline(b *testing.B, addr string) time.Duration {
	r.mu.Lock()
	r.seen = map[string]bool{}
	r.mu.Unlock()
	pool := x509.NewCertPool()
	pool.AddCert(r.srv.Certificate())
	client := webhooks.NewClient(webhooks.ClientOptions{Guard: webhooks.Guard{AllowPrivate: true}, RootCAs: pool, PerHost: benchConcurrency})
	defer client.Close()
	ids := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": fmt.Sprint("base-", i), "type": feed.TypeDocumentUploaded})
				h := http.Header{}
				h.Set("Content-Type", webhooks.ContentType)
				h.Set("Idempotency-Key", fmt.Sprint("base-", i))
				h.Set(webhooks.HeaderSignature, webhooks.SignatureHeader(time.Now(), body, r.secret))
				if code, err := client.Post(context.Background(), "https://"+addr+"/hook", h, bytes.Clone(body)); err != nil || code/100 != 2 {
					b.Errorf("baseline post: %d %v", code, err)
				}
			}
		}()
	}
	for i := range benchEvents {
		ids <- i
	}
	close(ids)
	wg.Wait()
	return time.Since(start)
}

// scrapeCounter reads one series of notify's /metrics (0 when absent).
func scrapeCounter(b *testing.B, addr, series string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return 0 // a counter never incremented has no series yet
}
