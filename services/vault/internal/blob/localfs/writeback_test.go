package localfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
)

// TestWritebackWhileWriting: writing to disk starts every writebackEvery
// bytes of a staging file, and the published blob holds every byte.
func TestWritebackWhileWriting(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bw, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := bw.(*writer)
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*writebackEvery+writebackEvery/2)/16)
	for p := data; len(p) > 0; p = p[min(len(p), 1<<20):] {
		if _, err := w.Write(p[:min(len(p), 1<<20)]); err != nil {
			t.Fatal(err)
		}
	}
	if w.written != int64(len(data)) || w.flushed != 2*writebackEvery {
		t.Fatalf("written %d, writeback started for %d, want %d", w.written, w.flushed, 2*writebackEvery)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	if err := w.Publish(ctx, sha); err != nil {
		t.Fatal(err)
	}
	r, size, err := s.Open(ctx, sha, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := io.ReadAll(r)
	if size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("published %d bytes (size %d), want %d", len(got), size, len(data))
	}
}
