// Package boltstore implements notify's store (notify.Store and
// schedule.Store) on bbolt. Records are JSON; every index lives in its own
// bucket and is updated in the same transaction as the record it indexes.
// Transactions are short: no method holds one across network I/O.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/runtime/storage"
)

// The buckets, declared once.
var (
	// notifications: notification id → Notification.
	bucketNotifications = storage.Bucket("notifications")
	// idempotency: idempotency key → notification id.
	bucketIdempotency = storage.Bucket("idempotency")
	// deliveries: delivery id → Delivery.
	bucketDeliveries = storage.Bucket("deliveries")
	// due: next attempt (8-byte big-endian Unix ns) + delivery id → empty;
	// exactly the pending, unclaimed deliveries.
	bucketDue = storage.Bucket("due")
	// claims: delivery id → empty; the claimed deliveries.
	bucketClaims = storage.Bucket("claims")
	// dead: dead time (8-byte big-endian Unix ns) + delivery id → empty.
	bucketDead = storage.Bucket("dead")
	// inbox: user + 0x00 + delivery id → InboxEntry; delivery ids grow with
	// time, so a user's entries are in creation order.
	bucketInbox = storage.Bucket("inbox")
	// unread: same keys as inbox, for the unread entries only.
	bucketUnread = storage.Bucket("unread")
	// schedule: job name → periodRecord.
	bucketSchedule = storage.Bucket("schedule")
	// quarantine: delivery id → the raw record that could not be read, set
	// aside so that it cannot stop every other delivery; for an operator.
	bucketQuarantine = storage.Bucket("quarantine")
)

var allBuckets = []storage.Bucket{
	bucketNotifications, bucketIdempotency, bucketDeliveries, bucketDue, bucketClaims,
	bucketDead, bucketInbox, bucketUnread, bucketSchedule, bucketQuarantine,
}

// Store is the bbolt store. It implements notify.Store and schedule.Store.
type Store struct {
	db *bolt.DB
}

var (
	_ notify.Store   = (*Store)(nil)
	_ schedule.Store = (*Store)(nil)
)

// Open opens (creating) the store's file at path.
func Open(path string) (*Store, error) {
	db, err := storage.OpenBolt(path, allBuckets...)
	if err != nil {
		return nil, err
	}
	// Concurrent enqueues and outcomes share one fsync through Batch; a
	// short delay keeps a lone caller's latency low.
	db.MaxBatchDelay = 2 * time.Millisecond
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// DB is the underlying database (benchmarks compare against bare writes).
func (s *Store) DB() *bolt.DB { return s.db }

func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

func inboxKey(user, id string) []byte {
	k := make([]byte, 0, len(user)+1+len(id))
	k = append(k, user...)
	k = append(k, 0)
	return append(k, id...)
}

func get[T any](tx *bolt.Tx, b storage.Bucket, key []byte) (T, error) {
	var v T
	raw := tx.Bucket(b).Get(key)
	if raw == nil {
		return v, notify.ErrNotFound
	}
	// json.Unmarshal copies what it keeps: nothing refers to bbolt's memory.
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode %s/%q: %w", b, key, err)
	}
	return v, nil
}

func put(tx *bolt.Tx, b storage.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%q: %w", b, key, err)
	}
	return tx.Bucket(b).Put(key, raw)
}

// Enqueue implements notify.Store. It runs through bbolt's Batch, which may
// run the function more than once: it recomputes everything from the
// transaction it is given, so a second run has the same effect as the first.
func (s *Store) Enqueue(_ context.Context, n notify.Notification, deliveries []notify.Delivery, inbox []notify.InboxEntry) (string, bool, error) {
	var id string
	var duplicate bool
	err := s.db.Batch(func(tx *bolt.Tx) error {
		id, duplicate = "", false
		if prev := tx.Bucket(bucketIdempotency).Get([]byte(n.IdempotencyKey)); prev != nil {
			id, duplicate = string(prev), true
			return nil
		}
		if err := tx.Bucket(bucketIdempotency).Put([]byte(n.IdempotencyKey), []byte(n.ID)); err != nil {
			return err
		}
		if err := put(tx, bucketNotifications, []byte(n.ID), n); err != nil {
			return err
		}
		for _, d := range deliveries {
			if err := put(tx, bucketDeliveries, []byte(d.ID), d); err != nil {
				return err
			}
			if err := tx.Bucket(bucketDue).Put(timeKey(d.NextAttempt, d.ID), nil); err != nil {
				return err
			}
		}
		for _, e := range inbox {
			k := inboxKey(e.User, e.ID)
			if err := put(tx, bucketInbox, k, e); err != nil {
				return err
			}
			if err := tx.Bucket(bucketUnread).Put(k, nil); err != nil {
				return err
			}
		}
		id = n.ID
		return nil
	})
	return id, duplicate, err
}

