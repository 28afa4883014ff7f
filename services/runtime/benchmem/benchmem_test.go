package benchmem

import (
	"os"
	"testing"
	"time"
)

func TestPeakRSSAndHeap(t *testing.T) {
	stop := SampleHeap(time.Millisecond)
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	time.Sleep(5 * time.Millisecond)
	if peak := stop(); peak < 8<<20 {
		t.Fatalf("heap peak %d bytes while 8 MiB was live", peak)
	}
	_ = buf[len(buf)-1]
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	self, ok := PeakRSSMiB(0)
	byPid, ok2 := PeakRSSMiB(os.Getpid())
	if !ok || !ok2 || self < 8 || byPid < 8 {
		t.Fatalf("peak RSS self %v (%v), by pid %v (%v); want at least the 8 MiB touched", self, ok, byPid, ok2)
	}
}

func TestCPUTime(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before, ok := CPUTime(0)
	if !ok {
		t.Fatal("no CPU time for this process")
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if after, _ := CPUTime(os.Getpid()); after-before >= 20*time.Millisecond {
			return
		}
		for i := 0; i < 1e6; i++ {
			busy++
		}
	}
	t.Fatal("CPU time did not grow while the test spun for 5 s")
}

var busy int
