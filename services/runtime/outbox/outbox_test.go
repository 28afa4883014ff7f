package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// queue is an in-memory Queue of ints.
type queue struct {
	mu    sync.Mutex
	items []int
	fail  error
}

func (q *queue) Queued(_ context.Context, limit int) ([]int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return nil, q.fail
	}
	return slices.Clone(q.items[:min(limit, len(q.items))]), nil
}

func (q *queue) Remove(_ context.Context, item int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = slices.DeleteFunc(q.items, func(i int) bool { return i == item })
	return nil
}

func (q *queue) add(items ...int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, items...)
}

func (q *queue) left() []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.items)
}

// receiver records what it was sent; refuse and down decide its answers.
type receiver struct {
	mu     sync.Mutex
	got    []string
	refuse map[string]bool
	down   bool
}

func (r *receiver) send(_ context.Context, m string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return status.Error(codes.Unavailable, "down")
	}
	if r.refuse[m] {
		return Refused(status.Error(codes.InvalidArgument, "bad data"))
	}
	r.got = append(r.got, m)
	return nil
}

func (r *receiver) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// twoLanguages makes two messages of each item (vault: one per language).
func twoLanguages(_ context.Context, i int) ([]string, error) {
	return []string{fmt.Sprintf("%d-en", i), fmt.Sprintf("%d-fr", i)}, nil
}

func newRelay(q *queue, r *receiver) *Relay[int, string] {
	return New(Options[int, string]{Queue: q, Messages: twoLanguages, Send: r.send, Log: zap.NewNop(),
		Describe: func(m string) []zap.Field { return []zap.Field{zap.String("key", m)} }})
}

// TestOnceRelaysInOrderAndRemoves: every message of every item is sent,
// oldest first, and the items leave the queue (R-NOTIF-5).
func TestOnceRelaysInOrderAndRemoves(t *testing.T) {
	q, r := &queue{}, &receiver{}
	q.add(1, 2)
	more, err := newRelay(q, r).Once(context.Background())
	if err != nil || more {
		t.Fatalf("Once = %v, %v", more, err)
	}
	if got := r.sent(); !slices.Equal(got, []string{"1-en", "1-fr", "2-en", "2-fr"}) {
		t.Fatalf("sent %v", got)
	}
	if len(q.left()) != 0 {
		t.Fatalf("left %v", q.left())
	}
}

// TestRefusedMessageIsDroppedOthersSent: a message refused for good is
// dropped, the item's other messages still go, and the item leaves.
func TestRefusedMessageIsDroppedOthersSent(t *testing.T) {
	q, r := &queue{}, &receiver{refuse: map[string]bool{"1-en": true}}
	q.add(1)
	if _, err := newRelay(q, r).Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.sent(); !slices.Equal(got, []string{"1-fr"}) {
		t.Fatalf("sent %v", got)
	}
	if len(q.left()) != 0 {
		t.Fatalf("a refused item stayed queued: %v", q.left())
	}
}

// TestTransientFailureKeepsItem: while the receiver is down nothing leaves
// the queue; the next pass sends it.
func TestTransientFailureKeepsItem(t *testing.T) {
	q, r := &queue{}, &receiver{down: true}
	q.add(1)
	relay := newRelay(q, r)
	if _, err := relay.Once(context.Background()); status.Code(err) != codes.Unavailable {
		t.Fatalf("Once = %v, want the receiver's error", err)
	}
	if !slices.Equal(q.left(), []int{1}) {
		t.Fatalf("left %v", q.left())
	}
	r.mu.Lock()
	r.down = false
	r.mu.Unlock()
	if _, err := relay.Once(context.Background()); err != nil || len(q.left()) != 0 {
		t.Fatalf("second pass: %v, left %v", err, q.left())
	}
	q.fail = errors.New("disk")
	if _, err := relay.Once(context.Background()); err == nil {
		t.Fatal("a failing queue did not fail the pass")
	}
}

// TestOnceReportsMore: a full batch says more may be queued.
func TestOnceReportsMore(t *testing.T) {
	q, r := &queue{}, &receiver{}
	for i := range Batch + 1 {
		q.add(i)
	}
	relay := newRelay(q, r)
	if more, err := relay.Once(context.Background()); err != nil || !more {
		t.Fatalf("Once = %v, %v; want more", more, err)
	}
	if more, err := relay.Once(context.Background()); err != nil || more || len(q.left()) != 0 {
		t.Fatalf("Once = %v, %v, left %v", more, err, q.left())
	}
}

// TestRunRelaysWhenWoken: an item queued while Run idles goes out on Wake,
// long before the idle period.
func TestRunRelaysWhenWoken(t *testing.T) {
	q, r := &queue{}, &receiver{}
	relay := newRelay(q, r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(20 * time.Millisecond) // Run's first pass found nothing
	q.add(7)
	relay.Wake()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.sent()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("a woken relay did not send")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRefused(t *testing.T) {
	for code, permanent := range map[codes.Code]bool{
		codes.InvalidArgument: true, codes.FailedPrecondition: true, codes.PermissionDenied: true, codes.AlreadyExists: true,
		codes.Unavailable: false, codes.DeadlineExceeded: false, codes.Internal: false,
	} {
		if got := errors.Is(Refused(status.Error(code, "x")), ErrPermanent); got != permanent {
			t.Errorf("Refused(%v) permanent = %v", code, got)
		}
	}
	if Refused(nil) != nil {
		t.Error("Refused(nil) != nil")
	}
}
