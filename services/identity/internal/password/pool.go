package password

import (
	"context"
	"sync/atomic"

	"github.com/vigil/vigil/services/runtime/errs"
)

// Pool bounds password hashing: at most `slots` hashes run at once (each
// argon2id hash holds 19 MiB), at most `queue` more wait, and anyone beyond
// is refused at once with RESOURCE_EXHAUSTED (HTTP 429), so that a burst of
// logins cannot exhaust memory or CPU.
type Pool struct {
	admit   chan struct{} // capacity slots+queue: everyone running or waiting
	slots   chan struct{} // capacity slots: everyone running
	refused atomic.Uint64
}

// NewPool returns a pool of slots (≥1) with a wait queue of queue (≥0).
func NewPool(slots, queue int) *Pool {
	slots = max(slots, 1)
	queue = max(queue, 0)
	return &Pool{admit: make(chan struct{}, slots+queue), slots: make(chan struct{}, slots)}
}

// ErrBusy is the error of a call refused for lack of capacity.
var ErrBusy = errs.ResourceExhausted("HASHING_CAPACITY", "too many sign-in attempts right now; retry in a moment")

// Do runs fn in a slot, waiting in the queue when every slot is taken.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	select {
	case p.admit <- struct{}{}:
	default:
		p.refused.Add(1)
		return ErrBusy
	}
	defer func() { <-p.admit }()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	fn()
	return nil
}

// Waiting is how many hashes wait for a slot now (the queue's depth).
func (p *Pool) Waiting() int { return max(len(p.admit)-len(p.slots), 0) }

// Refused counts the calls refused for lack of capacity since the start.
func (p *Pool) Refused() uint64 { return p.refused.Load() }
