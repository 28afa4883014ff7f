package boltstore_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
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

// TestDataGroupIsStoredOnce: a company's digest sent to its five members is
// kept once; the other notifications point to it.
func TestDataGroupIsStoredOnce(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "notify.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	data := map[string]any{"company_name": strings.Repeat("big digest ", 50)}
	var items []notify.Batched
	for i := range 5 {
		id := fmt.Sprintf("%026d", i+1)
		items = append(items, notify.Batched{DataGroup: 1, Notification: notify.Notification{ID: id, IdempotencyKey: "k" + id,
			Template: notify.TemplateWeeklyDigest, Data: data, Recipients: []notify.Recipient{{Email: "r@example.com"}}}})
	}
	if _, err := s.EnqueueBatch(ctx, items, nil); err != nil {
		t.Fatal(err)
	}
	copies := 0
	if err := s.DB().View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("notifications")).ForEach(func(_, v []byte) error {
			if bytes.Contains(v, []byte("big digest")) {
				copies++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if copies != 1 {
		t.Fatalf("the shared data is stored %d times, want once", copies)
	}
}

// TestInboxEntriesOfOlderFilesStillRead: inbox entries written as JSON by
// earlier versions list and mark read like the compact ones.
func TestInboxEntriesOfOlderFilesStillRead(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "notify.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	id := fmt.Sprintf("%026d", 1)
	did := notify.DeliveryID(id, 0)
	created := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	n := notify.Notification{ID: id, IdempotencyKey: "k", Template: notify.TemplatePasswordReset, CreateTime: created,
		Recipients: []notify.Recipient{{User: "users/u1", Email: "u1@example.com"}}}
	if _, _, err := s.Enqueue(ctx, n, nil, nil); err != nil {
		t.Fatal(err)
	}
	key := append(append([]byte("users/u1"), 0), did...)
	legacy := fmt.Sprintf(`{"id":%q,"user":"users/u1","notification_id":%q,"index":0,"create_time":"2025-03-10T09:00:00Z"}`, did, id)
	if err := s.DB().Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("inbox")).Put(key, []byte(legacy)); err != nil {
			return err
		}
		return tx.Bucket([]byte("unread")).Put(key, nil)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListInbox(ctx, "users/u1", notify.Cursor{}, 10, false)
	if err != nil || len(got) != 1 || got[0].ID != did || !got[0].CreateTime.Equal(created) || got[0].Notification.ID != id {
		t.Fatalf("ListInbox = %+v, %v", got, err)
	}
	read := created.Add(time.Hour)
	e, err := s.MarkRead(ctx, "users/u1", did, read)
	if err != nil || !e.ReadTime.Equal(read) {
		t.Fatalf("MarkRead = %+v, %v", e, err)
	}
	if got, _ := s.ListInbox(ctx, "users/u1", notify.Cursor{}, 10, true); len(got) != 0 {
		t.Fatalf("still unread: %+v", got)
	}
}
