// Package outbox relays the e-mails a service queued in its own store to
// the notification service (R-NOTIF-5). An e-mail is queued in the same
// transaction as the change that causes it, so none is lost if the service
// stops; the relay hands each to notify after the commit and removes it
// once notify has it. Notify sends each idempotency key once, so a resend
// after a crash is harmless.
//
// The relay is store-neutral: the service gives it a Queue over its store
// (bbolt today, PostgreSQL later) and the functions that turn a queued item
// into messages and send one.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil/vigil/services/runtime/backoff"
)

// ErrPermanent marks a message the receiver refused for good: the relay
// logs it and drops it rather than retrying it forever.
var ErrPermanent = errors.New("notification refused for good")

// Refused is err marked ErrPermanent when its gRPC code says a retry cannot
// help (INVALID_ARGUMENT, FAILED_PRECONDITION, PERMISSION_DENIED,
// ALREADY_EXISTS); any other error is returned as it is.
func Refused(err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied, codes.AlreadyExists:
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	return err
}

// Queue is what a service's store offers the relay.
type Queue[T any] interface {
	// Queued returns at most limit queued items, oldest first.
	Queued(ctx context.Context, limit int) ([]T, error)
	// Remove deletes an item once its messages are handed over or dropped.
	Remove(ctx context.Context, item T) error
}

// Relay hands queued items of type T to the receiver as messages of type M.
type Relay[T, M any] struct {
	o    Options[T, M]
	wake chan struct{}
}

// Batch is how many items one pass reads.
const Batch = 50

const (
	sendTimeout = 10 * time.Second
	idle        = 30 * time.Second
)

// Options are a relay's parts.
type Options[T, M any] struct {
	Queue Queue[T]
	// Messages turns an item into the messages it owes (none, one, or one
	// per language); an error leaves the item queued for the next pass.
	Messages func(context.Context, T) ([]M, error)
	// Send hands one message over; an error wrapping ErrPermanent drops the
	// message, any other leaves the item queued for the next pass.
	Send func(context.Context, M) error
	// Describe names a message in the logs (its idempotency key).
	Describe func(M) []zap.Field
	Log      *zap.Logger
}

// New builds a relay; Run starts it.
func New[T, M any](o Options[T, M]) *Relay[T, M] {
	if o.Describe == nil {
		o.Describe = func(M) []zap.Field { return nil }
	}
	return &Relay[T, M]{o: o, wake: make(chan struct{}, 1)}
}

// Wake tells the relay that something was queued (after a commit).
func (r *Relay[T, M]) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends: at once when woken, else every 30 seconds;
// after a failure it waits from one second, doubling to 30 (with jitter).
func (r *Relay[T, M]) Run(ctx context.Context) {
	retry := backoff.Retry{Base: time.Second, Max: 30 * time.Second}
	for {
		more, err := r.Once(ctx)
		wait := idle
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = retry.Next()
			r.o.Log.Warn("e-mail relay to notify failed; will retry", zap.Error(err), zap.Duration("backoff", wait))
		case more:
			continue
		default:
			retry.Reset()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Once relays one batch; it reports whether more items may be queued.
func (r *Relay[T, M]) Once(ctx context.Context) (bool, error) {
	queued, err := r.o.Queue.Queued(ctx, Batch)
	if err != nil {
		return false, err
	}
	for _, item := range queued {
		msgs, err := r.o.Messages(ctx, item)
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			sctx, cancel := context.WithTimeout(ctx, sendTimeout)
			err := r.o.Send(sctx, m)
			cancel()
			if errors.Is(err, ErrPermanent) {
				r.o.Log.Error("notify refused an e-mail for good; dropped", append(r.o.Describe(m), zap.Error(err))...)
			} else if err != nil {
				return false, err
			}
		}
		if err := r.o.Queue.Remove(ctx, item); err != nil {
			return false, err
		}
	}
	return len(queued) == Batch, nil
}
