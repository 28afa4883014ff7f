// Package backoff is the one way Vigil waits between attempts: exponential,
// capped, with jitter, so that the clients of a server that failed do not
// all come back at the same instant when it recovers (an SMTP server, a
// webhook endpoint, a service restarting under its followers).
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay is the wait after the n-th consecutive failure (n ≥ 1): base
// doubled per earlier failure, capped at max, with "equal jitter": half of
// it fixed, the other half random. It is never more than the exponential
// wait itself, nor less than half of it.
func Delay(base, max time.Duration, n int) time.Duration {
	exp := base
	for i := 1; i < n && exp < max; i++ {
		exp *= 2
	}
	exp = min(exp, max)
	half := exp / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// Retry counts a retry loop's consecutive failures: Next is the wait after
// one more, Reset forgets them after a success. The zero Retry is not
// usable: set Base and Max.
type Retry struct {
	Base, Max time.Duration
	failures  int
}

// Next counts one more failure and returns the wait before the next attempt.
func (r *Retry) Next() time.Duration {
	r.failures++
	return Delay(r.Base, r.Max, r.failures)
}

// Reset forgets the failures: the next wait is Base's again.
func (r *Retry) Reset() { r.failures = 0 }
