package feed

import (
	"context"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
)

// Log is a service's event log as the server reads it. The service's store
// implements it; events are appended inside the store's own transactions.
type Log interface {
	// EventsAfter returns up to limit events with Sequence > after, oldest first.
	EventsAfter(ctx context.Context, after uint64, limit int) ([]Event, error)
	// PrunedThrough is the highest sequence no longer retained (0: none pruned).
	PrunedThrough(ctx context.Context) (uint64, error)
}

// pageSize is how many events one read of the log returns.
const pageSize = 500

// Server serves a service's log as EventsInternalService. Call Wake after
// every commit that appended events; watchers also poll every Poll (default
// 500 ms), so that events appended by another replica reach them too.
type Server struct {
	eventsv1.UnimplementedEventsInternalServiceServer
	source string
	log    Log
	Poll   time.Duration

	mu       sync.Mutex
	wake     chan struct{}
	stopping chan struct{}
	stopOnce sync.Once
}

// NewServer serves log as source (`identity`, `directory`, `vault`).
func NewServer(source string, log Log) *Server {
	return &Server{source: source, log: log, Poll: 500 * time.Millisecond, wake: make(chan struct{}), stopping: make(chan struct{})}
}

// Register adds the server to a gRPC server.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	eventsv1.RegisterEventsInternalServiceServer(g, s)
}

// Wake tells every watcher that events were appended.
func (s *Server) Wake() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// Stop ends every watch (callers reconnect, to another replica or after a
// restart), so that they do not hold a graceful shutdown open.
func (s *Server) Stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

func (s *Server) waiter() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// OutOfRange is the error of a resume point older than the log retains;
// its ErrorInfo metadata carries `pruned_through`.
func OutOfRange(prunedThrough uint64) error {
	st := status.New(codes.OutOfRange, "the resume point is older than the events retained")
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: "EVENTS_PRUNED", Domain: "vigil",
		Metadata: map[string]string{"pruned_through": strconv.FormatUint(prunedThrough, 10)}}); err == nil {
		st = d
	}
	return st.Err()
}

// WatchEvents implements EventsInternalService.
func (s *Server) WatchEvents(req *eventsv1.WatchEventsRequest, stream grpc.ServerStreamingServer[eventsv1.Event]) error {
	ctx := stream.Context()
	after := req.GetAfterSequence()
	pruned, err := s.log.PrunedThrough(ctx)
	if err != nil {
		return err
	}
	if after < pruned {
		return OutOfRange(pruned)
	}
	types := map[string]bool{}
	for _, t := range req.GetTypes() {
		types[t] = true
	}
	poll := time.NewTicker(s.Poll)
	defer poll.Stop()
	for {
		wake := s.waiter()
		evs, err := s.log.EventsAfter(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, e := range evs {
			after = e.Sequence
			if len(types) > 0 && !types[e.Type] {
				continue
			}
			if err := stream.Send(ToProto(s.source, e)); err != nil {
				return err
			}
		}
		if len(evs) == pageSize {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopping:
			return status.Error(codes.Unavailable, "shutting down")
		case <-wake:
		case <-poll.C:
		}
	}
}
