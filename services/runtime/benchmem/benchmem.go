// Package benchmem measures memory for benchmarks: a process's peak
// resident set size (the kernel's VmHWM, Linux) and a sampled peak of this
// process's Go heap.
package benchmem

import (
	"fmt"
	"os"
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
