package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigil/vigil/services/e2e/stack"
	"github.com/vigil/vigil/services/runtime/benchmem"
)

// Benchmarks of issue 8, through the gateway with the real binaries (make
// bench). Figures are reported as metrics; none is asserted.

// benchProfiles is where the benchmarks save CPU profiles of the processes
// they load ($VIGIL_BENCH_PROFILES; empty: none).
var benchProfiles = os.Getenv("VIGIL_BENCH_PROFILES")

// benchDebugAddrs are the profilers' addresses of the last benchStack
// (with VIGIL_BENCH_PROFILES).
var benchDebugAddrs = map[string]string{}

// benchStack starts the suite for a benchmark.
func benchStack(b *testing.B) *stack.Stack {
	b.Helper()
	opts := stack.Options{BinDir: binDir, DataDir: b.TempDir(), Env: []string{"VIGIL_LOG_LEVEL=warn"}, ProcessEnv: map[string][]string{}}
	if err := opts.FreePorts(); err != nil {
		b.Fatal(err)
	}
	if benchProfiles != "" {
		for _, name := range stack.Processes {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			benchDebugAddrs[name] = l.Addr().String()
			_ = l.Close()
			opts.ProcessEnv[name] = []string{"VIGIL_DEBUG_ADDR=" + benchDebugAddrs[name]}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

var benchClient = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 200, MaxConnsPerHost: 200}}

// call sends a request and decodes a JSON answer into out (when not nil).
func call(b testing.TB, base, method, path, contentType string, body io.Reader, token string, out any) int {
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		b.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	if resp.StatusCode != 200 && out != nil {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

func jsonBody(v any) io.Reader {
	raw, _ := json.Marshal(v)
	return bytes.NewReader(raw)
}

// benchOperator signs up an operator and returns its name and token.
func benchOperator(b *testing.B, s *stack.Stack) (string, string) {
	var r struct {
		Company     string `json:"company"`
		AccessToken string `json:"accessToken"`
	}
	call(b, s.URL, "POST", "/v1/companies:signup", "application/json", jsonBody(map[string]any{
		"company": map[string]any{"legalName": "Bench customer", "kind": "COMPANY_KIND_OPERATOR", "country": "FR", "registrationNumber": sirets[0]},
		"admin":   map[string]any{"email": "bench@customer.test", "givenName": "B", "familyName": "C", "password": password},
	}), "", &r)
	return r.Company, r.AccessToken
}

// importRows uploads n rows (new SIRENs from offset; contacts when
// withContacts) as text/csv and waits until the import is done. It returns
// the time to upload and the time until done.
func importRows(b *testing.B, s *stack.Stack, company, token string, n, offset int, withContacts bool) (upload, done time.Duration, imp map[string]any) {
	var csv bytes.Buffer
	csv.WriteString("registration_number;legal_name;city;contact_email;contact_given_name;contact_family_name\n")
	for i := range n {
		email := ""
		if withContacts {
			email = fmt.Sprintf("contact%d@bench.test", offset+i)
		}
		fmt.Fprintf(&csv, "%s;Fournisseur %07d;Lyon;%s;Jean;Dupont\n", siren(offset+i), offset+i, email)
	}
	start := time.Now()
	var created map[string]any
	call(b, s.URL, "POST", "/v1/"+company+"/supplierImports", "text/csv", &csv, token, &created)
	upload = time.Since(start)
	name, _ := created["name"].(string)
	for {
		var m map[string]any
		call(b, s.URL, "GET", "/v1/"+name, "", nil, token, &m)
		if m["state"] == "STATE_DONE" || m["state"] == "STATE_FAILED" {
			return upload, time.Since(start), m
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkDirectoryImport: issue 8's mass registration of 10,000 and
// 100,000 rows through the gateway (a text/csv body, no contacts: the
// directory's own work), with the time until the job is done and
// directory's peak RSS; "-contacts" adds a contact per row (each a new
// user at identity, invited through notify). Ratio: seconds per 1,000 rows
// at 100,000 over the same at 10,000 (1.0 = linear).
func BenchmarkDirectoryImport(b *testing.B) {
	perK := map[int]float64{}
	for _, tc := range []struct {
		rows     int
		contacts bool
	}{{10_000, false}, {100_000, false}, {10_000, true}} {
		name := fmt.Sprintf("rows=%d", tc.rows)
		if tc.contacts {
			name += "-contacts"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				s := benchStack(b)
				company, token := benchOperator(b, s)
				b.ResetTimer()
				up, done, imp := importRows(b, s, company, token, tc.rows, 1_000_000, tc.contacts)
				b.StopTimer()
				if num(imp, "createdCount") != tc.rows {
					b.Fatalf("import %v", imp)
				}
				b.ReportMetric(up.Seconds(), "s-upload")
				b.ReportMetric(done.Seconds(), "s-done")
				b.ReportMetric(float64(tc.rows)/done.Seconds(), "rows/s")
				if rss, ok := benchmem.PeakRSSMiB(s.Pid("directory")); ok {
					b.ReportMetric(rss, "directory-VmHWM-MiB")
				}
				if !tc.contacts {
					perK[tc.rows] = done.Seconds() / float64(tc.rows/1000)
				}
			}
		})
	}
	if perK[10_000] > 0 && perK[100_000] > 0 {
		b.ReportMetric(perK[100_000]/perK[10_000], "100k-vs-10k-per-row")
	}
}

// loadResult is one load: throughput, latencies and the CPU time each
// process of the suite spent per call.
type loadResult struct {
	perSec   float64
	p50, p99 time.Duration
	cpu      map[string]time.Duration
	ratio    float64 // of throughput to a baseline's (alternate)
}

// report reports a load's figures under prefix, with the CPU per call of
// the given processes (µs).
func (r loadResult) report(b *testing.B, prefix string, procs ...string) {
	b.ReportMetric(r.perSec, prefix+"-req/s")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, prefix+"-p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, prefix+"-p99-ms")
	for _, p := range procs {
		b.ReportMetric(float64(r.cpu[p].Nanoseconds())/1000, prefix+"-"+p+"-cpu-µs/req")
	}
}

// benchClientProc names the benchmark's own process (the HTTP clients) in
// CPU figures.
const benchClientProc = "client"

// measure runs load while measuring the CPU time of each process of s and,
// with VIGIL_BENCH_PROFILES, taking CPU and allocation profiles of procs
// (<name>-<process>.pprof, <name>-<process>.allocs.pprof).
func measure(b *testing.B, s *stack.Stack, name string, procs []string, clients int, d time.Duration, next func(client int) func() int) loadResult {
	before := map[string]time.Duration{}
	for _, p := range stack.Processes {
		before[p], _ = benchmem.CPUTime(s.Pid(p))
	}
	before[benchClientProc], _ = benchmem.CPUTime(0)
	var wg sync.WaitGroup
	if benchProfiles != "" {
		for _, p := range procs {
			base := filepath.Join(benchProfiles, name+"-"+p)
			for suffix, take := range map[string]func(string, time.Duration, string) error{".pprof": benchmem.CPUProfile, ".allocs.pprof": benchmem.AllocsProfile} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := take(benchDebugAddrs[p], d-time.Second, base+suffix); err != nil {
						b.Errorf("profile %s: %v", p, err)
					}
				}()
			}
		}
	}
	r := loadResult{cpu: map[string]time.Duration{}}
	var n int
	r.perSec, r.p50, r.p99, n = load(b, clients, d, next)
	wg.Wait()
	for _, p := range stack.Processes {
		if after, ok := benchmem.CPUTime(s.Pid(p)); ok && n > 0 {
			r.cpu[p] = (after - before[p]) / time.Duration(n)
		}
	}
	if after, ok := benchmem.CPUTime(0); ok && n > 0 {
		r.cpu[benchClientProc] = (after - before[benchClientProc]) / time.Duration(n)
	}
	return r
}

// scenario is one measured load: its name (for profiles) and its callers.
type scenario struct {
	name string
	next func(client int) func() int
}

// benchRounds is $VIGIL_BENCH_ROUNDS, else 3.
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("VIGIL_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// alternate runs rounds of the baseline and the measured scenario, in
// alternating order so that a machine busy with other work weighs on both
// alike, each for d, and returns the medians of each (with the measured
// one's median ratio of throughput to the baseline's in the same round).
// Profiles (VIGIL_BENCH_PROFILES) are taken in the first round.
func alternate(b *testing.B, s *stack.Stack, rounds int, d time.Duration, procs []string, clients int, base, measured scenario) (loadResult, loadResult) {
	var bs, ms []loadResult
	var ratios []float64
	for round := range rounds {
		profile := round == 0
		run := func(sc scenario) loadResult {
			p := procs
			if !profile {
				p = nil
			}
			return measure(b, s, sc.name, p, clients, d, sc.next)
		}
		var br, mr loadResult
		if round%2 == 0 {
			br = run(base)
			mr = run(measured)
		} else {
			mr = run(measured)
			br = run(base)
		}
		bs, ms, ratios = append(bs, br), append(ms, mr), append(ratios, mr.perSec/br.perSec)
		b.Logf("round %d: %s %.0f/s p99 %s, %s %.0f/s p99 %s, ratio %.2f", round+1, base.name, br.perSec, br.p99, measured.name, mr.perSec, mr.p99, mr.perSec/br.perSec)
	}
	m := medianResult(ms)
	m.ratio = medianOf(ratios)
	return medianResult(bs), m
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// medianResult is the median of each figure of rs.
func medianResult(rs []loadResult) loadResult {
	pick := func(f func(loadResult) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return medianOf(v)
	}
	out := loadResult{cpu: map[string]time.Duration{}}
	out.perSec = pick(func(r loadResult) float64 { return r.perSec })
	out.p50 = time.Duration(pick(func(r loadResult) float64 { return float64(r.p50) }))
	out.p99 = time.Duration(pick(func(r loadResult) float64 { return float64(r.p99) }))
	for _, p := range append(slices.Clone(stack.Processes), benchClientProc) {
		out.cpu[p] = time.Duration(pick(func(r loadResult) float64 { return float64(r.cpu[p]) }))
	}
	return out
}

// load runs clients concurrent callers of next for d and returns the
// throughput (calls/s), the p50 and p99 latencies and the number of calls.
func load(b *testing.B, clients int, d time.Duration, next func(client int) func() int) (float64, time.Duration, time.Duration, int) {
	var mu sync.Mutex
	var lat []time.Duration
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := next(c)
			var mine []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				if code := do(); code != 200 {
					b.Errorf("status %d", code)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return 0, 0, 0, 0
	}
	return float64(len(lat)) / d.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100], len(lat)
}

// fetch GETs url with token and returns the status and the body.
func fetch(b testing.TB, url, token string) (int, []byte) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return resp.StatusCode, raw
}

// nextPageToken finds a list page's nextPageToken (the last field of the
// answer, a base64url string) without decoding the page: the clients
// share the machine's cores with the suite, and decoding 30 KB of JSON
// per page cost them as much CPU as the gateway spent on it, while the
// baseline's clients decode nothing (the page is checked once, decoded,
// before the load).
func nextPageToken(b testing.TB, page []byte) string {
	const key = `"nextPageToken":"`
	i := bytes.LastIndex(page, []byte(key))
	if i < 0 {
		return ""
	}
	rest := page[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		b.Fatalf("malformed page end: %s", page[i:])
	}
	return string(rest[:j])
}

// BenchmarkDirectoryListSuppliers: issue 8's list of a customer with
// 50,000 suppliers, pages of 100 (each client walks the list from the
// start, page token after page token), 50 concurrent clients through the
// gateway, against a trivial authenticated gateway call (GET the
// customer's own company) in the same run. Ratio: list throughput over
// baseline throughput.
func BenchmarkDirectoryListSuppliers(b *testing.B) {
	const suppliers, clients = 50_000, 50
	for range b.N {
		s := benchStack(b)
		company, token := benchOperator(b, s)
		if _, _, imp := importRows(b, s, company, token, suppliers, 2_000_000, false); num(imp, "createdCount") != suppliers {
			b.Fatalf("setup import %v", imp)
		}
		get := func(path string) (int, []byte) { return fetch(b, s.URL+path, token) }
		// Warm both paths; the first page is what the list says.
		get("/v1/" + company)
		var first struct {
			Suppliers []struct {
				Name, LegalName string
			}
			NextPageToken string
		}
		if _, raw := get("/v1/" + company + "/suppliers?pageSize=100"); json.Unmarshal(raw, &first) != nil || len(first.Suppliers) != 100 ||
			first.Suppliers[0].LegalName == "" || nextPageToken(b, raw) != first.NextPageToken || first.NextPageToken == "" {
			b.Fatalf("first page: %s", raw)
		}
		b.ResetTimer()
		procs := []string{"gateway", "directory"}
		cpus := append(slices.Clone(procs), benchClientProc)
		baseline := func(int) func() int {
			return func() int { code, _ := get("/v1/" + company); return code }
		}
		walk := func(int) func() int {
			tok := ""
			return func() int {
				code, raw := get("/v1/" + company + "/suppliers?pageSize=100&pageToken=" + tok)
				tok = nextPageToken(b, raw) // "" after the last page: start again
				return code
			}
		}
		base, list := alternate(b, s, benchRounds(), 5*time.Second, procs, clients,
			scenario{"directory-baseline", baseline}, scenario{"directory-list-suppliers", walk})
		b.StopTimer()
		base.report(b, "baseline", cpus...)
		list.report(b, "list", cpus...)
		b.ReportMetric(list.ratio, "list/baseline")
		if rss, ok := benchmem.PeakRSSMiB(s.Pid("directory")); ok {
			b.ReportMetric(rss, "directory-VmHWM-MiB")
		}
	}
}
