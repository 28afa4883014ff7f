package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/benchmem"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/server/servertest"
	"github.com/vigil/vigil/services/vault/internal/app"
	"github.com/vigil/vigil/services/vault/internal/boltstore"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// The benchmarks of issues 9 and 10 run the real vault and gateway
// binaries (built by the benchmark), with identity, directory and notify
// played in this process over TCP; every measured call goes through the
// gateway over HTTP, and every figure is reported with a baseline measured
// in the same run. Run them with
//
//	make bench BENCH=Vault
//
// (or `go test -run '^$' -bench Vault ./internal/app/` in services/vault).

// benchBins builds the vault and gateway binaries once per run.
var benchBins = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "vault-bench-bin")
	if err != nil {
		return "", err
	}
	for name, pkgDir := range map[string]string{"vault": "../..", "gateway": "../../../gateway"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
		cmd.Dir = pkgDir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
	}
	return dir, nil
})

func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// benchStack is a vault and a gateway process over fakes served on TCP.
type benchStack struct {
	tb      testing.TB
	key     auth.SigningKey
	id      *fakeIdentity
	dir     *fakeDirectory
	fakes   *grpc.Server
	fakesAt string
	data    string
	url     string
	vault   *exec.Cmd
	gateway *exec.Cmd
	client  *http.Client
	// debug are the processes' profiler addresses (VIGIL_DEBUG_ADDR), for
	// VIGIL_BENCH_PROFILES.
	debug map[string]string
}

// benchProfiles is where the benchmarks save CPU profiles of the vault and
// the gateway under load ($VIGIL_BENCH_PROFILES; empty: none).
var benchProfiles = os.Getenv("VIGIL_BENCH_PROFILES")

// newFakeServices serves fake identity, directory and notify on TCP.
func newFakeServices(tb testing.TB) (*fakeIdentity, *fakeDirectory, *grpc.Server, string) {
	key, err := auth.NewSigningKey()
	if err != nil {
		tb.Fatal(err)
	}
	id := &fakeIdentity{key: key, grants: map[string]authz.GrantLevel{}, wake: make(chan struct{})}
	dir := &fakeDirectory{companies: map[string]*directoryv1.Company{}, employees: map[string]*directoryv1.Employee{},
		projects: map[string]*directoryv1.Project{}, refs: map[string][]string{}, links: map[string]bool{}, assigns: map[[2]string]bool{}}
	dir.feed = feed.NewServer("directory", dir)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := grpc.NewServer()
	identityv1.RegisterIdentityServiceServer(g, id)
	identityv1.RegisterIdentityInternalServiceServer(g, id)
	directoryv1.RegisterDirectoryInternalServiceServer(g, dir)
	dir.feed.Register(g)
	notifyv1.RegisterNotificationInternalServiceServer(g, &fakeNotify{sent: map[string]*notifyv1.EnqueueNotificationRequest{}})
	go func() { _ = g.Serve(lis) }()
	return id, dir, g, lis.Addr().String()
}

func startProcess(tb testing.TB, bin string, env []string) *exec.Cmd {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return cmd
}

