// Package throttle slows and then locks repeated sign-in failures (R-ID-5),
// keyed by account or by client address. State is in memory: a restart
// forgets it, which costs an attacker nothing it could not get by waiting.
package throttle

import (
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
	last     time.Time
}

// Limiter tracks failures per key.
type Limiter struct {
	cfg Config
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

// New returns a limiter using now as its clock.
func New(cfg Config, now func() time.Time) *Limiter {
	return &Limiter{cfg: cfg, now: now, entries: map[string]*entry{}}
}

// Wait returns how long key must still wait before its next attempt (0: go
// ahead) and whether it is locked rather than merely slowed.
func (l *Limiter) Wait(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok {
		return 0, false
	}
	now := l.now()
	if now.Sub(e.last) >= l.cfg.Forget && e.failures < l.cfg.LockAfter || now.Sub(e.last) >= l.cfg.LockFor && e.failures >= l.cfg.LockAfter {
		delete(l.entries, key)
		return 0, false
	}
	until := e.last.Add(l.penalty(e.failures))
	if !now.Before(until) {
		return 0, false
	}
	return until.Sub(now), e.failures >= l.cfg.LockAfter
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

// Failure records a failed attempt.
func (l *Limiter) Failure(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e, ok := l.entries[key]
	if !ok {
		if len(l.entries) >= l.cfg.MaxKeys {
			l.sweep(now)
		}
		e = &entry{}
		l.entries[key] = e
	} else if now.Sub(e.last) >= l.cfg.Forget && e.failures < l.cfg.LockAfter {
		e.failures = 0
	}
	e.failures++
	e.last = now
}

// Success forgets key's failures.
func (l *Limiter) Success(key string) {
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}

func (l *Limiter) sweep(now time.Time) {
	for k, e := range l.entries {
		if now.Sub(e.last) >= max(l.cfg.Forget, l.cfg.LockFor) {
			delete(l.entries, k)
		}
	}
	if len(l.entries) >= l.cfg.MaxKeys {
		// Still full of live keys: drop everything rather than grow without
		// bound; an attacker able to fill it gains one fresh start.
		clear(l.entries)
	}
}
