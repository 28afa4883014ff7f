// Package boltstore implements notify's store (notify.Store and
// schedule.Store) on bbolt. Records are JSON; every index lives in its own
// bucket and is updated in the same transaction as the record it indexes,
// and so are the counters the operations metrics read (no scan to answer
// them). Sealed secrets live in their own bucket and are deleted once every
// delivery of their notification is final; only ciphertext ever reaches the
// file, so its free pages hold no secret in clear either.
// Transactions are short: no method holds one across network I/O.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/runtime/names"
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
	// inbox: user + 0x00 + delivery id → empty while unread, else the read
	// time (8-byte big-endian Unix ns); the key holds everything else.
	// Delivery ids grow with time, so a user's entries are in creation order.
	bucketInbox = storage.Bucket("inbox")
	// unread: same keys as inbox, for the unread entries only.
	bucketUnread = storage.Bucket("unread")
	// jobs: job name → schedule.State.
	bucketJobs = storage.Bucket("jobs")
	// quarantine: delivery id → the raw record that could not be read, set
	// aside so that it cannot stop every other delivery; for an operator.
	bucketQuarantine = storage.Bucket("quarantine")
	// secrets: notification id → its sealed secret fields (ciphertext);
	// deleted when every delivery of the notification is final.
	bucketSecrets = storage.Bucket("secrets")
	// pending: delivery id → empty; exactly the deliveries not final yet.
	// Ids grow with creation time: the first is the oldest.
	bucketPending = storage.Bucket("pending")
	// stats: counter name → 8-byte big-endian count (pending, dead).
	bucketStats = storage.Bucket("stats")
	// marks: opaque key → empty (the jobs' "done" marks, EnqueueBatch).
	bucketMarks = storage.Bucket("marks")
	// suppressions: lower-case address → notify.Suppression.
	bucketSuppressions = storage.Bucket("suppressions")
	// reports: lower-case address → empty; suppressions identity has not
	// been told about yet.
	bucketReports = storage.Bucket("reports")
)

var allBuckets = []storage.Bucket{
	bucketNotifications, bucketIdempotency, bucketDeliveries, bucketDue, bucketClaims,
	bucketDead, bucketInbox, bucketUnread, bucketJobs, bucketQuarantine,
	bucketSecrets, bucketPending, bucketStats, bucketMarks, bucketSuppressions, bucketReports,
}

// Counter keys of the stats bucket; statsVersion says they are maintained.
var (
	statPending  = []byte("pending")
	statDead     = []byte("dead")
	statsVersion = []byte("version")
)

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
	if err := db.Update(migrateStats); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("count the outbox: %w", err)
	}
	return &Store{db: db}, nil
}

