package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestBackgroundOutlivesTheSignal: the tasks keep running when the
// process's context ends (the server drains first) and stop at Close,
// which waits for them.
func TestBackgroundOutlivesTheSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	bg := NewBackground(ctx)
	stopped := make(chan struct{})
	bg.Go("worker", func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil })
	cancel()
	select {
	case <-stopped:
		t.Fatal("the task stopped with the process's context, before Close")
	case <-time.After(20 * time.Millisecond):
	}
	if bg.Context().Err() == nil {
		t.Fatal("the server's context did not end with the process's")
	}
	if err := bg.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Close returned before the task did")
	}
	if err := bg.Wait(nil); err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

// TestBackgroundFailureStopsTheServer: a failed task ends the server's
// context and is Wait's error.
func TestBackgroundFailureStopsTheServer(t *testing.T) {
	bg := NewBackground(context.Background())
	bg.Go("dispatcher", func(context.Context) error { return errors.New("release claims: disk") })
	select {
	case <-bg.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a failed task did not stop the server")
	}
	_ = bg.Close()
	if err := bg.Wait(nil); err == nil || err.Error() != "dispatcher: release claims: disk" {
		t.Fatalf("Wait = %v", err)
	}
	if err := bg.Wait(errors.New("listen")); err.Error() != "listen" {
		t.Fatalf("the server's own error comes first: %v", err)
	}
}

// TestAbortRunsClosersInReverse: a failed wiring step closes what is open,
// last opened first.
func TestAbortRunsClosersInReverse(t *testing.T) {
	s := &Server{log: zap.NewNop()}
	var order []string
	s.OnClose(func() error { order = append(order, "telemetry"); return nil })
	s.OnClose(func() error { order = append(order, "connections"); return nil })
	detached := s.Detached(context.Background())
	s.OnClose(func() error {
		if detached.Err() != nil {
			t.Error("a detached context ended before the closers registered after it ran")
		}
		order = append(order, "store")
		return nil
	})
	want := errors.New("open store")
	if err := s.Abort(want); err != want {
		t.Fatalf("Abort = %v", err)
	}
	if len(order) != 3 || order[0] != "store" || order[2] != "telemetry" {
		t.Fatalf("closed %v", order)
	}
	if detached.Err() == nil {
		t.Fatal("the detached context outlived its closer")
	}
}
