package throttle

import (
	"testing"
	"time"
)

func TestProgressiveDelayThenLock(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(AccountConfig, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		l.Failure("a")
		if w, _ := l.Wait("a"); w != 0 {
			t.Fatalf("free failure %d delayed %v", i+1, w)
		}
	}
	var prev time.Duration
	for i := 4; i < 10; i++ {
		l.Failure("a")
		w, locked := l.Wait("a")
		if w <= prev || locked {
			t.Fatalf("failure %d: wait %v (prev %v) locked %v", i, w, prev, locked)
		}
		prev = w
		now = now.Add(w)
	}
	l.Failure("a")
	w, locked := l.Wait("a")
	if !locked || w != 15*time.Minute {
		t.Fatalf("10th failure: wait %v locked %v", w, locked)
	}
	if w, _ := l.Wait("b"); w != 0 {
		t.Fatal("other key affected")
	}
	now = now.Add(15 * time.Minute)
	if w, _ := l.Wait("a"); w != 0 {
		t.Fatalf("still locked after lock period: %v", w)
	}
	l.Failure("c")
	l.Success("c")
	if w, _ := l.Wait("c"); w != 0 {
		t.Fatal("success did not reset")
	}
}