// migrateStats builds the pending index and the counters of a file written
// before they existed, once: the pending deliveries are those due or
// claimed, the dead those in the dead index.
func migrateStats(tx *bolt.Tx) error {
	if storage.GetU64(tx, bucketStats, statsVersion) >= 1 {
		return nil
	}
	pending, dead := uint64(0), uint64(0)
	add := func(id []byte) error {
		if tx.Bucket(bucketPending).Get(id) != nil {
			return nil
		}
		pending++
		return tx.Bucket(bucketPending).Put(storage.Copy(id), nil)
	}
	if err := tx.Bucket(bucketDue).ForEach(func(k, _ []byte) error { return add(k[8:]) }); err != nil {
		return err
	}
	if err := tx.Bucket(bucketClaims).ForEach(func(k, _ []byte) error { return add(k) }); err != nil {
		return err
	}
	if err := tx.Bucket(bucketDead).ForEach(func(_, _ []byte) error { dead++; return nil }); err != nil {
		return err
	}
	for k, v := range map[string]uint64{string(statPending): pending, string(statDead): dead, string(statsVersion): 1} {
		if err := storage.PutU64(tx, bucketStats, []byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// bump adds delta to a counter (never below zero).
func bump(tx *bolt.Tx, key []byte, delta int) error {
	n := int64(storage.GetU64(tx, bucketStats, key)) + int64(delta)
	return storage.PutU64(tx, bucketStats, key, uint64(max(n, 0)))
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
	return lookup[T](tx, b, key, notify.ErrNotFound)
}

// lookup decodes the JSON value of b at key; missing when there is none.
func lookup[T any](tx *bolt.Tx, b storage.Bucket, key []byte, missing error) (T, error) {
	var v T
	raw := tx.Bucket(b).Get(key)
	if raw == nil {
		return v, missing
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
		var err error
		id, duplicate, err = enqueueTx(tx, notify.Batched{Notification: n, Deliveries: deliveries, Inbox: inbox})
		return err
	})
	return id, duplicate, err
}

// EnqueueBatch implements notify.Store: one transaction for every item and
// the marks.
func (s *Store) EnqueueBatch(_ context.Context, items []notify.Batched, marks []string) ([]notify.BatchResult, error) {
	out := make([]notify.BatchResult, len(items))
	err := s.db.Update(func(tx *bolt.Tx) error {
		// The first stored item of each data group keeps the data; the
		// others point to it (DataFrom).
		owners := map[int]string{}
		for i, it := range items {
			if it.DataGroup != 0 {
				if owner, ok := owners[it.DataGroup]; ok {
					it.Notification.Data, it.Notification.DataFrom = nil, owner
				}
			}
			id, dup, err := enqueueTx(tx, it)
			if err != nil {
				return err
			}
			if it.DataGroup != 0 && !dup && it.Notification.DataFrom == "" {
				owners[it.DataGroup] = id
			}
			out[i] = notify.BatchResult{ID: id, Duplicate: dup}
		}
		for _, m := range marks {
			if err := tx.Bucket(bucketMarks).Put([]byte(m), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// enqueueTx stores one notification unless its key was stored before.
func enqueueTx(tx *bolt.Tx, it notify.Batched) (string, bool, error) {
	n := it.Notification
	if prev := tx.Bucket(bucketIdempotency).Get([]byte(n.IdempotencyKey)); prev != nil {
		return string(prev), true, nil
	}
	if err := tx.Bucket(bucketIdempotency).Put([]byte(n.IdempotencyKey), []byte(n.ID)); err != nil {
		return "", false, err
	}
	appendOnly(tx)
	if err := put(tx, bucketNotifications, []byte(n.ID), n); err != nil {
		return "", false, err
	}
	if len(n.Sealed) > 0 {
		if err := tx.Bucket(bucketSecrets).Put([]byte(n.ID), n.Sealed); err != nil {
			return "", false, err
		}
	}
	for _, d := range it.Deliveries {
		if err := put(tx, bucketDeliveries, []byte(d.ID), d); err != nil {
			return "", false, err
		}
		if err := tx.Bucket(bucketDue).Put(timeKey(d.NextAttempt, d.ID), nil); err != nil {
			return "", false, err
		}
		if err := tx.Bucket(bucketPending).Put([]byte(d.ID), nil); err != nil {
			return "", false, err
		}
	}
	if err := bump(tx, statPending, len(it.Deliveries)); err != nil {
		return "", false, err
	}
	for _, e := range it.Inbox {
		k := inboxKey(e.User, e.ID)
		// An unread entry is its key alone: user, delivery id (which holds
		// the notification, the index and the creation time).
		if err := tx.Bucket(bucketInbox).Put(k, nil); err != nil {
			return "", false, err
		}
		if err := tx.Bucket(bucketUnread).Put(k, nil); err != nil {
			return "", false, err
		}
	}
	return n.ID, false, nil
}

// appendOnly packs the pages of the buckets whose keys grow with time, or
// come in order from a job's batch (the idempotency keys and marks of a
// digest run go company by company): the default (half-full pages, for
// random inserts) would double their size.
func appendOnly(tx *bolt.Tx) {
	for _, b := range []storage.Bucket{bucketNotifications, bucketDeliveries, bucketDue, bucketPending, bucketIdempotency, bucketMarks} {
		tx.Bucket(b).FillPercent = 0.9
	}
}

// notification reads a notification with the data it shares (DataFrom).
func notification(tx *bolt.Tx, id string) (notify.Notification, error) {
	n, err := get[notify.Notification](tx, bucketNotifications, []byte(id))
	if err != nil {
		return n, err
	}
	if n.DataFrom != "" && n.Data == nil {
		owner, err := get[notify.Notification](tx, bucketNotifications, []byte(n.DataFrom))
		if err != nil {
			return n, fmt.Errorf("data of %s: %w", id, err)
		}
		n.Data = owner.Data
	}
	return n, nil
}

// Notification implements notify.Store.
func (s *Store) Notification(_ context.Context, id string) (n notify.Notification, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if n, err = notification(tx, id); err != nil {
			return err
		}
		n.Sealed = storage.Copy(tx.Bucket(bucketSecrets).Get([]byte(id)))
		return nil
	})
	return n, err
}

// inboxEntry decodes the entry at key k (user + 0 + delivery id): an empty
// value is an unread entry, 8 bytes its read time; a JSON object is the
// format of files written before.
func inboxEntry(tx *bolt.Tx, k []byte) (notify.InboxEntry, error) {
	v := tx.Bucket(bucketInbox).Get(k)
	if v == nil {
		return notify.InboxEntry{}, notify.ErrNotFound
	}
	if len(v) > 0 && v[0] == '{' {
		return get[notify.InboxEntry](tx, bucketInbox, k)
	}
	user, id, ok := bytes.Cut(k, []byte{0})
	if !ok || !notify.ValidDeliveryID(string(id)) {
		return notify.InboxEntry{}, fmt.Errorf("inbox key %q", k)
	}
	e := notify.InboxEntry{ID: string(id), User: string(user), NotificationID: string(id[:26])}
	e.Index, _ = strconv.Atoi(string(id[27:]))
	e.CreateTime, _ = names.IDTime(e.ID)
	if len(v) == 8 {
		e.ReadTime = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
	}
	return e, nil
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
		appendOnly(tx)
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
	if tx.Bucket(bucketPending).Get(id) != nil {
		if err := tx.Bucket(bucketPending).Delete(id); err != nil {
			return err
		}
		if err := bump(tx, statPending, -1); err != nil {
			return err
		}
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
		appendOnly(tx)
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
			if err := bump(tx, statDead, 1); err != nil {
				return err
			}
			if o.Undeliverable {
				if err := suppress(tx, d.Email, o.Error, o.Time); err != nil {
					return err
				}
			}
		case notify.StateSuppressed:
			d.LastError = o.Error
		default:
			return fmt.Errorf("outcome state %q", o.State)
		}
		if err := put(tx, bucketDeliveries, id, d); err != nil {
			return err
		}
		if d.State.Final() {
			return finish(tx, d)
		}
		return nil
	})
}

// finish takes a delivery that became final out of the pending index, and
// drops its notification's sealed secrets when it was the last one open.
func finish(tx *bolt.Tx, d notify.Delivery) error {
	id := []byte(d.ID)
	if tx.Bucket(bucketPending).Get(id) != nil {
		if err := tx.Bucket(bucketPending).Delete(id); err != nil {
			return err
		}
		if err := bump(tx, statPending, -1); err != nil {
			return err
		}
	}
	nid := []byte(d.NotificationID)
	if tx.Bucket(bucketSecrets).Get(nid) == nil {
		return nil
	}
	// Sibling deliveries share the notification id as their prefix.
	prefix := append(storage.Copy(nid), '-')
	c := tx.Bucket(bucketPending).Cursor()
	if k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
		return nil // another delivery still needs the link
	}
	return tx.Bucket(bucketSecrets).Delete(nid)
}

// suppress records (or refreshes) the suppression of an address and queues
// its report to identity.
func suppress(tx *bolt.Tx, email, reason string, at time.Time) error {
	key := []byte(strings.ToLower(email))
	if len(reason) > 500 {
		reason = reason[:500]
	}
	sup := notify.Suppression{Email: string(key), Reason: reason, Time: at}
	if err := put(tx, bucketSuppressions, key, sup); err != nil {
		return err
	}
	return tx.Bucket(bucketReports).Put(key, nil)
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
			e, err := inboxEntry(tx, k)
			if err != nil {
				return err
			}
			n, ok := notifications[e.NotificationID]
			if !ok {
				if n, err = notification(tx, e.NotificationID); err != nil {
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
		if e, err = inboxEntry(tx, k); err != nil {
			return err
		}
		if e.ReadTime.IsZero() {
			e.ReadTime = at
			if err := tx.Bucket(bucketInbox).Put(k, binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))); err != nil {
				return err
			}
			if err := tx.Bucket(bucketUnread).Delete(k); err != nil {
				return err
			}
		}
		e.Notification, err = notification(tx, e.NotificationID)
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
		if err := bump(tx, statDead, -1); err != nil {
			return err
		}
		// An operator retrying by hand says the address works again.
		email := []byte(strings.ToLower(d.Email))
		if err := tx.Bucket(bucketSuppressions).Delete(email); err != nil {
			return err
		}
		if err := tx.Bucket(bucketReports).Delete(email); err != nil {
			return err
		}
		d.State, d.Attempts, d.NextAttempt, d.Claimed = notify.StatePending, 0, now, false
		if err := tx.Bucket(bucketDue).Put(timeKey(now, d.ID), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPending).Put([]byte(d.ID), nil); err != nil {
			return err
		}
		if err := bump(tx, statPending, 1); err != nil {
			return err
		}
		return put(tx, bucketDeliveries, []byte(id), d)
	})
	return d, err
}

