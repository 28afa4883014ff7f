package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/storage"
)

// The buckets of webhooks.db, declared once. Keys joining several parts
// separate them with 0x00 (no part contains it); times are 8-byte
// big-endian Unix nanoseconds, sequences 8-byte big-endian.
var (
	// endpoint id → Endpoint.
	whEndpoints = storage.Bucket("endpoints")
	// company 0 endpoint id → empty: a company's endpoints, oldest first.
	whEndpointsByCompany = storage.Bucket("endpoints_by_company")
	// endpoint id → empty: disablings not yet told to the Administrators.
	whNotices = storage.Bucket("notices")
	// seq → Event: the change feed, in notify's order.
	whEvents = storage.Bucket("events")
	// company 0 seq → empty: one company's feed.
	whEventsByCompany = storage.Bucket("events_by_company")
	// source → seq: the followers' cursors.
	whCursors = storage.Bucket("cursors")
	// delivery id → Delivery; ids grow with time.
	whDeliveries = storage.Bucket("deliveries")
	// endpoint 0 delivery id → empty.
	whDeliveriesByEndpoint = storage.Bucket("deliveries_by_endpoint")
	// endpoint 0 state 0 delivery id → empty.
	whDeliveriesByState = storage.Bucket("deliveries_by_state")
	// endpoint 0 next attempt + delivery id → empty: exactly the pending,
	// unclaimed deliveries, per endpoint in due order.
	whDue = storage.Bucket("due")
	// earliest next attempt + endpoint → empty: the endpoints with pending
	// work, the most overdue first.
	whDueEndpoints = storage.Bucket("due_endpoints")
	// endpoint → its earliest next attempt (its key in due_endpoints).
	whEndpointDue = storage.Bucket("endpoint_due")
	// delivery id → empty: the claimed deliveries.
	whClaims = storage.Bucket("claims")
)

var webhookBuckets = []storage.Bucket{
	whEndpoints, whEndpointsByCompany, whNotices, whEvents, whEventsByCompany, whCursors, whDeliveries,
	whDeliveriesByEndpoint, whDeliveriesByState, whDue, whDueEndpoints, whEndpointDue, whClaims,
}

// maxDueEndpoints bounds how many endpoints one claim looks at.
const maxDueEndpoints = 10_000

// WebhookStore implements webhooks.Store on its own bbolt file
// (data/notify/webhooks.db): the outbox of e-mails and the webhooks never
// share a transaction, so they need not share a file or its lock.
type WebhookStore struct {
	db *bolt.DB
}

var _ webhooks.Store = (*WebhookStore)(nil)

// OpenWebhooks opens (creating) the store's file at path.
func OpenWebhooks(path string) (*WebhookStore, error) {
	db, err := storage.OpenBolt(path, webhookBuckets...)
	if err != nil {
		return nil, err
	}
	// Outcomes recorded by concurrent workers share one fsync through Batch.
	db.MaxBatchDelay = 2 * time.Millisecond
	return &WebhookStore{db: db}, nil
}

// Close closes the file.
func (s *WebhookStore) Close() error { return s.db.Close() }

func key(parts ...[]byte) []byte {
	var k []byte
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

func nanos(t time.Time) []byte { return storage.U64(uint64(t.UnixNano())) }

func getJSON[T any](tx *bolt.Tx, b storage.Bucket, k []byte) (T, error) {
	return lookup[T](tx, b, k, webhooks.ErrNotFound)
}

// prefixKeys returns the keys of b that start with prefix and sort after
// from (inclusive), up to limit, copied.
func prefixKeys(tx *bolt.Tx, b storage.Bucket, prefix, from []byte, limit int) [][]byte {
	var out [][]byte
	c := tx.Bucket(b).Cursor()
	for k, _ := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
		out = append(out, storage.Copy(k))
	}
	return out
}

