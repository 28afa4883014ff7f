package feed

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	"github.com/vigil/vigil/services/runtime/backoff"
)

// Follower follows another service's log with a durable cursor.
type Follower struct {
	// Client is the other service's EventsInternalService.
	Client eventsv1.EventsInternalServiceClient
	// Name names the followed log in log lines (`directory`).
	Name string
	// Types, when set, are the only event types delivered.
	Types []string
	// Cursor returns the sequence of the last event handled (0: none).
	Cursor func(ctx context.Context) (uint64, error)
	// Handle applies one event and records its sequence as the cursor, in one
	// transaction; it must be idempotent (an event may come twice after a
	// crash). An error retries the same event after a backoff.
	Handle func(ctx context.Context, e Event) error
	// HandleBatch, when set, is called instead of Handle with the events the
	// stream has already delivered (at most BatchSize, in order): it applies
	// them and records the last one's sequence, in one transaction, so that
	// a burst costs one commit instead of one per event. The same rules hold.
	HandleBatch func(ctx context.Context, es []Event) error
	// BatchSize bounds a HandleBatch call (default 256).
	BatchSize int
	// Gap is called when the cursor is older than the log retains (the
	// follower was away too long): it resynchronises another way and returns
	// the sequence to resume after. Without it the follower resumes after
	// what was pruned and logs what was lost.
	Gap func(ctx context.Context, prunedThrough uint64) (uint64, error)
	Log *zap.Logger
}

// Run follows the log until ctx ends, reconnecting with backoff.
func (f *Follower) Run(ctx context.Context) {
	retry := backoff.Retry{Base: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		progressed, err := f.once(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			retry.Reset()
		}
		wait := retry.Next()
		if pruned, ok := prunedThrough(err); ok {
			if err := f.gap(ctx, pruned); err != nil {
				f.Log.Warn("event feed gap not resolved", zap.String("feed", f.Name), zap.Error(err))
			} else {
				continue
			}
		} else if err != nil {
			f.Log.Debug("event feed interrupted; reconnecting", zap.String("feed", f.Name), zap.Error(err), zap.Duration("backoff", wait))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (f *Follower) gap(ctx context.Context, pruned uint64) error {
	if f.Gap == nil {
		f.Log.Error("event feed resumes after events it never saw (the follower was away longer than they are kept)",
			zap.String("feed", f.Name), zap.Uint64("pruned_through", pruned))
		return f.handle(ctx, []Event{{Sequence: pruned, Type: typeSkip}})
	}
	after, err := f.Gap(ctx, pruned)
	if err != nil {
		return err
	}
	return f.handle(ctx, []Event{{Sequence: after, Type: typeSkip}})
}

// handle applies events through HandleBatch, or Handle one by one.
func (f *Follower) handle(ctx context.Context, es []Event) error {
	if f.HandleBatch != nil {
		return f.HandleBatch(ctx, es)
	}
	for _, e := range es {
		if err := f.Handle(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// typeSkip is handed to Handle to move the cursor without an event: a
// handler records the sequence and does nothing else.
const typeSkip = ""

// IsSkip reports whether e only moves the cursor (after a gap).
func IsSkip(e Event) bool { return e.Type == typeSkip }

func (f *Follower) once(ctx context.Context) (progressed bool, err error) {
	after, err := f.Cursor(ctx)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := f.Client.WatchEvents(ctx, &eventsv1.WatchEventsRequest{AfterSequence: after, Types: f.Types})
	if err != nil {
		return false, err
	}
	if f.HandleBatch != nil {
		return f.batches(ctx, stream)
	}
	for {
		p, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return progressed, nil
		}
		if err != nil {
			return progressed, err
		}
		if err := f.Handle(ctx, FromProto(p)); err != nil {
			f.Log.Warn("event not applied; will retry", zap.String("feed", f.Name), zap.String("event", p.GetId()),
				zap.String("type", p.GetType()), zap.Error(err))
			return progressed, err
		}
		progressed = true
	}
}

func prunedThrough(err error) (uint64, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.OutOfRange {
		return 0, false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if n, err := strconv.ParseUint(info.GetMetadata()["pruned_through"], 10, 64); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}

type received struct {
	e   *eventsv1.Event
	err error
}

// batches reads the stream ahead (at most BatchSize events) and hands
// HandleBatch what has arrived whenever it is ready for more.
func (f *Follower) batches(ctx context.Context, stream grpc.ServerStreamingClient[eventsv1.Event]) (progressed bool, err error) {
	size := f.BatchSize
	if size <= 0 {
		size = 256
	}
	ahead := make(chan received, size)
	go func() {
		for {
			p, err := stream.Recv()
			select {
			case ahead <- received{p, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var batch []Event
		var end error
		var r received
		select {
		case r = <-ahead:
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
	fill:
		for {
			if r.err != nil {
				end = r.err
				break
			}
			batch = append(batch, FromProto(r.e))
			if len(batch) == size {
				break
			}
			select {
			case r = <-ahead:
			default:
				break fill
			}
		}
		if len(batch) > 0 {
			if err := f.HandleBatch(ctx, batch); err != nil {
				f.Log.Warn("events not applied; will retry", zap.String("feed", f.Name), zap.Uint64("from", batch[0].Sequence),
					zap.Int("count", len(batch)), zap.Error(err))
				return progressed, err
			}
			progressed = true
		}
		if errors.Is(end, io.EOF) {
			return progressed, nil
		}
		if end != nil {
			return progressed, end
		}
	}
}