// startBenchStack starts the processes on dataDir (already seeded or not).
func startBenchStack(tb testing.TB, id *fakeIdentity, dir *fakeDirectory, fakes *grpc.Server, fakesAt, dataDir string, maxUpload int64) *benchStack {
	bins, err := benchBins()
	if err != nil {
		tb.Fatal(err)
	}
	vaultAddr, httpAddr := freeAddr(tb), freeAddr(tb)
	common := []string{"VIGIL_DATA_DIR=" + dataDir, "VIGIL_LOG_LEVEL=error", "VIGIL_METRICS_ADDR=", "VIGIL_IDENTITY_ADDR=" + fakesAt,
		"VIGIL_DIRECTORY_ADDR=" + fakesAt, "VIGIL_NOTIFY_ADDR=" + fakesAt, "VIGIL_VAULT_ADDR=" + vaultAddr, "VIGIL_HTTP_ADDR=" + httpAddr}
	s := &benchStack{tb: tb, key: id.key, id: id, dir: dir, fakes: fakes, fakesAt: fakesAt, data: dataDir, url: "http://" + httpAddr,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}, Timeout: 5 * time.Minute},
		debug:  map[string]string{"vault": freeAddr(tb), "gateway": freeAddr(tb)}}
	vaultEnv := append(slices.Clone(common), "VIGIL_MAX_UPLOAD_BYTES="+strconv.FormatInt(maxUpload, 10))
	gatewayEnv := append(slices.Clone(common), "VIGIL_MAX_BODY_BYTES=1048576", "VIGIL_LOG_LEVEL=warn")
	vaultEnv = append(vaultEnv, "VIGIL_DEBUG_ADDR="+s.debug["vault"])
	gatewayEnv = append(gatewayEnv, "VIGIL_DEBUG_ADDR="+s.debug["gateway"])
	s.vault = startProcess(tb, filepath.Join(bins, "vault"), vaultEnv)
	s.gateway = startProcess(tb, filepath.Join(bins, "gateway"), gatewayEnv)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", vaultAddr)
		if err == nil {
			c.Close()
			if r, err := http.Get(s.url + "/healthz"); err == nil {
				r.Body.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("the vault and the gateway did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Cleanup(s.stop)
	return s
}

func (s *benchStack) stop() {
	for _, c := range []*exec.Cmd{s.gateway, s.vault} {
		if c != nil && c.Process != nil {
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
	}
}

func (s *benchStack) token(company string, kind authz.CompanyKind, role authz.Role, lang string) (string, string) {
	user := newID("bu")
	s.id.mu.Lock()
	s.id.members = append(s.id.members, member{company: company, user: user, role: role, email: user + "@example.test", lang: lang, name: "Bench " + user})
	s.id.mu.Unlock()
	tok, err := auth.Sign(s.key, auth.Principal{User: "users/" + user, Company: "companies/" + company, CompanyKind: kind, Role: role, Session: "s"},
		time.Now(), time.Hour)
	if err != nil {
		s.tb.Fatal(err)
	}
	return tok, user
}

func (s *benchStack) do(method, path, token string, body io.Reader, contentType string) (int, []byte) {
	req, _ := http.NewRequest(method, s.url+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *benchStack) mustDo(method, path, token string, body io.Reader, contentType string) []byte {
	code, b := s.do(method, path, token, body, contentType)
	if code != 200 {
		s.tb.Fatalf("%s %s: HTTP %d %s", method, path, code, b)
	}
	return b
}

// pdfReader streams a well-formed PDF of exactly size bytes without holding it.
func pdfReader(size int64) io.Reader {
	head, tail := []byte("%PDF-1.4\n"), []byte("\n%%EOF\n")
	return io.MultiReader(bytes.NewReader(head), io.LimitReader(filler{}, size-int64(len(head)+len(tail))), bytes.NewReader(tail))
}

type filler struct{}

func (filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return len(p), nil
}

// upload streams a document of size bytes through the gateway and
// returns its name.
func (s *benchStack) upload(company, token, docType string, size int64) string {
	return s.uploadDoc(company, token, docType, size)["name"].(string)
}

// uploadDoc streams a document of size bytes through the gateway and
// returns the document, as JSON.
func (s *benchStack) uploadDoc(company, token, docType string, size int64) map[string]any {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mp, _ := mw.CreateFormField("metadata")
		_ = json.NewEncoder(mp).Encode(map[string]any{"documentType": "documentTypes/" + docType, "subject": "companies/" + company, "validFrom": "2026-01-01"})
		fp, _ := mw.CreateFormFile("file", "bench.pdf")
		_, _ = io.Copy(fp, pdfReader(size))
		pw.CloseWithError(mw.Close())
	}()
	b := s.mustDo("POST", "/v1/companies/"+company+"/documents", token, pr, mw.FormDataContentType())
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	return doc
}

// procKiB reads a /proc/<pid>/status field (VmRSS, VmHWM) in KiB.
func procKiB(pid int, field string) float64 {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseFloat(f[0], 64)
				return n
			}
		}
	}
	return 0
}