// CreateEndpoint implements webhooks.Store.
func (s *WebhookStore) CreateEndpoint(_ context.Context, e webhooks.Endpoint, max int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		prefix := key([]byte(e.Company), nil)
		if len(prefixKeys(tx, whEndpointsByCompany, prefix, prefix, max)) >= max {
			return webhooks.ErrLimit
		}
		if err := put(tx, whEndpoints, []byte(e.ID), e); err != nil {
			return err
		}
		return tx.Bucket(whEndpointsByCompany).Put(key([]byte(e.Company), []byte(e.ID)), nil)
	})
}

// Endpoint implements webhooks.Store.
func (s *WebhookStore) Endpoint(_ context.Context, id string) (e webhooks.Endpoint, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		e, err = getJSON[webhooks.Endpoint](tx, whEndpoints, []byte(id))
		return err
	})
	return e, err
}

func companyEndpoints(tx *bolt.Tx, company, afterID string, limit int) ([]webhooks.Endpoint, error) {
	prefix := key([]byte(company), nil)
	from := prefix
	if afterID != "" {
		from = append(key([]byte(company), []byte(afterID)), 0)
	}
	var out []webhooks.Endpoint
	for _, k := range prefixKeys(tx, whEndpointsByCompany, prefix, from, limit) {
		e, err := getJSON[webhooks.Endpoint](tx, whEndpoints, k[len(prefix):])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// ListEndpoints implements webhooks.Store.
func (s *WebhookStore) ListEndpoints(_ context.Context, company, afterID string, limit int) (out []webhooks.Endpoint, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		out, err = companyEndpoints(tx, company, afterID, limit)
		return err
	})
	return out, err
}

// UpdateEndpoint implements webhooks.Store.
func (s *WebhookStore) UpdateEndpoint(_ context.Context, id string, change func(*webhooks.Endpoint) error) (e webhooks.Endpoint, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		e, err = getJSON[webhooks.Endpoint](tx, whEndpoints, []byte(id))
		if err != nil {
			return err
		}
		before := e.Company
		if err := change(&e); err != nil {
			return err
		}
		e.ID, e.Company = id, before
		return put(tx, whEndpoints, []byte(id), e)
	})
	return e, err
}

// DeleteEndpoint implements webhooks.Store.
func (s *WebhookStore) DeleteEndpoint(_ context.Context, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		e, err := getJSON[webhooks.Endpoint](tx, whEndpoints, []byte(id))
		if err != nil {
			return err
		}
		if err := tx.Bucket(whEndpoints).Delete([]byte(id)); err != nil {
			return err
		}
		if err := tx.Bucket(whNotices).Delete([]byte(id)); err != nil {
			return err
		}
		return tx.Bucket(whEndpointsByCompany).Delete(key([]byte(e.Company), []byte(id)))
	})
}

// DisableEndpoint implements webhooks.Store.
func (s *WebhookStore) DisableEndpoint(_ context.Context, id, reason string, at time.Time) (e webhooks.Endpoint, changed bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		changed = false
		e, err = getJSON[webhooks.Endpoint](tx, whEndpoints, []byte(id))
		if err != nil || !e.Enabled {
			return err
		}
		e.Enabled, e.DisabledReason, e.DisableTime, e.UpdateTime = false, reason, at, at
		if err := put(tx, whEndpoints, []byte(id), e); err != nil {
			return err
		}
		changed = true
		return tx.Bucket(whNotices).Put([]byte(id), nil)
	})
	return e, changed, err
}

// PendingNotices implements webhooks.Store.
func (s *WebhookStore) PendingNotices(_ context.Context) (out []webhooks.Endpoint, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(whNotices).ForEach(func(k, _ []byte) error {
			e, err := getJSON[webhooks.Endpoint](tx, whEndpoints, k)
			if err == nil {
				out = append(out, e)
			}
			return nil
		})
	})
	return out, err
}

// ClearNotice implements webhooks.Store.
func (s *WebhookStore) ClearNotice(_ context.Context, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(whNotices).Delete([]byte(id)) })
}

