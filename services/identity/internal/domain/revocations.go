package domain

import (
	"context"
	"errors"
	"sync"
)

// wake wakes every watcher of the revocation log when events commit: each
// waiter holds the current channel, which is closed and replaced on notify.
type wake struct {
	mu sync.Mutex
	ch chan struct{}
}

func (f *wake) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch
}

func (f *wake) notify() {
	f.mu.Lock()
	close(f.ch)
	f.ch = make(chan struct{})
	f.mu.Unlock()
}

const watchBatch = 500

// ErrOutOfRange is WatchRevocations' answer to a resume point outside the
// retained log; handlers send it as OUT_OF_RANGE, which runtime/errs has no
// kind for.
var ErrOutOfRange = errors.New("resume point is outside the retained revocation log; restart from 0")

// WatchRevocations sends the retained events after `after`, then every new
// one as it commits, until ctx ends or send fails (R-ID-7). A resume point
// older than the retained log, or beyond its end, is OUT_OF_RANGE.
func (s *Service) WatchRevocations(ctx context.Context, after uint64, send func(*RevocationEvent) error) error {
	var pruned, last uint64
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		pruned, last, err = tx.RevocationBounds()
		return err
	}); err != nil {
		return err
	}
	if after != 0 && (after < pruned || after > last) {
		return ErrOutOfRange
	}
	for {
		// Take the wake-up channel before reading, so that an event
		// committed during the read still wakes us.
		wake := s.revWake.wait()
		var evs []*RevocationEvent
		if err := s.view(ctx, func(tx Tx) error {
			var err error
			evs, err = tx.Revocations(after, watchBatch)
			return err
		}); err != nil {
			return err
		}
		for _, ev := range evs {
			if err := send(ev); err != nil {
				return err
			}
			after = ev.Sequence
		}
		if len(evs) == watchBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stopping:
			return nil
		case <-wake:
		}
	}
}
