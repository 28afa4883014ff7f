package boltstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/notify/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (storetest.Store, func() storetest.Store) {
		path := filepath.Join(t.TempDir(), "notify.db")
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		current := s
		t.Cleanup(func() { _ = current.Close() })
		reopen := func() storetest.Store {
			if err := current.Close(); err != nil {
				t.Fatal(err)
			}
			next, err := boltstore.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			current = next
			return next
		}
		return s, reopen
	})
}

// TestUnreadableRecordIsQuarantined: one delivery record that cannot be
// decoded must not stop the others (R-NOTIF-5); it is set aside, bytes kept.
func TestUnreadableRecordIsQuarantined(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "notify.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	created := time.Now().Add(-time.Minute).UTC()
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("%026d", i+1)
		did := notify.DeliveryID(id, 0)
		nt := notify.Notification{ID: id, IdempotencyKey: "k" + id, Template: notify.TemplatePasswordReset,
			Recipients: []notify.Recipient{{Email: "r@example.com"}}, CreateTime: created}
		d := notify.Delivery{ID: did, NotificationID: id, Email: "r@example.com", Template: nt.Template,
			IdempotencyKey: nt.IdempotencyKey, State: notify.StatePending, NextAttempt: created.Add(time.Duration(i) * time.Second)}
		if _, _, err := s.Enqueue(ctx, nt, []notify.Delivery{d}, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, did)
	}
	// Corrupt the oldest, the first that ClaimDue meets.
	if err := s.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("deliveries")).Put([]byte(ids[0]), []byte("{bad"))
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimDue(ctx, time.Now().UTC(), 10)
	if err != nil {
		t.Fatalf("one bad record failed the whole claim: %v", err)
	}
	if len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[2] {
		t.Fatalf("claimed %v, want the two healthy deliveries", got)
	}
	q, err := s.Quarantined()
	if err != nil || len(q) != 1 || q[0] != ids[0] {
		t.Fatalf("quarantined %v (%v), want [%s]", q, err, ids[0])
	}
	if again, _ := s.ClaimDue(ctx, time.Now().UTC(), 10); len(again) != 0 {
		t.Fatalf("claimed again: %v", again)
	}
}