// Cursor implements webhooks.Store.
func (s *WebhookStore) Cursor(_ context.Context, source string) (n uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		n = storage.GetU64(tx, whCursors, []byte(source))
		return nil
	})
	return n, err
}

// AppendEvents implements webhooks.Store.
func (s *WebhookStore) AppendEvents(_ context.Context, source string, in []webhooks.Incoming,
	fanout func(webhooks.Event, []webhooks.Endpoint) []webhooks.Delivery) (n int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		cursor := storage.GetU64(tx, whCursors, []byte(source))
		start := cursor
		for _, item := range in {
			if item.Seq <= cursor {
				continue // a replay: already applied
			}
			cursor = item.Seq
			if item.Event == nil {
				continue
			}
			ev := *item.Event
			pos, err := tx.Bucket(whEvents).NextSequence()
			if err != nil {
				return err
			}
			ev.Seq = pos
			if err := put(tx, whEvents, storage.U64(pos), ev); err != nil {
				return err
			}
			if err := tx.Bucket(whEventsByCompany).Put(key([]byte(ev.Company), storage.U64(pos)), nil); err != nil {
				return err
			}
			endpoints, err := companyEndpoints(tx, ev.Company, "", webhooks.MaxEndpointsPerCompany*2)
			if err != nil {
				return err
			}
			for _, d := range fanout(ev, endpoints) {
				if err := putNewDelivery(tx, d); err != nil {
					return err
				}
				n++
			}
		}
		if cursor == start {
			return nil
		}
		return storage.PutU64(tx, whCursors, []byte(source), cursor)
	})
	return n, err
}

// Event implements webhooks.Store.
func (s *WebhookStore) Event(_ context.Context, seq uint64) (e webhooks.Event, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		e, err = getJSON[webhooks.Event](tx, whEvents, storage.U64(seq))
		return err
	})
	return e, err
}

// ListEvents implements webhooks.Store.
func (s *WebhookStore) ListEvents(_ context.Context, company string, after uint64, limit int) (out []webhooks.Event, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		prefix := key([]byte(company), nil)
		for _, k := range prefixKeys(tx, whEventsByCompany, prefix, append(storage.Copy(prefix), storage.U64(after+1)...), limit) {
			e, err := getJSON[webhooks.Event](tx, whEvents, k[len(prefix):])
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// PruneEvents implements webhooks.Store.
func (s *WebhookStore) PruneEvents(_ context.Context, before time.Time, limit int) (n int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		type old struct{ k, company []byte }
		var olds []old
		c := tx.Bucket(whEvents).Cursor()
		for k, v := c.First(); k != nil && len(olds) < limit; k, v = c.Next() {
			var e webhooks.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if !e.StoreTime.Before(before) {
				break
			}
			olds = append(olds, old{storage.Copy(k), []byte(e.Company)})
		}
		for _, o := range olds {
			if err := tx.Bucket(whEvents).Delete(o.k); err != nil {
				return err
			}
			if err := tx.Bucket(whEventsByCompany).Delete(key(o.company, o.k)); err != nil {
				return err
			}
		}
		n = len(olds)
		return nil
	})
	return n, err
}

func stateKey(d webhooks.Delivery) []byte {
	return key([]byte(d.Endpoint), []byte(d.State), []byte(d.ID))
}

func dueKey(endpoint string, at time.Time, id string) []byte {
	return append(key([]byte(endpoint), nanos(at)), id...)
}

// putNewDelivery stores a new delivery with its indexes.
func putNewDelivery(tx *bolt.Tx, d webhooks.Delivery) error {
	if err := put(tx, whDeliveries, []byte(d.ID), d); err != nil {
		return err
	}
	if err := tx.Bucket(whDeliveriesByEndpoint).Put(key([]byte(d.Endpoint), []byte(d.ID)), nil); err != nil {
		return err
	}
	if err := tx.Bucket(whDeliveriesByState).Put(stateKey(d), nil); err != nil {
		return err
	}
	if d.State == webhooks.StatePending && !d.Claimed {
		return addDue(tx, d.Endpoint, d.NextAttempt, d.ID)
	}
	return nil
}

