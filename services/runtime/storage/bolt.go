// Package storage holds the bbolt helpers every service's store uses: opening
// a service's own file, declared buckets, and proto-encoded values.
// Each service defines its own store interface; these are only the bricks.
package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// Bucket is a top-level bucket name, declared once per store as a typed value.
type Bucket []byte

// ErrNotFound is returned by Get when the key is absent.
var ErrNotFound = errors.New("storage: not found")

// OpenBolt opens (creating if needed) the bbolt file at path and the given
// buckets. A second process holding the file makes it fail after a second
// instead of hanging.
func OpenBolt(path string, buckets ...Bucket) (*bolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: time.Second,
		// The hashmap freelist keeps allocation fast as files grow.
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	}); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// GetProto reads key from bucket into m. Bytes returned by bbolt are only
// valid inside the transaction; proto.Unmarshal copies what it keeps.
func GetProto(tx *bolt.Tx, b Bucket, key []byte, m proto.Message) error {
	v := tx.Bucket(b).Get(key)
	if v == nil {
		return ErrNotFound
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode %s/%s: %w", b, key, err)
	}
	return nil
}

// PutProto writes m under key in bucket.
func PutProto(tx *bolt.Tx, b Bucket, key []byte, m proto.Message) error {
	v, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", b, key, err)
	}
	return tx.Bucket(b).Put(key, v)
}

// Copy returns a copy of a byte slice read inside a transaction, for use after it.
func Copy(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