// Marked implements notify.Store.
func (s *Store) Marked(_ context.Context, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMarks)
		for _, k := range keys {
			if b.Get([]byte(k)) != nil {
				out[k] = true
			}
		}
		return nil
	})
	return out, err
}

// PruneMarks implements notify.Store.
func (s *Store) PruneMarks(_ context.Context, prefix, before string) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		end := []byte(prefix + before)
		var keys [][]byte
		c := tx.Bucket(bucketMarks).Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)) && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			keys = append(keys, storage.Copy(k))
		}
		for _, k := range keys {
			if err := tx.Bucket(bucketMarks).Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	return n, err
}

// Suppressions implements notify.Store.
func (s *Store) Suppressions(_ context.Context, emails []string) (map[string]notify.Suppression, error) {
	out := map[string]notify.Suppression{}
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, e := range emails {
			sup, err := get[notify.Suppression](tx, bucketSuppressions, []byte(e))
			if errors.Is(err, notify.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out[e] = sup
		}
		return nil
	})
	return out, err
}

// LiftSuppression implements notify.Store.
func (s *Store) LiftSuppression(_ context.Context, email string, reportedBefore time.Time) (bool, error) {
	lifted := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		lifted = false
		sup, err := get[notify.Suppression](tx, bucketSuppressions, []byte(email))
		if errors.Is(err, notify.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !sup.Reported || !sup.ReportedAt.Before(reportedBefore) {
			return nil
		}
		lifted = true
		return tx.Bucket(bucketSuppressions).Delete([]byte(email))
	})
	return lifted, err
}