// setState moves d to state, keeping the state index.
func setState(tx *bolt.Tx, d *webhooks.Delivery, state webhooks.State) error {
	if d.State == state {
		return nil
	}
	if err := tx.Bucket(whDeliveriesByState).Delete(stateKey(*d)); err != nil {
		return err
	}
	d.State = state
	return tx.Bucket(whDeliveriesByState).Put(stateKey(*d), nil)
}

// addDue makes a delivery due at at, and its endpoint due no later.
func addDue(tx *bolt.Tx, endpoint string, at time.Time, id string) error {
	if err := tx.Bucket(whDue).Put(dueKey(endpoint, at, id), nil); err != nil {
		return err
	}
	t := nanos(at)
	old := tx.Bucket(whEndpointDue).Get([]byte(endpoint))
	if old != nil && bytes.Compare(old, t) <= 0 {
		return nil
	}
	if old != nil {
		if err := tx.Bucket(whDueEndpoints).Delete(append(storage.Copy(old), endpoint...)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(whDueEndpoints).Put(append(t, endpoint...), nil); err != nil {
		return err
	}
	return tx.Bucket(whEndpointDue).Put([]byte(endpoint), t)
}

// refreshEndpointDue recomputes an endpoint's earliest due time after
// deliveries left its due range.
func refreshEndpointDue(tx *bolt.Tx, endpoint string) error {
	prefix := key([]byte(endpoint), nil)
	var first []byte
	if k, _ := tx.Bucket(whDue).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
		first = storage.Copy(k[len(prefix) : len(prefix)+8])
	}
	old := storage.Copy(tx.Bucket(whEndpointDue).Get([]byte(endpoint)))
	if bytes.Equal(old, first) {
		return nil
	}
	if old != nil {
		if err := tx.Bucket(whDueEndpoints).Delete(append(old, endpoint...)); err != nil {
			return err
		}
	}
	if first == nil {
		return tx.Bucket(whEndpointDue).Delete([]byte(endpoint))
	}
	if err := tx.Bucket(whDueEndpoints).Put(append(storage.Copy(first), endpoint...), nil); err != nil {
		return err
	}
	return tx.Bucket(whEndpointDue).Put([]byte(endpoint), first)
}

// CreateDelivery implements webhooks.Store.
func (s *WebhookStore) CreateDelivery(_ context.Context, d webhooks.Delivery) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putNewDelivery(tx, d) })
}

// Delivery implements webhooks.Store.
func (s *WebhookStore) Delivery(_ context.Context, id string) (d webhooks.Delivery, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		d, err = getJSON[webhooks.Delivery](tx, whDeliveries, []byte(id))
		return err
	})
	return d, err
}

// ListDeliveries implements webhooks.Store.
func (s *WebhookStore) ListDeliveries(_ context.Context, endpoint string, state webhooks.State, beforeID string, limit int) (out []webhooks.Delivery, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b, prefix := whDeliveriesByEndpoint, key([]byte(endpoint), nil)
		if state != "" {
			b, prefix = whDeliveriesByState, key([]byte(endpoint), []byte(state), nil)
		}
		bound := append(storage.Copy(prefix), 0xff)
		if beforeID != "" {
			bound = append(storage.Copy(prefix), beforeID...)
		}
		c := tx.Bucket(b).Cursor()
		k, _ := c.Seek(bound)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
			d, err := getJSON[webhooks.Delivery](tx, whDeliveries, k[len(prefix):])
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// claimable lists, endpoint by endpoint (the most overdue first), the due
// keys ClaimDue may take: at most limit, at most room(endpoint) of each.
type claim struct {
	endpoint string
	keys     [][]byte
}

func claimable(tx *bolt.Tx, now time.Time, limit int, room func(string) int) []claim {
	end := nanos(now)
	var endpoints []string
	c := tx.Bucket(whDueEndpoints).Cursor()
	for k, _ := c.First(); k != nil && len(endpoints) < maxDueEndpoints && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
		endpoints = append(endpoints, string(k[8:]))
	}
	var out []claim
	total := 0
	for _, ep := range endpoints {
		if total >= limit {
			break
		}
		take := min(room(ep), limit-total)
		if take <= 0 {
			continue
		}
		prefix := key([]byte(ep), nil)
		c := claim{endpoint: ep}
		dc := tx.Bucket(whDue).Cursor()
		for k, _ := dc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(c.keys) < take; k, _ = dc.Next() {
			if bytes.Compare(k[len(prefix):len(prefix)+8], end) > 0 {
				break
			}
			c.keys = append(c.keys, storage.Copy(k))
		}
		if len(c.keys) > 0 {
			out = append(out, c)
			total += len(c.keys)
		}
	}
	return out
}

