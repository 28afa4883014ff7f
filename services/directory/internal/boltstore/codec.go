package boltstore

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/vigil/vigil/services/runtime/storage"
)

// unmarshal decodes a stored message; a value that fails to decode is an
// error, never a panic.
func unmarshal(b storage.Bucket, k, v []byte, m proto.Message) error {
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode %s/%q: %w", b, k, err)
	}
	return nil
}
