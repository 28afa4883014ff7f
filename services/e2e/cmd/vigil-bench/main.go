// Command vigil-bench measures the hot path on real sockets (issue 14),
// behind `make bench`: it starts the suite as `make run` does (mutual TLS,
// info logs), signs a company up, then loads it with ghz (gRPC) and wrk
// (HTTP), 50 concurrent clients, in rounds whose order alternates, and
// prints medians and p99 as ratios against baselines measured in the same
// run:
//
//   - an authenticated, permission-checked read over gRPC (identity GetMe)
//     against a health check on the same server (target ≥ 0.85);
//   - GET /v1/me through the gateway against the same GetMe made directly
//     over gRPC (target ≥ 0.6);
//
// with the CPU each process spends per request (from /proc) and its RSS.
// With -profile DIR it then takes a CPU profile of every process involved
// in each scenario under the same load and prints its top functions.
// It is a benchmark, not a test: it fails only when a tool fails.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil/vigil/services/e2e/stack"
)

type options struct {
	bin, ghz, wrk, profile string
	env                    []string
	rounds, concurrency    int
	duration               time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", envOr("VIGIL_BIN_DIR", ".bin"), "folder of the vigil-* binaries")
	flag.StringVar(&o.ghz, "ghz", "ghz", "ghz binary (gRPC load)")
	flag.StringVar(&o.wrk, "wrk", "wrk", "wrk binary (HTTP load)")
	flag.StringVar(&o.profile, "profile", "", "folder for CPU profiles of each process per scenario (empty: none)")
	flag.IntVar(&o.rounds, "rounds", 5, "measured rounds; each runs every scenario once, in alternating order")
	flag.IntVar(&o.concurrency, "c", 50, "concurrent clients")
	flag.DurationVar(&o.duration, "d", 5*time.Second, "duration of one scenario run")
	flag.Func("env", "NAME=value added to every process's environment (repeatable), e.g. to compare GOGC settings", func(v string) error {
		o.env = append(o.env, v)
		return nil
	})
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-bench:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// result is one run of one scenario.
type result struct {
	rps      float64
	p50, p99 time.Duration
	count    int
	errors   int
	cpu      map[string]time.Duration // CPU time per request, per process
	loadCPU  time.Duration            // the load generator's CPU time (whole run)
}

type scenario struct {
	name  string
	procs []string // processes whose CPU serves it
	run   func(ctx context.Context) (result, error)
}

func run(o options) error {
	ctx := context.Background()
	dataDir, err := os.MkdirTemp("", "vigil-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	opts := stack.Options{BinDir: o.bin, DataDir: dataDir, Env: o.env, ProcessEnv: map[string][]string{}}
	if err := opts.FreePorts(); err != nil {
		return err
	}
	debugAddrs := map[string]string{}
	for _, name := range stack.Processes {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		debugAddrs[name] = addr
		opts.ProcessEnv[name] = []string{"VIGIL_DEBUG_ADDR=" + addr}
	}
	s, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Close()

	token, err := signUp(s.URL)
	if err != nil {
		return err
	}
	identity := s.Addr("identity")
	tlsArgs := []string{"--cacert", s.TLS.CAFile(), "--cert", s.TLS.CertFile("gateway"), "--key", s.TLS.KeyFile("gateway")}
	ghz := func(call, data string, md map[string]string) func(context.Context) (result, error) {
		return func(ctx context.Context) (result, error) {
			// --duration-stop=ignore: calls cut when the duration ends are
			// not counted (neither as answers nor as errors).
			args := append([]string{"--call", call, "-d", data, "-c", strconv.Itoa(o.concurrency), "-z", o.duration.String(),
				"--duration-stop", "ignore", "--connections", "1", "-O", "json"}, tlsArgs...)
			if md != nil {
				raw, _ := json.Marshal(md)
				args = append(args, "-m", string(raw))
			}
			return runGHZ(ctx, o.ghz, append(args, identity))
		}
	}
	wrk := func(path string, header string) func(context.Context) (result, error) {
		return func(ctx context.Context) (result, error) {
			args := []string{"-t2", "-c" + strconv.Itoa(o.concurrency), "-d" + strconv.Itoa(int(o.duration.Seconds())) + "s", "--latency"}
			if header != "" {
				args = append(args, "-H", header)
			}
			return runWRK(ctx, o.wrk, append(args, s.URL+path))
		}
	}
	auth := map[string]string{"authorization": "Bearer " + token}
	scenarios := []scenario{
		{"grpc Health/Check", []string{"identity"}, ghz("grpc.health.v1.Health/Check", "{}", nil)},
		// The same health check carrying the same token: the load
		// generator's work equals GetMe's, so this ratio isolates the
		// server's (informational).
		{"grpc Health+token", []string{"identity"}, ghz("grpc.health.v1.Health/Check", "{}", auth)},
		{"grpc GetMe", []string{"identity"}, ghz("vigil.identity.v1.IdentityService/GetMe", "{}", auth)},
		{"http GET /v1/me", []string{"gateway", "identity"}, wrk("/v1/me", "Authorization: Bearer "+token)},
		{"http GET /healthz", []string{"gateway"}, wrk("/healthz", "")},
	}
	measure := func(sc scenario) (result, error) {
		before := map[string]time.Duration{}
		for _, p := range sc.procs {
			before[p] = cpuTime(s.Pid(p))
		}
		r, err := sc.run(ctx)
		if err != nil {
			return r, fmt.Errorf("%s: %w", sc.name, err)
		}
		r.cpu = map[string]time.Duration{}
		for _, p := range sc.procs {
			if r.count > 0 {
				r.cpu[p] = (cpuTime(s.Pid(p)) - before[p]) / time.Duration(r.count)
			}
		}
		if r.count > 0 {
			r.cpu["load generator"] = r.loadCPU / time.Duration(r.count)
		}
		return r, nil
	}

	fmt.Printf("vigil-bench: %d rounds × %d scenarios, %s each, %d concurrent clients, on %s (GOMAXPROCS of the services: all cores)\n",
		o.rounds, len(scenarios), o.duration, o.concurrency, s.URL)
	// Warm-up: connections, caches, JIT-free but page-cache and TLS sessions.
	for _, sc := range scenarios {
		if _, err := measure(sc); err != nil {
			return err
		}
	}
	results := map[string][]result{}
	for round := 0; round < o.rounds; round++ {
		order := rotate(scenarios, round)
		var names []string
		for _, sc := range order {
			r, err := measure(sc)
			if err != nil {
				return err
			}
			results[sc.name] = append(results[sc.name], r)
			names = append(names, fmt.Sprintf("%s %.0f/s", sc.name, r.rps))
		}
		fmt.Printf("round %d: %s\n", round+1, strings.Join(names, ", "))
	}

	fmt.Println()
	fmt.Printf("%-20s %10s %9s %9s %7s  %s\n", "scenario (medians)", "req/s", "p50", "p99", "errors", "CPU per request")
	for _, sc := range scenarios {
		rs := results[sc.name]
		var cpu []string
		for _, p := range append(append([]string{}, sc.procs...), "load generator") {
			cpu = append(cpu, fmt.Sprintf("%s %s", p, median(rs, func(r result) float64 { return float64(r.cpu[p]) }, durationOf)))
		}
		errs := 0
		for _, r := range rs {
			errs += r.errors
		}
		fmt.Printf("%-20s %10.0f %9s %9s %7d  %s\n", sc.name, medianF(rs, func(r result) float64 { return r.rps }),
			median(rs, func(r result) float64 { return float64(r.p50) }, durationOf),
			median(rs, func(r result) float64 { return float64(r.p99) }, durationOf), errs, strings.Join(cpu, ", "))
	}
	ratio := func(num, den string, target float64) {
		var rps, p99 []float64
		for i := range results[num] {
			rps = append(rps, results[num][i].rps/results[den][i].rps)
			p99 = append(p99, float64(results[num][i].p99)/float64(results[den][i].p99))
		}
		verdict := "below"
		if med(rps) >= target {
			verdict = "meets"
		}
		fmt.Printf("%-18s / %-18s throughput %.2f (rounds %s; target ≥ %.2f: %s), p99 ×%.2f\n",
			num, den, med(rps), fmtList(rps), target, verdict, med(p99))
	}
	fmt.Println()
	ratio("grpc GetMe", "grpc Health/Check", 0.85)
	ratio("grpc GetMe", "grpc Health+token", 0.85)
	ratio("http GET /v1/me", "grpc GetMe", 0.60)
	fmt.Println()
	var rss []string
	for _, p := range stack.Processes {
		rss = append(rss, fmt.Sprintf("%s %d MiB", p, rssMiB(s.Pid(p))))
	}
	fmt.Println("RSS after the load: " + strings.Join(rss, ", "))
	for _, p := range []string{"identity", "gateway"} {
		if fi, err := os.Stat(filepath.Join(dataDir, "logs", p+".log")); err == nil {
			fmt.Printf("%s.log: %d KiB written during the run\n", p, fi.Size()>>10)
		}
	}

	if o.profile != "" {
		return profile(ctx, o, scenarios, debugAddrs)
	}
	return nil
}

// profile runs each scenario once more while taking a CPU profile of each
// process it involves, saves it and prints its heaviest functions.
func profile(ctx context.Context, o options, scenarios []scenario, debugAddrs map[string]string) error {
	if err := os.MkdirAll(o.profile, 0o755); err != nil {
		return err
	}
	seconds := int(o.duration.Seconds()) - 1
	if seconds < 1 {
		seconds = 1
	}
	for _, sc := range scenarios {
		type got struct {
			proc string
			data []byte
			err  error
		}
		ch := make(chan got, 2*len(sc.procs))
		for _, p := range sc.procs {
			go func() {
				data, err := fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddrs[p], seconds))
				ch <- got{p, data, err}
			}()
			go func() {
				data, err := fetch(fmt.Sprintf("http://%s/debug/pprof/allocs?seconds=%d", debugAddrs[p], seconds))
				ch <- got{p + ".allocs", data, err}
			}()
		}
		if _, err := sc.run(ctx); err != nil {
			return err
		}
		for range 2 * len(sc.procs) {
			g := <-ch
			if g.err != nil {
				return fmt.Errorf("profile %s: %w", g.proc, g.err)
			}
			file := filepath.Join(o.profile, slug(sc.name)+"-"+g.proc+".pprof")
			if err := os.WriteFile(file, g.data, 0o644); err != nil {
				return err
			}
			if strings.HasSuffix(g.proc, ".allocs") {
				fmt.Printf("\n== allocations of %s under %q: %s (go tool pprof -sample_index=alloc_space)\n", strings.TrimSuffix(g.proc, ".allocs"), sc.name, file)
				continue
			}
			out, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=18", file).Output()
			fmt.Printf("\n== CPU profile of %s under %q (%s)\n%s", g.proc, sc.name, file, trimProfile(out))
		}
	}
	return nil
}

