package throttle

import (
	"context"
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

func TestBeginCountsAttemptsInFlight(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(AccountConfig, func() time.Time { return now })
	// Parallel attempts, none settled yet: only as many as would pass one
	// at a time (3 free failures, then a 4th attempt) are let through.
	var begun []*Attempt
	for i := 0; i < 10; i++ {
		if a, w, _ := l.Begin("a"); a != nil {
			begun = append(begun, a)
		} else if w <= 0 {
			t.Fatalf("attempt %d refused without a wait", i)
		}
	}
	if len(begun) != AccountConfig.FreeFailures+1 {
		t.Fatalf("%d attempts begun in parallel, want %d", len(begun), AccountConfig.FreeFailures+1)
	}
	for _, a := range begun {
		a.Fail()
		a.Release() // settled already: no effect
	}
	if w, _ := l.Wait("a"); w != time.Second {
		t.Fatalf("after 4 failures: wait %v, want 1s", w)
	}
	// A released attempt counts for nothing; a success clears the failures.
	now = now.Add(time.Second)
	a, _, _ := l.Begin("a")
	a.Release()
	a, _, _ = l.Begin("a")
	a.Succeed()
	if w, _ := l.Wait("a"); w != 0 || len(l.entries) != 0 {
		t.Fatalf("after success: wait %v, %d entries", w, len(l.entries))
	}
	var nilAttempt *Attempt
	nilAttempt.Fail()
}

// TestBeginWaitQueuesAttemptsInFlight: attempts refused only because others
// are in flight wait for them (correct sign-ins racing to one account are
// not answered "too many failed sign-ins", issue 14); once those fail, the
// waiting ones are refused as slowed, not let through.
func TestBeginWaitQueuesAttemptsInFlight(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(AccountConfig, func() time.Time { return now })
	var first []*Attempt
	for i := 0; i <= AccountConfig.FreeFailures; i++ {
		a, _, _ := l.Begin("a")
		first = append(first, a)
	}
	if a, w, _ := l.Begin("a"); a != nil || w <= 0 {
		t.Fatal("a fifth attempt in flight must not begin at once")
	}
	got := make(chan *Attempt)
	go func() {
		a, _, _, busy := l.BeginWait(context.Background(), "a", 5*time.Second)
		if busy {
			t.Error("refused as busy although an attempt settled")
		}
		got <- a
	}()
	first[0].Succeed()
	if a := <-got; a == nil {
		t.Fatal("the waiting attempt did not begin once another succeeded")
	} else {
		a.Succeed()
	}
	// All in flight fail: a waiting attempt is refused as slowed, not busy.
	fourth, _, _ := l.Begin("a")
	first = append(first, fourth)
	done := make(chan bool)
	go func() {
		a, w, _, busy := l.BeginWait(context.Background(), "a", 5*time.Second)
		done <- a == nil && w > 0 && !busy
	}()
	for _, a := range first[1:] {
		a.Fail()
	}
	if !<-done {
		t.Fatal("after failures the waiting attempt must be refused with a delay")
	}
	// Patience runs out while attempts stay in flight: busy.
	l2 := New(AccountConfig, func() time.Time { return now })
	for i := 0; i <= AccountConfig.FreeFailures; i++ {
		l2.Begin("b")
	}
	if a, _, locked, busy := l2.BeginWait(context.Background(), "b", 10*time.Millisecond); a != nil || !busy || locked {
		t.Fatalf("want busy, got attempt %v locked %v busy %v", a, locked, busy)
	}
}
