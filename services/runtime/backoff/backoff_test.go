package backoff

import (
	"testing"
	"time"
)

// TestDelayDoublesCapsAndJitters: the n-th wait lies within [exp/2, exp]
// where exp is base doubled n-1 times, capped at max, and varies.
func TestDelayDoublesCapsAndJitters(t *testing.T) {
	base, max := 30*time.Second, time.Hour
	for n := 1; n <= 12; n++ {
		want := min(base<<(n-1), max)
		seen := map[time.Duration]bool{}
		for range 200 {
			got := Delay(base, max, n)
			if got < want/2 || got > want {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, got, want/2, want)
			}
			seen[got] = true
		}
		if len(seen) < 2 {
			t.Errorf("Delay(%d) has no jitter: %d distinct values", n, len(seen))
		}
	}
	if got := Delay(base, max, 1000); got > max {
		t.Fatalf("a long run of failures waits %v, more than max", got)
	}
}

func TestRetry(t *testing.T) {
	r := Retry{Base: 100 * time.Millisecond, Max: 400 * time.Millisecond}
	for i, want := range []time.Duration{100, 200, 400, 400} {
		want *= time.Millisecond
		if got := r.Next(); got < want/2 || got > want {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i+1, got, want/2, want)
		}
	}
	r.Reset()
	if got := r.Next(); got > 100*time.Millisecond {
		t.Fatalf("after Reset the wait is %v", got)
	}
}
