// Package blobtest is the conformance suite every blob.Store implementation
// runs (local files today, an S3-compatible store next).
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/vigil/vigil/services/vault/internal/blob"
)

// Run runs every conformance test against stores made by open (a fresh,
// empty store per call; staging reports how many staging objects exist,
// nil when the implementation cannot tell).
func Run(t *testing.T, open func(t *testing.T) blob.Store, staging func(blob.Store) int) {
	t.Run("publish then read back the same bytes", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("identical bytes are stored once", func(t *testing.T) { testDedup(t, open(t), staging) })
	t.Run("abort leaves nothing", func(t *testing.T) { testAbort(t, open(t), staging) })
	t.Run("read from an offset", func(t *testing.T) { testOffset(t, open(t)) })
	t.Run("missing and delete", func(t *testing.T) { testMissing(t, open(t)) })
	t.Run("clean staging", func(t *testing.T) { testCleanStaging(t, open(t), staging) })
}

func put(t *testing.T, s blob.Store, data []byte) string {
	t.Helper()
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	if err := w.Publish(context.Background(), sha); err != nil {
		t.Fatal(err)
	}
	return sha
}

func read(t *testing.T, s blob.Store, sha string, off int64) ([]byte, int64) {
	t.Helper()
	r, size, err := s.Open(context.Background(), sha, off)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b, size
}

func testRoundTrip(t *testing.T, s blob.Store) {
	data := bytes.Repeat([]byte("vigil\x00\xff"), 100_000)
	sha := put(t, s, data)
	got, size := read(t, s, sha, 0)
	if !bytes.Equal(got, data) || size != int64(len(data)) {
		t.Fatalf("read back %d bytes (size %d), want %d identical", len(got), size, len(data))
	}
	if n, err := s.Stat(context.Background(), sha); err != nil || n != int64(len(data)) {
		t.Fatalf("stat: %d %v", n, err)
	}
}

func testDedup(t *testing.T, s blob.Store, staging func(blob.Store) int) {
	a := put(t, s, []byte("same bytes"))
	b := put(t, s, []byte("same bytes"))
	if a != b {
		t.Fatal("same bytes, different hashes")
	}
	if got, _ := read(t, s, a, 0); string(got) != "same bytes" {
		t.Fatalf("read %q", got)
	}
	if staging != nil && staging(s) != 0 {
		t.Fatalf("%d staging objects left after publishing a duplicate", staging(s))
	}
}

func testAbort(t *testing.T, s blob.Store, staging func(blob.Store) int) {
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("half an upload"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("a second abort: %v", err)
	}
	sum := sha256.Sum256([]byte("half an upload"))
	if _, err := s.Stat(context.Background(), hex.EncodeToString(sum[:])); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("an aborted upload is visible: %v", err)
	}
	if staging != nil && staging(s) != 0 {
		t.Fatalf("%d staging objects left after an abort", staging(s))
	}
	w, _ = s.Create(context.Background())
	_, _ = w.Write([]byte("x"))
	if err := w.Publish(context.Background(), "not-a-hash"); err == nil {
		t.Fatal("publishing under a malformed hash must fail")
	}
	if staging != nil && staging(s) != 0 {
		t.Fatal("a failed publish leaves its staging object")
	}
}

func testOffset(t *testing.T, s blob.Store) {
	sha := put(t, s, []byte("0123456789"))
	got, size := read(t, s, sha, 4)
	if string(got) != "456789" || size != 10 {
		t.Fatalf("from 4: %q (size %d)", got, size)
	}
	got, _ = read(t, s, sha, 10)
	if len(got) != 0 {
		t.Fatalf("from the end: %q", got)
	}
	if _, _, err := s.Open(context.Background(), sha, 11); err == nil {
		t.Fatal("an offset past the end must fail")
	}
}

func testMissing(t *testing.T, s blob.Store) {
	missing := hex.EncodeToString(make([]byte, 32))
	if _, _, err := s.Open(context.Background(), missing, 0); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("open missing: %v", err)
	}
	if err := s.Delete(context.Background(), missing); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
	sha := put(t, s, []byte("to delete"))
	if err := s.Delete(context.Background(), sha); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(context.Background(), sha); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("deleted blob: %v", err)
	}
	if _, _, err := s.Open(context.Background(), "../../etc/passwd", 0); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a path for a hash: %v", err)
	}
}

func testCleanStaging(t *testing.T, s blob.Store, staging func(blob.Store) int) {
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("crashed mid-upload"))
	kept := put(t, s, []byte("committed"))
	if err := s.CleanStaging(context.Background()); err != nil {
		t.Fatal(err)
	}
	if staging != nil && staging(s) != 0 {
		t.Fatalf("%d staging objects after cleaning", staging(s))
	}
	if got, _ := read(t, s, kept, 0); string(got) != "committed" {
		t.Fatal("cleaning staging removed a published blob")
	}
}