// Notification implements notify.Store.
func (s *Store) Notification(_ context.Context, id string) (n notify.Notification, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		n, err = get[notify.Notification](tx, bucketNotifications, []byte(id))
		return err
	})
	return n, err
}

// Delivery implements notify.Store.
func (s *Store) Delivery(_ context.Context, id string) (d notify.Delivery, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		d, err = get[notify.Delivery](tx, bucketDeliveries, []byte(id))
		return err
	})
	return d, err
}

// ClaimDue implements notify.Store.
func (s *Store) ClaimDue(_ context.Context, now time.Time, limit int) ([]notify.Delivery, error) {
	var out []notify.Delivery
	err := s.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		end := timeKey(now, "\xff")
		var keys [][]byte
		c := tx.Bucket(bucketDue).Cursor()
		for k, _ := c.First(); k != nil && len(keys) < limit && bytes.Compare(k, end) <= 0; k, _ = c.Next() {
			keys = append(keys, storage.Copy(k))
		}
		for _, k := range keys {
			id := k[8:]
			if err := tx.Bucket(bucketDue).Delete(k); err != nil {
				return err
			}
			d, err := get[notify.Delivery](tx, bucketDeliveries, id)
			if err != nil {
				if err := quarantine(tx, id); err != nil {
					return err
				}
				continue
			}
			d.Claimed = true
			d.Attempts++
			if err := put(tx, bucketDeliveries, id, d); err != nil {
				return err
			}
			if err := tx.Bucket(bucketClaims).Put(id, nil); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// quarantine sets aside a delivery record that cannot be read (or is
// missing), keeping its raw bytes, so that the rest of the outbox flows.
func quarantine(tx *bolt.Tx, id []byte) error {
	raw := tx.Bucket(bucketDeliveries).Get(id)
	if err := tx.Bucket(bucketQuarantine).Put(storage.Copy(id), storage.Copy(raw)); err != nil {
		return err
	}
	return tx.Bucket(bucketDeliveries).Delete(id)
}

// Quarantined lists the ids of delivery records set aside as unreadable.
func (s *Store) Quarantined() (ids []string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQuarantine).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	return ids, err
}

// ReleaseClaims implements notify.Store.
func (s *Store) ReleaseClaims(_ context.Context, now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		var ids [][]byte
		if err := tx.Bucket(bucketClaims).ForEach(func(k, _ []byte) error {
			ids = append(ids, storage.Copy(k))
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			if err := tx.Bucket(bucketClaims).Delete(id); err != nil {
				return err
			}
			d, err := get[notify.Delivery](tx, bucketDeliveries, id)
			if err != nil {
				return err
			}
			if d.State != notify.StatePending || !d.Claimed {
				continue
			}
			d.Claimed = false
			d.NextAttempt = now
			if err := put(tx, bucketDeliveries, id, d); err != nil {
				return err
			}
			if err := tx.Bucket(bucketDue).Put(timeKey(now, d.ID), nil); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// NextDue implements notify.Store.
func (s *Store) NextDue(_ context.Context) (t time.Time, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketDue).Cursor().First()
		if len(k) >= 8 {
			t, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC(), true
		}
		return nil
	})
	return t, ok, err
}

// CompleteDelivery implements notify.Store, through Batch (see Enqueue).
func (s *Store) CompleteDelivery(_ context.Context, o notify.Outcome) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		id := []byte(o.DeliveryID)
		d, err := get[notify.Delivery](tx, bucketDeliveries, id)
		if err != nil {
			return err
		}
		if d.State != notify.StatePending || !d.Claimed || d.Attempts != o.Attempt {
			if d.State == o.State && d.Attempts == o.Attempt && !d.Claimed {
				return nil // this outcome is already recorded
			}
			return notify.ErrStale
		}
		if err := tx.Bucket(bucketClaims).Delete(id); err != nil {
			return err
		}
		d.Claimed = false
		d.State = o.State
		switch o.State {
		case notify.StateSent:
			d.SentTime, d.Response = o.Time, o.Response
		case notify.StatePending:
			d.NextAttempt, d.LastError = o.NextAttempt, o.Error
			if err := tx.Bucket(bucketDue).Put(timeKey(d.NextAttempt, d.ID), nil); err != nil {
				return err
			}
		case notify.StateDead:
			d.DeadTime, d.LastError = o.Time, o.Error
			if err := tx.Bucket(bucketDead).Put(timeKey(d.DeadTime, d.ID), nil); err != nil {
				return err
			}
		default:
			return fmt.Errorf("outcome state %q", o.State)
		}
		return put(tx, bucketDeliveries, id, d)
	})
}

