package gateway

import (
	"context"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/vigil/vigil/services/runtime/benchmem"
)

// slowlorisConnections is "a few thousand" slow clients (issue 7 point 5).
const slowlorisConnections = 3000

// probeEvery paces the /healthz probes of each phase.
const probeEvery = 10 * time.Millisecond

// BenchmarkHealthzUnderSlowloris: issue 7 point 5 — /healthz keeps
// answering while thousands of clients trickle their requests one byte at
// a time. The real server (listener bound, timeouts, the whole handler
// chain, default configuration) serves on loopback; /healthz is probed
// every 10 ms, first unloaded for 3 s, then for twice the header timeout
// plus a second with slowlorisConnections open: half send a partial header
// block and one more header byte every second (cut by the header timeout,
// they reconnect), half send a login's headers and its body one byte a
// second (held by the handler until the read timeout). Every probe uses a
// new connection, as the kubelet's do. Reported: p50 and p99 latency of
// each phase and their ratios (loaded / unloaded), failed probes, the
// fewest slow connections open while measuring, and the process's peak RSS.
func BenchmarkHealthzUnderSlowloris(b *testing.B) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		b.Fatal(err)
	}
	// No access log: the test logger keeps every line in memory, which
	// would count in the RSS.
	g := newTestGateway(b, func(c *Config, _ *[]grpc.ServerOption) { c.AccessLog = false })
	lis, err := listen("127.0.0.1:0", connectionLimit(cfg.MaxConnections, zap.NewNop()))
	if err != nil {
		b.Fatal(err)
	}
	srv := newHTTPServer(cfg, g.edge.public, g.edge.metrics, zap.NewNop())
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(func() { _ = srv.Close() })
	addr := lis.Addr().String()
	url := "http://" + addr + "/healthz"
	benchmem.ResetPeakRSS()

	for i := 0; i < b.N; i++ {
		base, baseFailed := probeHealthz(url, 3*time.Second, nil)

		ctx, stop := context.WithCancel(context.Background())
		var open atomic.Int64
		var wg sync.WaitGroup
		for j := 0; j < slowlorisConnections; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slowloris(ctx, addr, j%2 == 0, &open)
			}()
		}
		deadline := time.Now().Add(30 * time.Second)
		for open.Load() < slowlorisConnections*9/10 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		fewest := open.Load()
		loaded, loadedFailed := probeHealthz(url, 2*cfg.ReadHeaderTimeout+time.Second, func() { fewest = min(fewest, open.Load()) })
		stop()
		wg.Wait()

		b.ReportMetric(ms(base[len(base)/2]), "unloaded_p50_ms")
		b.ReportMetric(ms(base[len(base)*99/100]), "unloaded_p99_ms")
		if len(loaded) > 0 {
			b.ReportMetric(ms(loaded[len(loaded)/2]), "loaded_p50_ms")
			b.ReportMetric(ms(loaded[len(loaded)*99/100]), "loaded_p99_ms")
			b.ReportMetric(float64(loaded[len(loaded)/2])/float64(base[len(base)/2]), "p50_ratio")
			b.ReportMetric(float64(loaded[len(loaded)*99/100])/float64(base[len(base)*99/100]), "p99_ratio")
		}
		b.ReportMetric(float64(baseFailed+loadedFailed), "failed_probes")
		b.ReportMetric(float64(fewest), "slow_conns_open")
	}
	if rss, ok := benchmem.PeakRSSMiB(0); ok {
		b.ReportMetric(rss, "peak_rss_MiB")
	}
}

// probeHealthz GETs url every probeEvery for d, each time on a new
// connection, calling each (if set) between probes, and returns the sorted
// latencies of the successes and the number of failures.
func probeHealthz(url string, d time.Duration, each func()) ([]time.Duration, int) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var lat []time.Duration
	failed := 0
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		if each != nil {
			each()
		}
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			failed++
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed++
			continue
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		lat = []time.Duration{time.Hour}
	}
	return lat, failed
}

// slowloris keeps one slow connection open until ctx ends: a partial header
// block then a header byte every second, or (body) a login's headers then
// its body a byte every second; when the server cuts it, it connects again.
func slowloris(ctx context.Context, addr string, body bool, open *atomic.Int64) {
	start := "GET /healthz HTTP/1.1\r\nHost: vigil\r\nX-Slow: "
	if body {
		start = "POST /v1/auth:login HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"email\": \""
	}
	for ctx.Err() == nil {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		open.Add(1)
		_, err = c.Write([]byte(start))
		t := time.NewTicker(time.Second)
		for err == nil {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-t.C:
				_, err = c.Write([]byte("a"))
			}
		}
		t.Stop()
		c.Close()
		open.Add(-1)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
