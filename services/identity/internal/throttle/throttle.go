// Package throttle slows and then locks repeated sign-in failures (R-ID-5),
// keyed by account or by client address. State is in memory: a restart
// forgets it, which costs an attacker nothing it could not get by waiting.
package throttle

import (
	"context"
	"sync"
	"time"
)

// Config says how failures are punished.
type Config struct {
	// FreeFailures may happen without delay.
	FreeFailures int
	// BaseDelay is the wait after the first failure beyond the free ones; it
	// doubles with each further failure up to MaxDelay.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// LockAfter failures lock the key for LockFor.
	LockAfter int
	LockFor   time.Duration
	// Forget drops a key's failures after this long without one.
	Forget time.Duration
	// MaxKeys bounds memory; past it, forgotten keys are swept.
	MaxKeys int
}

// AccountConfig punishes failures on one account: 3 free, then 1 s doubling
// to 30 s, and a 15-minute lock at 10.
var AccountConfig = Config{FreeFailures: 3, BaseDelay: time.Second, MaxDelay: 30 * time.Second,
	LockAfter: 10, LockFor: 15 * time.Minute, Forget: 15 * time.Minute, MaxKeys: 100_000}

// AddressConfig punishes failures from one client address, which may be
// shared (NAT): more free failures, a lock at 100.
var AddressConfig = Config{FreeFailures: 20, BaseDelay: 500 * time.Millisecond, MaxDelay: 10 * time.Second,
	LockAfter: 100, LockFor: 15 * time.Minute, Forget: 15 * time.Minute, MaxKeys: 100_000}

type entry struct {
	failures int
	inflight int // attempts begun and not yet settled
	last     time.Time
}

// Limiter tracks failures per key.
type Limiter struct {
	cfg Config
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
	// settled is closed and replaced whenever an attempt settles, waking
	// the attempts that wait their turn (BeginWait).
	settled chan struct{}
}

// New returns a limiter using now as its clock.
func New(cfg Config, now func() time.Time) *Limiter {
	return &Limiter{cfg: cfg, now: now, entries: map[string]*entry{}, settled: make(chan struct{})}
}

// Wait returns how long key must still wait before its next attempt (0: go
// ahead) and whether it is locked rather than merely slowed. It reserves
// nothing: use Begin where the attempt itself is what must be limited.
func (l *Limiter) Wait(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.lookup(key, now)
	if e == nil {
		return 0, false
	}
	w, locked, _ := l.wait(e, now)
	return w, locked
}

// Begin reserves an attempt on key, or refuses it with how long to wait
// and whether key is locked. Checking and reserving are one step under the
// lock, and an attempt in flight counts as a failure until it settles: N
// parallel attempts cannot all pass the check a single one would (an
// attempt takes a ~50 ms hash, long enough for many to start).
func (l *Limiter) Begin(key string) (*Attempt, time.Duration, bool) {
	a, w, locked, _, _ := l.begin(key)
	return a, w, locked
}

// begin is Begin, also telling whether only attempts in flight stand in the
// way (busy) and the channel that closes when one of them settles.
func (l *Limiter) begin(key string) (a *Attempt, w time.Duration, locked, busy bool, settled <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.lookup(key, now)
	if e != nil {
		if w, locked, busy := l.wait(e, now); w > 0 {
			return nil, w, locked, busy, l.settled
		}
	} else {
		e = l.add(key, now)
	}
	e.inflight++
	return &Attempt{l: l, key: key}, 0, false, false, nil
}

// BeginWait is Begin for an attempt that may wait its turn: while only
// attempts in flight stand in its way (the key's settled failures alone
// would let it through), it waits up to patience for one of them to settle
// and tries again. Correct sign-ins racing to one account so queue instead
// of being refused as if they had failed; guesses are still refused, as
// soon as those before them have failed. busy reports a refusal due only to
// attempts in flight, after patience ran out.
func (l *Limiter) BeginWait(ctx context.Context, key string, patience time.Duration) (a *Attempt, w time.Duration, locked, busy bool) {
	timer := time.NewTimer(patience)
	defer timer.Stop()
	for {
		a, w, locked, busy, settled := l.begin(key)
		if a != nil || !busy {
			return a, w, locked, false
		}
		select {
		case <-settled:
		case <-timer.C:
			return nil, w, false, true
		case <-ctx.Done():
			return nil, w, false, true
		}
	}
}