// download reads a document's content as the baselines read their file:
// through one 256 KiB buffer into io.Discard (io.ReadAll's growing copies
// would be the client's cost, not the download's), and returns its length.
func (s *benchStack) download(name, token string) int64 {
	req, _ := http.NewRequest("GET", s.url+"/v1/"+name+"/content", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		s.tb.Fatalf("download: HTTP %d", resp.StatusCode)
	}
	n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	if err != nil {
		s.tb.Fatal(err)
	}
	return n
}

// fileTimes are one round of the baselines: size bytes written to a file
// on the data disk and synced (an upload's: the vault syncs what it
// stores), read back from the page cache (warm) and from the disk (cold:
// dropped from the page cache first), and fetched from a plain HTTP file
// server on loopback (what a download costs without the vault's hop).
type fileTimes struct{ write, warm, cold, served time.Duration }

func timeFile(tb testing.TB, dir string, size int64) fileTimes {
	var ft fileTimes
	path := filepath.Join(dir, "baseline.bin")
	buf := make([]byte, 256<<10)
	start := time.Now()
	f, _ := os.Create(path)
	_, _ = io.CopyBuffer(f, pdfReader(size), buf)
	_ = f.Sync()
	_ = f.Close()
	ft.write = time.Since(start)
	read := func() time.Duration {
		start := time.Now()
		f, _ := os.Open(path)
		_, _ = io.CopyBuffer(io.Discard, f, buf)
		_ = f.Close()
		return time.Since(start)
	}
	ft.warm = read()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }))
	start = time.Now()
	if resp, err := http.Get(srv.URL); err == nil {
		_, _ = io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
	}
	ft.served = time.Since(start)
	srv.Close()
	dropCache(tb, path)
	ft.cold = read()
	_ = os.Remove(path)
	return ft
}

