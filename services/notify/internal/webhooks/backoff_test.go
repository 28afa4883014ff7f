package webhooks

import (
	"testing"
	"time"
)

// TestBackoffExponentialWithJitter: the wait doubles per failure up to the
// bound, each one between half and all of it, and not all alike.
func TestBackoffExponentialWithJitter(t *testing.T) {
	d := NewDispatcher(DispatcherOptions{}, DispatcherConfig{BackoffBase: time.Second, BackoffMax: 10 * time.Second})
	for n, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 80: 10 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			w := d.backoff(n)
			if w < full/2 || w > full {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, w, full/2, full)
			}
			seen[w] = true
		}
		if len(seen) < 10 {
			t.Fatalf("backoff(%d) has no jitter: %v", n, seen)
		}
	}
}

// TestDefaultSchedule: by default a delivery is retried for 3 days and an
// endpoint failing for 3 days is disabled (issue 13).
func TestDefaultSchedule(t *testing.T) {
	var c DispatcherConfig
	c.complete()
	if c.RetryFor != 72*time.Hour || c.DisableAfter != 72*time.Hour || c.BackoffBase != 30*time.Second || c.BackoffMax != time.Hour {
		t.Fatalf("defaults %+v", c)
	}
}
