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
