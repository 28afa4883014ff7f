// Package blob is where the vault keeps documents' bytes: a content-addressed
// store (one object per SHA-256) behind an interface, so that the local-files
// implementation (localfs) can be replaced by an S3-compatible one. Nothing
// here relies on renames or listings being cheap: an upload is written to a
// staging object, then published under its hash; the vault's metadata store
// records which hashes a committed document uses, and which publications
// are in flight (the vault's crash recovery deletes an orphan by its hash,
// never by listing).
package blob

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned for a hash that is not stored.
var ErrNotFound = errors.New("blob: not found")

// Store keeps blobs by SHA-256 (lowercase hex).
type Store interface {
	// Create starts a staging object. Write the bytes, then Publish under
	// their hash, or Abort; a staging object is never visible to Open.
	Create(ctx context.Context) (Writer, error)
	// Open returns a reader of the blob's bytes from offset, and its size.
	Open(ctx context.Context, sha string, offset int64) (io.ReadCloser, int64, error)
	// Stat reports whether a blob is stored, and its size.
	Stat(ctx context.Context, sha string) (int64, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, sha string) error
	// CleanStaging removes staging objects older than a start-up (the
	// uploads that wrote them are dead): called once at start, before
	// serving.
	CleanStaging(ctx context.Context) error
}

// Writer is a staging object being written.
type Writer interface {
	io.Writer
	// Publish makes the written bytes durable and visible under sha (the
	// caller computed it while writing). If a blob with that hash exists
	// already, the staged copy is dropped: identical bytes are stored once.
	Publish(ctx context.Context, sha string) error
	// Abort drops the staging object; safe after Publish (then a no-op).
	Abort() error
}

// ValidSHA reports whether sha is 64 lowercase hex characters.
func ValidSHA(sha string) bool {
	if len(sha) != 64 {
		return false
	}
	for _, c := range sha {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
