package boltstore

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/runtime/storage"
)

// getProto reads a stored message (storage.GetProto); an absent key is
// directory.ErrNotFound.
func getProto(tx *bolt.Tx, b storage.Bucket, key []byte, m proto.Message) error {
	err := storage.GetProto(tx, b, key, m)
	if errors.Is(err, storage.ErrNotFound) {
		return directory.ErrNotFound
	}
	return err
}

// unmarshal decodes a stored message; a value that fails to decode is an
// error, never a panic.
func unmarshal(b storage.Bucket, k, v []byte, m proto.Message) error {
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode %s/%q: %w", b, k, err)
	}
	return nil
}