// ListInbox implements notify.Store.
func (s *Store) ListInbox(_ context.Context, user string, after notify.Cursor, limit int, unreadOnly bool) ([]notify.InboxEntry, error) {
	var out []notify.InboxEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		out = nil
		index := bucketInbox
		if unreadOnly {
			index = bucketUnread
		}
		prefix := inboxKey(user, "")
		c := tx.Bucket(index).Cursor()
		var k []byte
		if after.ID == "" {
			k, _ = c.Seek(append(storage.Copy(prefix), 0xff))
		} else {
			k, _ = c.Seek(inboxKey(user, after.ID))
		}
		// Seek lands on the first key ≥ the target: step back once to get
		// the newest key strictly before it.
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		notifications := map[string]notify.Notification{}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
			e, err := get[notify.InboxEntry](tx, bucketInbox, k)
			if err != nil {
				return err
			}
			n, ok := notifications[e.NotificationID]
			if !ok {
				if n, err = get[notify.Notification](tx, bucketNotifications, []byte(e.NotificationID)); err != nil {
					return err
				}
				notifications[e.NotificationID] = n
			}
			e.Notification = n
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// MarkRead implements notify.Store.
func (s *Store) MarkRead(_ context.Context, user, id string, at time.Time) (notify.InboxEntry, error) {
	var e notify.InboxEntry
	err := s.db.Update(func(tx *bolt.Tx) error {
		k := inboxKey(user, id)
		var err error
		if e, err = get[notify.InboxEntry](tx, bucketInbox, k); err != nil {
			return err
		}
		if e.ReadTime.IsZero() {
			e.ReadTime = at
			if err := put(tx, bucketInbox, k, e); err != nil {
				return err
			}
			if err := tx.Bucket(bucketUnread).Delete(k); err != nil {
				return err
			}
		}
		e.Notification, err = get[notify.Notification](tx, bucketNotifications, []byte(e.NotificationID))
		return err
	})
	return e, err
}

// ListDeadLetters implements notify.Store.
func (s *Store) ListDeadLetters(_ context.Context, after notify.Cursor, limit int) ([]notify.Delivery, error) {
	var out []notify.Delivery
	err := s.db.View(func(tx *bolt.Tx) error {
		out = nil
		c := tx.Bucket(bucketDead).Cursor()
		var k []byte
		if after.ID == "" {
			k, _ = c.First()
		} else {
			start := timeKey(after.Time, after.ID)
			k, _ = c.Seek(start)
			if bytes.Equal(k, start) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			d, err := get[notify.Delivery](tx, bucketDeliveries, k[8:])
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// RetryDeadLetter implements notify.Store.
func (s *Store) RetryDeadLetter(_ context.Context, id string, now time.Time) (notify.Delivery, error) {
	var d notify.Delivery
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = get[notify.Delivery](tx, bucketDeliveries, []byte(id)); err != nil {
			return err
		}
		if d.State != notify.StateDead {
			return notify.ErrNotFound
		}
		if err := tx.Bucket(bucketDead).Delete(timeKey(d.DeadTime, d.ID)); err != nil {
			return err
		}
		d.State, d.Attempts, d.NextAttempt, d.Claimed = notify.StatePending, 0, now, false
		if err := tx.Bucket(bucketDue).Put(timeKey(now, d.ID), nil); err != nil {
			return err
		}
		return put(tx, bucketDeliveries, []byte(id), d)
	})
	return d, err
}

// periodRecord is a scheduled job's last period.
type periodRecord struct {
	Period   string    `json:"period"`
	Done     bool      `json:"done"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

// BeginPeriod implements schedule.Store.
func (s *Store) BeginPeriod(_ context.Context, job, period string, at time.Time) (bool, error) {
	run := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		rec, err := get[periodRecord](tx, bucketSchedule, []byte(job))
		if err != nil && !errors.Is(err, notify.ErrNotFound) {
			return err
		}
		if err == nil && rec.Period == period && rec.Done {
			run = false
			return nil
		}
		run = true
		return put(tx, bucketSchedule, []byte(job), periodRecord{Period: period, Started: at})
	})
	return run, err
}

// FinishPeriod implements schedule.Store.
func (s *Store) FinishPeriod(_ context.Context, job, period string, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		rec, err := get[periodRecord](tx, bucketSchedule, []byte(job))
		if err != nil {
			return err
		}
		if rec.Period != period {
			return fmt.Errorf("job %s: finishing period %s, but %s was begun", job, period, rec.Period)
		}
		rec.Done, rec.Finished = true, at
		return put(tx, bucketSchedule, []byte(job), rec)
	})
}