// wait is how long e must wait: after its settled failures, counted from
// the last one; and, while attempts are in flight, as if they all failed
// now. busy says the settled failures alone would not make it wait.
func (l *Limiter) wait(e *entry, now time.Time) (time.Duration, bool, bool) {
	settledWait := e.last.Add(l.penalty(e.failures)).Sub(now)
	w := settledWait
	if e.inflight > 0 {
		w = max(w, l.penalty(e.failures+e.inflight))
	}
	locked := e.failures >= l.cfg.LockAfter && w > 0
	return max(w, 0), locked, w > 0 && settledWait <= 0 && !locked
}

// lookup returns key's entry, with failures old enough to be forgiven
// cleared; nil (and the entry dropped) when nothing is left of it.
func (l *Limiter) lookup(key string, now time.Time) *entry {
	e, ok := l.entries[key]
	if !ok {
		return nil
	}
	age := now.Sub(e.last)
	if e.failures < l.cfg.LockAfter && age >= l.cfg.Forget || e.failures >= l.cfg.LockAfter && age >= l.cfg.LockFor {
		e.failures = 0
	}
	if e.failures == 0 && e.inflight == 0 {
		delete(l.entries, key)
		return nil
	}
	return e
}

func (l *Limiter) add(key string, now time.Time) *entry {
	if len(l.entries) >= l.cfg.MaxKeys {
		l.sweep(now)
	}
	e := &entry{}
	l.entries[key] = e
	return e
}

func (l *Limiter) penalty(failures int) time.Duration {
	if failures >= l.cfg.LockAfter {
		return l.cfg.LockFor
	}
	n := failures - l.cfg.FreeFailures
	if n <= 0 {
		return 0
	}
	d := l.cfg.BaseDelay
	for i := 1; i < n && d < l.cfg.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.cfg.MaxDelay)
}

// Failure records a failed attempt that was not reserved with Begin.
func (l *Limiter) Failure(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail(key, l.now())
}

func (l *Limiter) fail(key string, now time.Time) {
	e := l.lookup(key, now)
	if e == nil {
		e = l.add(key, now)
	}
	e.failures++
	e.last = now
}

// Success forgets key's failures.
func (l *Limiter) Success(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.succeed(key)
}

func (l *Limiter) succeed(key string) {
	if e, ok := l.entries[key]; ok {
		e.failures = 0
		if e.inflight == 0 {
			delete(l.entries, key)
		}
	}
}

// Attempt is one attempt reserved by Begin. Settle it once with Fail or
// Succeed, or Release it without a verdict; later calls do nothing, so a
// deferred Release is safe. A nil Attempt does nothing.
type Attempt struct {
	l    *Limiter
	key  string
	done bool
}

// Fail settles the attempt as a failure.
func (a *Attempt) Fail() { a.settle(func(now time.Time) { a.l.fail(a.key, now) }) }

// Succeed settles the attempt as a success: key's failures are forgotten.
func (a *Attempt) Succeed() { a.settle(func(time.Time) { a.l.succeed(a.key) }) }

// Release ends the attempt without counting it either way.
func (a *Attempt) Release() { a.settle(func(now time.Time) { a.l.lookup(a.key, now) }) }

// settle ends the reservation and applies the verdict in one step under
// the lock, so that no other Begin sees the attempt gone but not counted.
func (a *Attempt) settle(verdict func(now time.Time)) {
	if a == nil {
		return
	}
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	if e, ok := a.l.entries[a.key]; ok && e.inflight > 0 {
		e.inflight--
	}
	verdict(a.l.now())
	close(a.l.settled)
	a.l.settled = make(chan struct{})
}

func (l *Limiter) sweep(now time.Time) {
	for k, e := range l.entries {
		if e.inflight == 0 && now.Sub(e.last) >= max(l.cfg.Forget, l.cfg.LockFor) {
			delete(l.entries, k)
		}
	}
	if len(l.entries) >= l.cfg.MaxKeys {
		// Still full of live keys: drop everything rather than grow without
		// bound; an attacker able to fill it gains one fresh start.
		clear(l.entries)
	}
}
