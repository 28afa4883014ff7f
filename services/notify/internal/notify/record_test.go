package notify_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
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
	h := newHarness(t, srv.Addr, notify.DispatcherConfig{Workers: 1, MaxAttempts: 5}, func(h *harness) {
		h.wrap = func(s notify.Store) notify.Store {
			f := &failingOutcomes{Store: s}
			f.failures.Store(3)
			return f
		}
	})
	id := notify.DeliveryID(h.enqueue("k"), 0)
	eventually(t, "outcome recorded", 10*time.Second, func() bool { return h.delivery(id).State == notify.StateSent })
	if n := srv.Len(); n != 1 {
		t.Fatalf("server received %d messages, want exactly 1", n)
	}
}