// PendingReports implements notify.Store.
func (s *Store) PendingReports(_ context.Context, limit int) ([]notify.Suppression, error) {
	var out []notify.Suppression
	err := s.db.View(func(tx *bolt.Tx) error {
		out = nil
		c := tx.Bucket(bucketReports).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			sup, err := get[notify.Suppression](tx, bucketSuppressions, k)
			if errors.Is(err, notify.ErrNotFound) {
				sup = notify.Suppression{Email: string(k)}
			} else if err != nil {
				return err
			}
			out = append(out, sup)
		}
		return nil
	})
	return out, err
}

// ReportDone implements notify.Store.
func (s *Store) ReportDone(_ context.Context, email string, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		key := []byte(email)
		if err := tx.Bucket(bucketReports).Delete(key); err != nil {
			return err
		}
		sup, err := get[notify.Suppression](tx, bucketSuppressions, key)
		if errors.Is(err, notify.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		sup.Reported, sup.ReportedAt = true, at
		return put(tx, bucketSuppressions, key, sup)
	})
}

// Stats implements notify.Store: two counters and one cursor step.
func (s *Store) Stats(_ context.Context) (st notify.Stats, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		st.Pending = int(storage.GetU64(tx, bucketStats, statPending))
		st.DeadLetters = int(storage.GetU64(tx, bucketStats, statDead))
		if k, _ := tx.Bucket(bucketPending).Cursor().First(); k != nil {
			st.OldestPending, _ = names.IDTime(string(k))
		}
		return nil
	})
	return st, err
}

// JobState implements schedule.Store.
func (s *Store) JobState(_ context.Context, job string) (st schedule.State, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		st, err = get[schedule.State](tx, bucketJobs, []byte(job))
		if errors.Is(err, notify.ErrNotFound) {
			st, err = schedule.State{Job: job}, nil
		}
		return err
	})
	return st, err
}

// PutJobState implements schedule.Store.
func (s *Store) PutJobState(_ context.Context, st schedule.State) error {
	return s.db.Update(func(tx *bolt.Tx) error { return put(tx, bucketJobs, []byte(st.Job), st) })
}