// dropCache drops a synced file's pages from the page cache, so that the
// next read of it reads the disk.
func dropCache(tb testing.TB, path string) {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkVaultUploadDownload: issue 9 — a 20 MiB upload through the
// gateway against writing the same bytes to a file on the same disk
// (target ≥ 0.5 of its speed); the download against reading that file
// back, warm (page cache) and cold (the disk; the blob dropped from the
// page cache too), and against a plain HTTP file server on loopback. Each
// iteration runs every baseline next to what it is compared with; the
// figures are medians of the iterations (speeds, and ratios taken per
// iteration), p99 latencies, CPU per MiB of each process (totals), RSS.
func BenchmarkVaultUploadDownload(b *testing.B) {
	const size = 20 << 20
	id, dir, fakes, at := newFakeServices(b)
	defer fakes.Stop()
	data := b.TempDir()
	s := startBenchStack(b, id, dir, fakes, at, data, 64<<20)
	sup := s.company(dir, authz.KindSupplier)
	tok, _ := s.token(sup, authz.KindSupplier, authz.RoleAdministrator, "en")
	var ups, downs, colds []time.Duration
	var files []fileTimes
	var upCPU, downCPU [2]float64 // vault, gateway
	vp, gp := s.vault.Process.Pid, s.gateway.Process.Pid
	b.ResetTimer()
	for range b.N {
		files = append(files, timeFile(b, data, size))
		start := time.Now()
		v0, g0 := cpuMs(vp), cpuMs(gp)
		doc := s.uploadDoc(sup, tok, "KBIS_EXTRACT", size)
		ups = append(ups, time.Since(start))
		v1, g1 := cpuMs(vp), cpuMs(gp)
		upCPU[0], upCPU[1] = upCPU[0]+v1-v0, upCPU[1]+g1-g0
		name, sha := doc["name"].(string), doc["sha256"].(string)
		start = time.Now()
		if got := s.download(name, tok); got != size {
			b.Fatalf("downloaded %d bytes", got)
		}
		downs = append(downs, time.Since(start))
		downCPU[0], downCPU[1] = downCPU[0]+cpuMs(vp)-v1, downCPU[1]+cpuMs(gp)-g1
		dropCache(b, filepath.Join(data, "vault", "blobs", "sha256", sha[:2], sha))
		start = time.Now()
		if got := s.download(name, tok); got != size {
			b.Fatalf("downloaded %d bytes", got)
		}
		colds = append(colds, time.Since(start))
	}
	b.StopTimer()
	if b.N > 1 { // once, after the measured runs (not on the 1-run probe)
		var last string
		s.profileWhile("upload", 5, func() { last = s.upload(sup, tok, "KBIS_EXTRACT", size) })
		s.profileWhile("download", 5, func() { s.download(last, tok) })
	}
	mib := float64(size) / (1 << 20)
	speed := func(ds []time.Duration) float64 { return mib / medianDuration(ds).Seconds() }
	ratio := func(base func(fileTimes) time.Duration, ds []time.Duration) float64 {
		var r []float64
		for i := range ds {
			r = append(r, base(files[i]).Seconds()/ds[i].Seconds())
		}
		return median(r)
	}
	of := func(f func(fileTimes) time.Duration) []time.Duration {
		var out []time.Duration
		for _, ft := range files {
			out = append(out, f(ft))
		}
		return out
	}
	write, warm, cold, served := func(f fileTimes) time.Duration { return f.write }, func(f fileTimes) time.Duration { return f.warm },
		func(f fileTimes) time.Duration { return f.cold }, func(f fileTimes) time.Duration { return f.served }
	total := mib * float64(b.N)
	b.ReportMetric(speed(ups), "upload-MiB/s")
	b.ReportMetric(float64(p99Duration(ups).Microseconds())/1000, "upload-p99-ms")
	b.ReportMetric(speed(of(write)), "file-write-MiB/s")
	b.ReportMetric(ratio(write, ups), "upload-ratio")
	b.ReportMetric(upCPU[0]/total, "upload-vault-cpu-ms/MiB")
	b.ReportMetric(upCPU[1]/total, "upload-gateway-cpu-ms/MiB")
	b.ReportMetric(speed(downs), "download-MiB/s")
	b.ReportMetric(float64(p99Duration(downs).Microseconds())/1000, "download-p99-ms")
	b.ReportMetric(downCPU[0]/total, "download-vault-cpu-ms/MiB")
	b.ReportMetric(downCPU[1]/total, "download-gateway-cpu-ms/MiB")
	b.ReportMetric(speed(of(warm)), "file-read-MiB/s")
	b.ReportMetric(ratio(warm, downs), "download-ratio")
	b.ReportMetric(speed(of(served)), "http-file-MiB/s")
	b.ReportMetric(ratio(served, downs), "download-vs-http-file-ratio")
	b.ReportMetric(speed(colds), "download-cold-MiB/s")
	b.ReportMetric(speed(of(cold)), "file-read-cold-MiB/s")
	b.ReportMetric(ratio(cold, colds), "download-cold-ratio")
	b.ReportMetric(procKiB(vp, "VmRSS")/1024, "vault-RSS-MiB")
	b.ReportMetric(procKiB(gp, "VmRSS")/1024, "gateway-RSS-MiB")
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// p99Duration is the nearest-rank 99th percentile (the largest of fewer
// than a hundred).
func p99Duration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}

// profileWhile runs work over and over for seconds while taking a CPU
// profile of the vault and of the gateway, when VIGIL_BENCH_PROFILES names a folder
// (else it does nothing): each is saved as {folder}/{name}-{process}.pprof
// and its heaviest functions are printed, with the CPU time each process
// spent per run of work.
func (s *benchStack) profileWhile(name string, seconds int, work func()) {
	dir := benchProfiles
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.tb.Fatal(err)
	}
	type got struct {
		proc string
		data []byte
		err  error
	}
	ch := make(chan got, len(s.debug))
	for proc, addr := range s.debug {
		go func() {
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds))
			if err != nil {
				ch <- got{proc, nil, err}
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			ch <- got{proc, data, err}
		}()
	}
	time.Sleep(100 * time.Millisecond) // the profiles start
	pids := map[string]int{"vault": s.vault.Process.Pid, "gateway": s.gateway.Process.Pid}
	before := map[string]float64{}
	for p, pid := range pids {
		before[p] = cpuMs(pid)
	}
	runs := 0
	for deadline := time.Now().Add(time.Duration(seconds)*time.Second - 200*time.Millisecond); time.Now().Before(deadline); runs++ {
		work()
	}
	for range s.debug {
		g := <-ch
		if g.err != nil {
			s.tb.Fatalf("profile of %s: %v", g.proc, g.err)
		}
		file := filepath.Join(dir, name+"-"+g.proc+".pprof")
		if err := os.WriteFile(file, g.data, 0o644); err != nil {
			s.tb.Fatal(err)
		}
		out, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", file).Output()
		fmt.Printf("\n== CPU profile of %s under %s (%d runs, %.1f ms CPU per run): %s\n%s", g.proc, name, runs,
			(cpuMs(pids[g.proc])-before[g.proc])/float64(max(runs, 1)), file, out)
	}
}

