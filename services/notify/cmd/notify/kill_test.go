package main

// TestKill9 runs the real notify binary, kills it with SIGKILL three times
// while it accepts and delivers notifications, and checks R-NOTIF-5 from the
// outside: every notification whose EnqueueNotification returned OK is
// delivered, and the only duplicates are messages in flight at a kill (at
// most the worker count per kill).

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
)

func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const workers, perRound, rounds = 4, 150, 3
	dir := t.TempDir()
	bin := buildNotify(t, dir)
	// A slow server keeps messages in flight.
	srv := smtptest.Start(t, smtptest.Options{Quiet: true, DataHook: func(smtptest.Message) { time.Sleep(2 * time.Millisecond) }})
	addr := smtptest.FreeAddr(t)
	start := func() *exec.Cmd {
		return startNotify(t, bin, addr, filepath.Join(dir, "data"), srv.Addr, workers)
	}
	conn := dialNotify(t, addr)
	client := notifyv1.NewNotificationInternalServiceClient(conn)
	data, _ := structpb.NewStruct(map[string]any{"link": "https://vigil.test/reset-password?token=x"})
	enqueue := func(key string, opts ...grpc.CallOption) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := client.EnqueueNotification(ctx, &notifyv1.EnqueueNotificationRequest{
			IdempotencyKey: key, Template: notifyv1.Template_TEMPLATE_PASSWORD_RESET, Data: data,
			Recipients: []*notifyv1.Recipient{{Email: "u@example.com"}},
		}, opts...)
		return r.GetId(), err
	}

	accepted := map[string]string{} // key → notification id
	var pending []string            // keys whose call failed at a kill: the caller retries them
	var mu sync.Mutex
	cmd := start()
	for round := range rounds {
		var wg sync.WaitGroup
		keys := make(chan string)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for key := range keys {
					id, err := enqueue(key)
					mu.Lock()
					if err == nil {
						accepted[key] = id
					} else {
						pending = append(pending, key)
					}
					mu.Unlock()
				}
			}()
		}
		killed := make(chan struct{})
		go func() {
			// Kill once some of this round is delivered, mid-stream.
			deadline := time.Now().Add(20 * time.Second)
			for srv.Len() < round*perRound+perRound/3 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			close(killed)
		}()
		for i := range perRound {
			keys <- fmt.Sprintf("r%d-%d", round, i)
		}
		close(keys)
		wg.Wait()
		<-killed
		cmd = start()
		// The callers retry what failed, with the same keys.
		mu.Lock()
		retry := pending
		pending = nil
		mu.Unlock()
		for _, key := range retry {
			id, err := enqueue(key, grpc.WaitForReady(true))
			if err != nil {
				t.Fatalf("retry %s: %v", key, err)
			}
			if prev, ok := accepted[key]; ok && prev != id {
				t.Fatalf("key %s accepted twice as %s and %s", key, prev, id)
			}
			accepted[key] = id
		}
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()

	if len(accepted) != rounds*perRound {
		t.Fatalf("%d accepted, want %d", len(accepted), rounds*perRound)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing := 0
		for _, id := range accepted {
			if srv.Count(id+"-000") == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d accepted notifications never delivered", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	dups := srv.Len() - len(accepted)
	if dups > rounds*workers {
		t.Fatalf("%d duplicates; at most %d (the messages in flight at %d kills) are allowed", dups, rounds*workers, rounds)
	}
	t.Logf("%d accepted over %d kills; %d delivered; %d duplicates (messages in flight at a kill)", len(accepted), rounds, srv.Len(), dups)
}
