package app_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/identity/internal/password"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/benchmem"
)

// fixedPrincipal is the baseline's authenticator: it attaches a principal
// without reading or verifying any token, i.e. a server without the auth
// interceptor's work, whose handler still has a caller to answer for.
type fixedPrincipal struct{ p auth.Principal }

func (f fixedPrincipal) Authenticate(ctx context.Context, _ string) (context.Context, error) {
	return auth.WithPrincipal(ctx, f.p), nil
}

// parallelism makes b.RunParallel use 50 goroutines (50 concurrent callers).
func parallelism() int { return (50 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0) }

// BenchmarkPermissionsRPC compares an authenticated, permission-checked
// no-op RPC (GetMyPermissions over bufconn: token verified, revocations
// checked, R-ID-3 permissions computed) with the same RPC on a server
// without token verification. Ratio = ns/op(no-auth) / ns/op(auth).
func BenchmarkPermissionsRPC(b *testing.B) {
	run := func(b *testing.B, e *env, token string) {
		ctx := bearer(token)
		b.SetParallelism(parallelism())
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.id.GetMyPermissions(ctx, &identityv1.GetMyPermissionsRequest{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("auth", func(b *testing.B) {
		e := newEnv(b)
		a := e.signUp(operator, "ada@acme.test")
		run(b, e, a.access)
	})
	b.Run("no-auth", func(b *testing.B) {
		ref := newEnv(b)
		a := ref.signUp(operator, "ada@acme.test")
		p, err := ref.svc.Verifier().Verify(ctxBg, a.access)
		if err != nil {
			b.Fatal(err)
		}
		e := newEnv(b, withAuth(fixedPrincipal{p}))
		run(b, e, a.access)
	})
}

// BenchmarkPermissionsRPCRatio runs both servers side by side and
// alternates short rounds of 50 concurrent callers on each, so that a noisy
// machine affects both alike; it reports the median over rounds of
// throughput(auth) / throughput(no-auth), the figure the target (≥ 0.85)
// is about, plus each side's median ns/op.
func BenchmarkPermissionsRPCRatio(b *testing.B) {
	withAuthEnv := newEnv(b)
	a := withAuthEnv.signUp(operator, "ada@acme.test")
	p, err := withAuthEnv.svc.Verifier().Verify(ctxBg, a.access)
	if err != nil {
		b.Fatal(err)
	}
	noAuthEnv := newEnv(b, withAuth(fixedPrincipal{p}))
	ctx := bearer(a.access)
	round := func(e *env, ops int) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < 50; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(ops) {
					if _, err := e.id.GetMyPermissions(ctx, &identityv1.GetMyPermissionsRequest{}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start) / time.Duration(ops)
	}
	round(withAuthEnv, 2000) // warm up both
	round(noAuthEnv, 2000)
	var ratios []float64
	var authNs, noAuthNs []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ta := round(withAuthEnv, 5000)
		tn := round(noAuthEnv, 5000)
		ratios = append(ratios, float64(tn)/float64(ta))
		authNs, noAuthNs = append(authNs, float64(ta)), append(noAuthNs, float64(tn))
	}
	b.StopTimer()
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(authNs), "auth_ns/op")
	b.ReportMetric(median(noAuthNs), "noauth_ns/op")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkLogin measures sign-in throughput and latency with OWASP argon2id
// and the bounded hashing pool, callers = slots + queue (nobody refused).
func BenchmarkLogin(b *testing.B) {
	slots := runtime.GOMAXPROCS(0)
	e := newEnv(b, withHashing(password.OWASP, slots, 2*slots))
	// One account per caller: sign-ins to one account are limited to a few
	// in flight (R-ID-5), which is not what this measures.
	callers := 3 * slots
	emails := signUpMany(e, callers)
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var refused atomic.Int64
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		email := emails[int(next.Add(1)-1)%len(emails)]
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			_, err := e.login(email, "")
			if status.Code(err) == codes.ResourceExhausted {
				refused.Add(1)
				continue
			}
			if err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "logins/s")
		b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99_ms")
	}
	b.ReportMetric(float64(refused.Load()), "refused")
}

// BenchmarkLogin200Concurrent fires 200 concurrent sign-ins of 200 users per
// iteration (OWASP argon2id, GOMAXPROCS slots, queue large enough to accept
// all 200)
// and reports the peak Go heap in use (sampled every millisecond from
// runtime.MemStats) and the process's peak resident set (VmHWM from
// /proc/self/status, which also counts the test's clients and fakes).
func BenchmarkLogin200Concurrent(b *testing.B) {
	slots := runtime.GOMAXPROCS(0)
	e := newEnv(b, withHashing(password.OWASP, slots, 200))
	emails := signUpMany(e, 200)
	runtime.GC()
	stopSampling := benchmem.SampleHeap(time.Millisecond)
	var failed atomic.Int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for _, email := range emails {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.login(email, ""); err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	peak := stopSampling()
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
	if rss, ok := benchmem.PeakRSSMiB(0); ok {
		b.ReportMetric(rss, "VmHWM_MiB")
	}
	b.ReportMetric(float64(failed.Load()), "failed")
}

// signUpMany creates n companies, each with its own Administrator, and
// returns their e-mails.
func signUpMany(e *env, n int) []string {
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%d@acme.test", i)
		e.signUp(operator, emails[i])
	}
	return emails
}