// company registers a company with the fake directory.
func (s *benchStack) company(dir *fakeDirectory, kind authz.CompanyKind) string {
	id := newID("bc")
	dir.mu.Lock()
	dir.companies["companies/"+id] = &directoryv1.Company{Name: "companies/" + id, LegalName: "Bench " + id, Kind: directoryv1.CompanyKind(kind)}
	dir.mu.Unlock()
	return id
}

// BenchmarkVaultUploadRSS: issue 9 — the vault's RSS growth while it takes
// a 100 MiB upload (bound raised for the test): target under 32 MiB.
func BenchmarkVaultUploadRSS(b *testing.B) {
	const size = 100 << 20
	id, dir, fakes, at := newFakeServices(b)
	defer fakes.Stop()
	s := startBenchStack(b, id, dir, fakes, at, b.TempDir(), 128<<20)
	sup := s.company(dir, authz.KindSupplier)
	tok, _ := s.token(sup, authz.KindSupplier, authz.RoleAdministrator, "en")
	s.upload(sup, tok, "ISO_9001", 1<<20) // warm up: connections, caches
	pid := s.vault.Process.Pid
	var growth float64
	b.ResetTimer()
	for range b.N {
		before := procKiB(pid, "VmRSS")
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // restart VmHWM
		s.upload(sup, tok, "KBIS_EXTRACT", size)
		growth = max(growth, (procKiB(pid, "VmHWM")-before)/1024)
	}
	b.StopTimer()
	b.ReportMetric(growth, "vault-RSS-growth-MiB")
	b.ReportMetric(procKiB(pid, "VmHWM")/1024, "vault-VmHWM-MiB")
}

