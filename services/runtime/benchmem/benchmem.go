// Package benchmem measures memory for benchmarks: a process's peak
// resident set size (the kernel's VmHWM, Linux) and a sampled peak of this
// process's Go heap.
package benchmem

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// PeakRSSMiB is the peak resident set size of process pid (0: this
// process), in MiB; ok is false where /proc is not available.
func PeakRSSMiB(pid int) (mib float64, ok bool) {
	who := "self"
	if pid != 0 {
		who = strconv.Itoa(pid)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%s/status", who))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, found := strings.CutPrefix(line, "VmHWM:"); found {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err == nil
			}
		}
	}
	return 0, false
}

// ResetPeakRSS restarts this process's VmHWM from its current RSS, so that
// a benchmark measures its own phase only (Linux; ignored elsewhere).
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// SampleHeap samples this process's in-use heap every interval until the
// returned stop is called; stop returns the peak in bytes.
func SampleHeap(every time.Duration) (stop func() uint64) {
	var peak atomic.Uint64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(quit); <-done; return peak.Load() }
}

// CPUTime is the CPU time (user + system) process pid (0: this process)
// has used so far; ok is false where /proc is not available. Benchmarks
// divide its growth by the requests served to report CPU per request per
// process, which a machine busy with other work changes little.
func CPUTime(pid int) (d time.Duration, ok bool) {
	who := "self"
	if pid != 0 {
		who = strconv.Itoa(pid)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%s/stat", who))
	if err != nil {
		return 0, false
	}
	// The fields after the command, which may hold spaces, in parentheses.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 || i+2 > len(raw) {
		return 0, false
	}
	f := strings.Fields(string(raw[i+2:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, err1 == nil && err2 == nil
}

// CPUProfile takes a CPU profile of d from the profiler a process serves
// at debugAddr (runtime/debug, VIGIL_DEBUG_ADDR) and writes it to file;
// it returns when the profile is written.
func CPUProfile(debugAddr string, d time.Duration, file string) error {
	return fetchProfile(debugAddr, "profile", d, file)
}

// AllocsProfile is CPUProfile for the allocations made during d (go tool
// pprof -sample_index=alloc_space or alloc_objects).
func AllocsProfile(debugAddr string, d time.Duration, file string) error {
	return fetchProfile(debugAddr, "allocs", d, file)
}

func fetchProfile(debugAddr, kind string, d time.Duration, file string) error {
	secs := max(1, int(d/time.Second))
	client := &http.Client{Timeout: d + time.Minute}
	resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", debugAddr, kind, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", debugAddr, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
