package notify_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/mailer"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
	"github.com/vigil/vigil/services/notify/internal/templates"
)

// failingOutcomes fails the first n CompleteDelivery calls, as a full disk would.
type failingOutcomes struct {
	notify.Store
	failures atomic.Int32
}

func (f *failingOutcomes) CompleteDelivery(ctx context.Context, o notify.Outcome) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("write: no space left on device")
	}
	return f.Store.CompleteDelivery(ctx, o)
}

// TestOutcomeIsRecordedDespiteStoreErrors: when recording an attempt's
// outcome fails for a while, the dispatcher keeps trying, so that the claim
// does not stay unfinished until the next restart (R-NOTIF-5).
func TestOutcomeIsRecordedDespiteStoreErrors(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	bolt, err := boltstore.Open(filepath.Join(t.TempDir(), "notify.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	store := &failingOutcomes{Store: bolt}
	store.failures.Store(3)
	r, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: srv.Addr, From: "Vigil <no-reply@vigil.test>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	disp := notify.NewDispatcher(store, r, sender, zap.NewNop(), notify.DispatcherConfig{
		Workers: 1, MaxAttempts: 5, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, MaxIdle: 50 * time.Millisecond})
	svc := notify.NewService(store, r, zap.NewNop(), notify.ServiceOptions{Accepted: disp.Wake})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = disp.Run(ctx) }()
	defer func() { cancel(); <-done }()

	id, _, err := svc.Enqueue(context.Background(), notify.EnqueueRequest{
		IdempotencyKey: "k", Template: notify.TemplatePasswordReset,
		Recipients: []notify.Recipient{{Email: "u@example.com"}},
		Data:       map[string]any{"link": "https://vigil.test/reset-password?token=k"},
	})
	if err != nil {
		t.Fatal(err)
	}
	did := notify.DeliveryID(id, 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := bolt.Delivery(context.Background(), did)
		if err == nil && d.State == notify.StateSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outcome never recorded: %+v (%v)", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Len(); n != 1 {
		t.Fatalf("server received %d messages, want exactly 1", n)
	}
}