// load runs ops requests from 50 concurrent clients and returns the
// throughput and the p99 latency.
func (s *benchStack) load(ops int, path, token string) (perSec float64, p99 time.Duration) {
	var next atomic.Int64
	lat := make([]time.Duration, ops)
	var wg sync.WaitGroup
	start := time.Now()
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(ops) {
					return
				}
				t0 := time.Now()
				req, _ := http.NewRequest("GET", s.url+path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := s.client.Do(req)
				if err != nil {
					s.tb.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					s.tb.Errorf("GET %s: %d", path, resp.StatusCode)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return float64(ops) / elapsed.Seconds(), lat[len(lat)*99/100]
}

// cpuMs is the CPU time (user + system) a process used so far, in ms.
func cpuMs(pid int) float64 {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) * 10 // clock ticks of 10 ms
}

// compare alternates rounds of the measured call and the baseline, so that
// a noisy machine affects both alike, and reports medians, with the CPU
// time each process spent per call (which a busy machine does not change).
func (s *benchStack) compare(b *testing.B, rounds, ops int, path, baseline, token string) {
	var ratios, p99s, baseP99s, rates, baseRates, vaultCPU, gwCPU, baseVaultCPU, baseGwCPU []float64
	s.load(ops/2, path, token)
	s.load(ops/2, baseline, token)
	vp, gp := s.vault.Process.Pid, s.gateway.Process.Pid
	measured := func(round int) (float64, time.Duration) {
		v0, g0 := cpuMs(vp), cpuMs(gp)
		stopProfiles := s.profile(round == 0, b.Name())
		r, p := s.load(ops, path, token)
		stopProfiles()
		vaultCPU, gwCPU = append(vaultCPU, (cpuMs(vp)-v0)/float64(ops)), append(gwCPU, (cpuMs(gp)-g0)/float64(ops))
		return r, p
	}
	base := func() (float64, time.Duration) {
		v0, g0 := cpuMs(vp), cpuMs(gp)
		r, p := s.load(ops, baseline, token)
		baseVaultCPU, baseGwCPU = append(baseVaultCPU, (cpuMs(vp)-v0)/float64(ops)), append(baseGwCPU, (cpuMs(gp)-g0)/float64(ops))
		return r, p
	}
	for round := range rounds {
		// The order alternates, so that a machine busy with other work
		// weighs on both alike.
		var r, br float64
		var p, bp time.Duration
		if round%2 == 0 {
			r, p = measured(round)
			br, bp = base()
		} else {
			br, bp = base()
			r, p = measured(round)
		}
		ratios, p99s, baseP99s, rates, baseRates = append(ratios, r/br), append(p99s, float64(p.Microseconds())/1000),
			append(baseP99s, float64(bp.Microseconds())/1000), append(rates, r), append(baseRates, br)
		b.Logf("round %d: %.0f/s p99 %s, baseline %.0f/s p99 %s, ratio %.2f", round+1, r, p, br, bp, r/br)
	}
	b.ReportMetric(median(ratios), "throughput-ratio")
	b.ReportMetric(median(p99s), "p99-ms")
	b.ReportMetric(median(baseP99s), "baseline-p99-ms")
	b.ReportMetric(median(rates), "req/s")
	b.ReportMetric(median(baseRates), "baseline-req/s")
	b.ReportMetric(median(vaultCPU), "vault-cpu-ms/req")
	b.ReportMetric(median(gwCPU), "gateway-cpu-ms/req")
	b.ReportMetric(median(baseVaultCPU), "baseline-vault-cpu-ms/req")
	b.ReportMetric(median(baseGwCPU), "baseline-gateway-cpu-ms/req")
}

// profile, when on and VIGIL_BENCH_PROFILES is set, takes CPU and
// allocation profiles of the vault and the gateway for 3 s, saved as
// <name>-<process>.pprof and <name>-<process>.allocs.pprof; stop waits for
// them.
func (s *benchStack) profile(on bool, name string) (stop func()) {
	if !on || benchProfiles == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	for proc, addr := range s.debug {
		base := filepath.Join(benchProfiles, strings.ReplaceAll(name, "/", "-")+"-"+proc)
		for suffix, take := range map[string]func(string, time.Duration, string) error{".pprof": benchmem.CPUProfile, ".allocs.pprof": benchmem.AllocsProfile} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := take(addr, 3*time.Second, base+suffix); err != nil {
					s.tb.Errorf("profile %s: %v", proc, err)
				}
			}()
		}
	}
	return wg.Wait
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// trivialCall is the baseline: an authenticated call through the gateway
// that reads a few records (the platform catalog's first type).
const trivialCall = "/v1/documentTypes?pageSize=1"

// BenchmarkVaultListDocuments: issue 9 — a visibility-checked list of a
// supplier's documents by a customer's user (token, grant from the cache,
// relationship and collected types from the store), 50 concurrent clients
// through the gateway, against the trivial authenticated call: target ≥ 0.5.
func BenchmarkVaultListDocuments(b *testing.B) {
	id, dir, fakes, at := newFakeServices(b)
	defer fakes.Stop()
	s := startBenchStack(b, id, dir, fakes, at, b.TempDir(), 1<<20)
	cust, sup := s.company(dir, authz.KindOperator), s.company(dir, authz.KindSupplier)
	s.link(dir, cust, sup)
	adminTok, _ := s.token(cust, authz.KindOperator, authz.RoleAdministrator, "en")
	supTok, _ := s.token(sup, authz.KindSupplier, authz.RoleAdministrator, "en")
	viewerTok, viewer := s.token(cust, authz.KindOperator, authz.RoleStandard, "en")
	s.id.setGrant("users/"+viewer, "companies/"+cust, authz.LevelView)
	for _, t := range []string{"KBIS_EXTRACT", "URSSAF_VIGILANCE", "TAX_COMPLIANCE", "CIVIL_LIABILITY_INSURANCE", "ISO_9001"} {
		s.mustDo("POST", "/v1/companies/"+cust+"/requirements", adminTok, strings.NewReader(`{"documentType":"documentTypes/`+t+`","scope":"REQUIREMENT_SCOPE_ALL_SUPPLIERS"}`), "application/json")
		s.upload(sup, supTok, t, 20_000)
	}
	path := "/v1/companies/" + cust + "/suppliers/" + sup + "/documents"
	var l map[string]any
	_ = json.Unmarshal(s.mustDo("GET", path, viewerTok, nil, ""), &l)
	if docs, _ := l["documents"].([]any); len(docs) != 5 {
		b.Fatalf("the viewer sees %d documents", len(docs))
	}
	b.ResetTimer()
	for range b.N {
		s.compare(b, 5, 4000, path, trivialCall, viewerTok)
	}
}