func trimProfile(out []byte) string {
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Showing nodes") || strings.HasPrefix(l, "Duration:") {
			continue
		}
		if strings.Contains(l, "flat%") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return string(out)
}

func slug(s string) string {
	return strings.Trim(regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(strings.ToLower(s), "-"), "-")
}

func fetch(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// rotate puts the scenarios in a different order each round (rotated, and
// reversed every other round), so that none always runs first or after
// the same neighbour.
func rotate(in []scenario, round int) []scenario {
	out := append(append([]scenario{}, in[round%len(in):]...), in[:round%len(in)]...)
	if round%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

func signUp(base string) (string, error) {
	body := `{"company": {"legalName": "Bench SAS", "kind": "COMPANY_KIND_OPERATOR", "country": "FR", "registrationNumber": "73282932000074"},
	  "admin": {"email": "bench@example.com", "givenName": "Bench", "familyName": "Mark", "password": "correct horse battery staple"}}`
	resp, err := http.Post(base+"/v1/companies:signup", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("sign-up: HTTP %d: %s", resp.StatusCode, raw)
	}
	return out.AccessToken, nil
}

func runGHZ(ctx context.Context, bin string, args []string) (result, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("ghz: %v: %s", err, stderr.String())
	}
	loadCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var rep struct {
		Count        int     `json:"count"`
		Rps          float64 `json:"rps"`
		ErrorDist    map[string]int
		StatusCodes  map[string]int `json:"statusCodeDistribution"`
		LatencyDistr []struct {
			Percentage int   `json:"percentage"`
			Latency    int64 `json:"latency"`
		} `json:"latencyDistribution"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return result{}, fmt.Errorf("ghz output: %w", err)
	}
	r := result{rps: rep.Rps, count: rep.Count, loadCPU: loadCPU}
	for code, n := range rep.StatusCodes {
		if code != "OK" {
			r.errors += n
		}
	}
	for _, l := range rep.LatencyDistr {
		switch l.Percentage {
		case 50:
			r.p50 = time.Duration(l.Latency)
		case 99:
			r.p99 = time.Duration(l.Latency)
		}
	}
	if r.errors > 0 {
		return r, fmt.Errorf("ghz: %d calls failed: %v", r.errors, rep.StatusCodes)
	}
	return r, nil
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkCount    = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkPercents = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func runWRK(ctx context.Context, bin string, args []string) (result, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("wrk: %v: %s", err, stderr.String())
	}
	out := stdout.String()
	r := result{loadCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if m := wrkRPS.FindStringSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := wrkCount.FindStringSubmatch(out); m != nil {
		r.count, _ = strconv.Atoi(m[1])
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.errors, _ = strconv.Atoi(m[1])
		return r, fmt.Errorf("wrk: %d answers were not 2xx", r.errors)
	}
	for _, m := range wrkPercents.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if r.rps == 0 {
		return r, fmt.Errorf("wrk output: %s", out)
	}
	return r, nil
}

// cpuTime is the user+system CPU time a process has used (from /proc).
func cpuTime(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

func rssMiB(pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb >> 10
		}
	}
	return 0
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func med(v []float64) float64 {
	s := append([]float64{}, v...)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianF(rs []result, f func(result) float64) float64 {
	var v []float64
	for _, r := range rs {
		v = append(v, f(r))
	}
	return med(v)
}

func median(rs []result, f func(result) float64, format func(float64) string) string {
	return format(medianF(rs, f))
}

func durationOf(v float64) string {
	d := time.Duration(v)
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(100 * time.Nanosecond).String()
	}
}

func fmtList(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, strconv.FormatFloat(x, 'f', 2, 64))
	}
	return strings.Join(s, " ")
}
