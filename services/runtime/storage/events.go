package storage

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	"github.com/vigil/vigil/services/runtime/feed"
)

// EventLog is a service's event log (runtime/feed) in one bbolt bucket:
// events under their big-endian sequence, proto-encoded, appended in the
// transaction of the change that causes them.
type EventLog struct {
	Bucket Bucket
	// Source names the service in the encoded events.
	Source string
}

// prunedKey sorts after every sequence key and records the last sequence pruned.
var prunedKey = []byte("\xffpruned_through")

// Append assigns e.Sequence and stores e.
func (l EventLog) Append(tx *bolt.Tx, e *feed.Event) error {
	b := tx.Bucket(l.Bucket)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Sequence = seq
	v, err := proto.Marshal(feed.ToProto(l.Source, *e))
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return b.Put(U64(seq), v)
}

// After returns up to limit events with Sequence > after, oldest first.
func (l EventLog) After(tx *bolt.Tx, after uint64, limit int) ([]feed.Event, error) {
	var out []feed.Event
	c := tx.Bucket(l.Bucket).Cursor()
	for k, v := c.Seek(U64(after + 1)); k != nil && len(k) == 8 && len(out) < limit; k, v = c.Next() {
		var p eventsv1.Event
		if err := proto.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, feed.FromProto(&p))
	}
	return out, nil
}

// PrunedThrough is the highest sequence pruned away (0: none).
func (l EventLog) PrunedThrough(tx *bolt.Tx) uint64 {
	v := tx.Bucket(l.Bucket).Get(prunedKey)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Prune deletes events older than before, at most limit of them (so that
// one transaction stays short); it reports how many it deleted.
func (l EventLog) Prune(tx *bolt.Tx, before time.Time, limit int) (int, error) {
	b := tx.Bucket(l.Bucket)
	c := b.Cursor()
	// Keys are collected first: deleting under a bbolt cursor skips keys.
	var old [][]byte
	for k, v := c.First(); k != nil && len(k) == 8 && len(old) < limit; k, v = c.Next() {
		var p eventsv1.Event
		if err := proto.Unmarshal(v, &p); err != nil {
			return 0, fmt.Errorf("decode event: %w", err)
		}
		if !p.GetTime().AsTime().Before(before) {
			break
		}
		old = append(old, Copy(k))
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	if len(old) > 0 {
		return len(old), b.Put(prunedKey, old[len(old)-1])
	}
	return 0, nil
}

// U64 is the big-endian encoding of n, which sorts as n does.
func U64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

// GetU64 reads a big-endian counter (0 when absent), e.g. a follower's cursor.
func GetU64(tx *bolt.Tx, b Bucket, key []byte) uint64 {
	v := tx.Bucket(b).Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// PutU64 writes a big-endian counter.
func PutU64(tx *bolt.Tx, b Bucket, key []byte, n uint64) error {
	return tx.Bucket(b).Put(key, U64(n))
}