// link tells the vault, as directory would, that sup is a supplier of cust.
func (s *benchStack) link(dir *fakeDirectory, cust, sup string) {
	res := map[string]string{feed.ResourceCustomer: "companies/" + cust, feed.ResourceSupplier: "companies/" + sup}
	dir.emit(feed.Event{Type: feed.TypeSupplierLinked, Company: "companies/" + cust, Resources: res})
	deadline := time.Now().Add(10 * time.Second)
	tok, _ := s.token(cust, authz.KindOperator, authz.RoleAdministrator, "en")
	for {
		if code, _ := s.do("GET", "/v1/companies/"+cust+"/suppliers/"+sup+"/compliance", tok, nil, ""); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatal("the link did not reach the vault")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scaleTypes are the ten company types of the 10,000-supplier customer:
// nine seeded, the tenth added through the gateway and timed.
var scaleTypes = []string{"KBIS_EXTRACT", "URSSAF_VIGILANCE", "TAX_COMPLIANCE", "CIVIL_LIABILITY_INSURANCE", "PROFESSIONAL_INDEMNITY_INSURANCE",
	"FOREIGN_WORKERS_LIST", "ISO_9001", "ISO_14001", "ISO_45001", "ASBESTOS_SURVEY"}

// seedScale writes a customer with suppliers linked and a mix of current
// documents straight into the store, then adds nine requirements through
// the domain (each fans out over every supplier in its transaction).
func seedScale(b *testing.B, dataDir string, suppliers int, fakesAt string, id *fakeIdentity, dir *fakeDirectory) (customer string) {
	customer = "scalecust"
	st, err := boltstore.Open(filepath.Join(dataDir, "vault", "vault.db"))
	if err != nil {
		b.Fatal(err)
	}
	day0, _ := vault.ParseDate("2026-01-01")
	err = st.Update(context.Background(), func(tx vault.Tx) error {
		if err := tx.PutCompany(&vault.Company{ID: customer, Name: "Scale Customer", TimeZone: "Europe/Paris"}); err != nil {
			return err
		}
		if err := tx.PutDocumentType(&vault.DocumentType{ID: "ASBESTOS_SURVEY", Subject: vault.SubjectCompany, Category: vault.CategoryRegulatory,
			Texts: map[string]vault.Text{"en": {Name: "Asbestos survey"}, "fr": {Name: "Diagnostic amiante"}}}); err != nil {
			return err
		}
		for i := range suppliers {
			sup := fmt.Sprintf("s%05d", i)
			if err := tx.PutCompany(&vault.Company{ID: sup, Name: fmt.Sprintf("Supplier %05d", (i*7919)%suppliers)}); err != nil {
				return err
			}
			if err := tx.PutRelationship(customer, sup); err != nil {
				return err
			}
			// Each supplier holds most documents, valid until dates spread
			// over two years: every status appears as days pass.
			for j, t := range scaleTypes[:9] {
				if (i+j)%7 == 0 {
					continue
				}
				until := day0 + vault.Date((i*13+j*37)%730)
				d := &vault.Document{ID: fmt.Sprintf("d%05d%d", i, j), Supplier: sup, DocumentType: t, FileName: "x.pdf", ContentType: "application/pdf",
					Size: 1000, SHA256: strings.Repeat("a", 64), ValidFrom: until - 365, ValidUntil: until, Version: 1, State: vault.StateCurrent,
					UploadedBy: "companies/" + sup + "/users/u", CreateTime: time.Now().UTC()}
				if err := tx.PutDocument(d); err != nil {
					return err
				}
			}
		}
		return nil
	})
	_ = st.Close()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := app.ParseConfig([]string{"--data-dir", dataDir, "--metrics-addr", "", "--identity-addr", fakesAt, "--directory-addr", fakesAt, "--notify-addr", fakesAt})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *vault.Service, 1)
	done := make(chan error, 1)
	lis := servertest.Listen()
	go func() {
		done <- app.RunWith(ctx, cfg, zap.NewNop(), app.Options{Listener: lis, NoFollow: true, Started: func(s *vault.Service) { started <- s }})
	}()
	svc := <-started
	admin := auth.Principal{User: "users/seed", Company: "companies/" + customer, CompanyKind: authz.KindOperator, Role: authz.RoleAdministrator}
	for _, t := range scaleTypes[:9] {
		if _, err := svc.CreateRequirement(ctx, admin, customer, vault.Requirement{DocumentType: t, Scope: vault.ScopeAllSuppliers}); err != nil {
			b.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	dir.mu.Lock()
	dir.companies["companies/"+customer] = &directoryv1.Company{Name: "companies/" + customer, LegalName: "Scale Customer", Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR}
	dir.mu.Unlock()
	return customer
}

// BenchmarkVaultComplianceAtScale: issue 10 — a customer with 10,000
// suppliers × 10 requirements (100,000 entries): adding the tenth
// requirement for every supplier (target: statuses current within 5 s),
// the first page of 100 of its compliance worst first through the gateway,
// 50 concurrent clients (target p99 < 50 ms, throughput ≥ 0.3 of the
// trivial authenticated call), and the vault's RSS with that data loaded.
func BenchmarkVaultComplianceAtScale(b *testing.B) {
	const suppliers = 10_000
	id, dir, fakes, at := newFakeServices(b)
	defer fakes.Stop()
	data := b.TempDir()
	seedStart := time.Now()
	customer := seedScale(b, data, suppliers, at, id, dir)
	seeded := time.Since(seedStart)
	s := startBenchStack(b, id, dir, fakes, at, data, 1<<20)
	tok, _ := s.token(customer, authz.KindOperator, authz.RoleAdministrator, "en")
	b.ResetTimer()
	for n := range b.N {
		if n == 0 {
			start := time.Now()
			body := `{"documentType":"documentTypes/` + scaleTypes[9] + `","scope":"REQUIREMENT_SCOPE_ALL_SUPPLIERS"}`
			s.mustDo("POST", "/v1/companies/"+customer+"/requirements", tok, strings.NewReader(body), "application/json")
			added := time.Since(start)
			// Current when the call returns: every supplier misses the new type.
			var l map[string]any
			_ = json.Unmarshal(s.mustDo("GET", "/v1/companies/"+customer+"/compliance?pageSize=100&statusFilter=compliant", tok, nil, ""), &l)
			tot, _ := l["totals"].(map[string]any)
			if tot["supplierCount"] != float64(suppliers) || tot["nonCompliantCount"] != float64(suppliers) || l["summaries"] != nil {
				b.Fatalf("after the tenth requirement: totals %v", tot)
			}
			b.ReportMetric(added.Seconds(), "s-add-requirement-10k")
		}
		s.compare(b, 5, 3000, "/v1/companies/"+customer+"/compliance?pageSize=100", trivialCall, tok)
	}
	b.StopTimer()
	b.ReportMetric(procKiB(s.vault.Process.Pid, "VmRSS")/1024, "vault-RSS-MiB")
	b.ReportMetric(procKiB(s.vault.Process.Pid, "VmHWM")/1024, "vault-VmHWM-MiB")
	b.ReportMetric(seeded.Seconds(), "s-seed")
}