// ClaimDue implements webhooks.Store. It looks in a read transaction first:
// most calls find nothing to claim and need no commit.
func (s *WebhookStore) ClaimDue(_ context.Context, now time.Time, limit int, room func(string) int) (out []webhooks.Delivery, err error) {
	found := false
	if err := s.db.View(func(tx *bolt.Tx) error { found = len(claimable(tx, now, limit, room)) > 0; return nil }); err != nil || !found {
		return nil, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		for _, c := range claimable(tx, now, limit, room) {
			prefix := key([]byte(c.endpoint), nil)
			for _, k := range c.keys {
				if err := tx.Bucket(whDue).Delete(k); err != nil {
					return err
				}
				id := k[len(prefix)+8:]
				d, err := getJSON[webhooks.Delivery](tx, whDeliveries, id)
				if err != nil {
					continue // an index entry without its record: dropped
				}
				d.Claimed = true
				d.Attempts++
				if err := put(tx, whDeliveries, id, d); err != nil {
					return err
				}
				if err := tx.Bucket(whClaims).Put(id, nil); err != nil {
					return err
				}
				out = append(out, d)
			}
			if err := refreshEndpointDue(tx, c.endpoint); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// ReleaseClaims implements webhooks.Store.
func (s *WebhookStore) ReleaseClaims(_ context.Context, now time.Time) (n int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		var ids [][]byte
		_ = tx.Bucket(whClaims).ForEach(func(k, _ []byte) error { ids = append(ids, storage.Copy(k)); return nil })
		for _, id := range ids {
			if err := tx.Bucket(whClaims).Delete(id); err != nil {
				return err
			}
			d, err := getJSON[webhooks.Delivery](tx, whDeliveries, id)
			if err != nil {
				continue
			}
			d.Claimed, d.NextAttempt = false, now
			if err := put(tx, whDeliveries, id, d); err != nil {
				return err
			}
			if err := addDue(tx, d.Endpoint, now, d.ID); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Unclaim implements webhooks.Store.
func (s *WebhookStore) Unclaim(_ context.Context, ids []string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			d, err := getJSON[webhooks.Delivery](tx, whDeliveries, []byte(id))
			if err != nil || !d.Claimed {
				continue
			}
			d.Claimed = false
			d.Attempts--
			if err := tx.Bucket(whClaims).Delete([]byte(id)); err != nil {
				return err
			}
			if err := put(tx, whDeliveries, []byte(id), d); err != nil {
				return err
			}
			if err := addDue(tx, d.Endpoint, d.NextAttempt, d.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// NextDue implements webhooks.Store.
func (s *WebhookStore) NextDue(_ context.Context) (t time.Time, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(whDueEndpoints).Cursor().First(); k != nil {
			t, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))), true
		}
		return nil
	})
	return t, ok, err
}

// CompleteDelivery implements webhooks.Store. It runs through bbolt's
// Batch, which may run it twice: it recomputes everything from the
// transaction, so a second run has the first one's effect.
func (s *WebhookStore) CompleteDelivery(_ context.Context, o webhooks.Outcome) (failingSince time.Time, err error) {
	err = s.db.Batch(func(tx *bolt.Tx) error {
		failingSince = time.Time{}
		d, err := getJSON[webhooks.Delivery](tx, whDeliveries, []byte(o.DeliveryID))
		if err != nil {
			return err
		}
		if !d.Claimed || d.Attempts != o.Attempt {
			return webhooks.ErrStale
		}
		if err := tx.Bucket(whClaims).Delete([]byte(d.ID)); err != nil {
			return err
		}
		d.Claimed = false
		d.LastAttempt, d.LastCode, d.LastError = o.Time, o.Code, o.Error
		if err := setState(tx, &d, o.State); err != nil {
			return err
		}
		switch o.State {
		case webhooks.StatePending:
			d.NextAttempt = o.NextAttempt
			if err := addDue(tx, d.Endpoint, d.NextAttempt, d.ID); err != nil {
				return err
			}
		default:
			d.CompleteTime = o.Time
		}
		if err := put(tx, whDeliveries, []byte(d.ID), d); err != nil {
			return err
		}
		if o.Health == webhooks.HealthUnchanged {
			return nil
		}
		e, err := getJSON[webhooks.Endpoint](tx, whEndpoints, []byte(d.Endpoint))
		if err != nil {
			return nil // deleted meanwhile: nothing to keep
		}
		switch {
		case o.Health == webhooks.HealthOK && !e.FailingSince.IsZero():
			e.FailingSince = time.Time{}
		case o.Health == webhooks.HealthFailed && e.FailingSince.IsZero():
			e.FailingSince = o.Time
		default:
			failingSince = e.FailingSince
			return nil
		}
		failingSince = e.FailingSince
		return put(tx, whEndpoints, []byte(e.ID), e)
	})
	return failingSince, err
}

// Redeliver implements webhooks.Store.
func (s *WebhookStore) Redeliver(_ context.Context, id string, now time.Time) (d webhooks.Delivery, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		d, err = getJSON[webhooks.Delivery](tx, whDeliveries, []byte(id))
		if err != nil {
			return err
		}
		if d.Claimed {
			return webhooks.ErrClaimed
		}
		if d.State == webhooks.StatePending {
			if err := tx.Bucket(whDue).Delete(dueKey(d.Endpoint, d.NextAttempt, d.ID)); err != nil {
				return err
			}
			if err := refreshEndpointDue(tx, d.Endpoint); err != nil {
				return err
			}
		}
		if err := setState(tx, &d, webhooks.StatePending); err != nil {
			return err
		}
		d.Attempts, d.WindowStart, d.NextAttempt, d.CompleteTime = 0, now, now, time.Time{}
		if err := addDue(tx, d.Endpoint, now, d.ID); err != nil {
			return err
		}
		return put(tx, whDeliveries, []byte(d.ID), d)
	})
	return d, err
}

// PruneDeliveries implements webhooks.Store.
func (s *WebhookStore) PruneDeliveries(_ context.Context, before time.Time, limit int) (n int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		var olds []webhooks.Delivery
		scanned := 0
		c := tx.Bucket(whDeliveries).Cursor()
		for k, v := c.First(); k != nil && len(olds) < limit && scanned < 10*limit; k, v = c.Next() {
			scanned++
			var d webhooks.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode delivery %s: %w", k, err)
			}
			if !d.CreateTime.Before(before) {
				break
			}
			if d.State == webhooks.StatePending || d.Claimed {
				continue // redelivered, or still being retried
			}
			olds = append(olds, d)
		}
		for _, d := range olds {
			if err := tx.Bucket(whDeliveries).Delete([]byte(d.ID)); err != nil {
				return err
			}
			if err := tx.Bucket(whDeliveriesByEndpoint).Delete(key([]byte(d.Endpoint), []byte(d.ID))); err != nil {
				return err
			}
			if err := tx.Bucket(whDeliveriesByState).Delete(stateKey(d)); err != nil {
				return err
			}
		}
		n = len(olds)
		return nil
	})
	return n, err
}
