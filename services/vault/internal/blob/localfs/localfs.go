// Package localfs is the blob store on the local file system: blobs under
// {dir}/sha256/{aa}/{sha}, staging files under {dir}/staging. A staging file
// is synced before it is renamed into place and the directory is synced
// after, so that a published blob survives a crash whole or not at all;
// its writing to disk starts while it is written (on Linux), so that the
// sync at the end is short.
package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vigil/vigil/services/vault/internal/blob"
)

// Store implements blob.Store in a directory.
type Store struct {
	dir string
}

var _ blob.Store = (*Store)(nil)

// Open prepares the store's directories under dir.
func Open(dir string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "staging"), filepath.Join(dir, "sha256")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(sha string) string { return filepath.Join(s.dir, "sha256", sha[:2], sha) }

// Create implements blob.Store.
func (s *Store) Create(context.Context) (blob.Writer, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	name := filepath.Join(s.dir, "staging", hex.EncodeToString(b[:]))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blob staging: %w", err)
	}
	return &writer{s: s, f: f, name: name}, nil
}

type writer struct {
	s    *Store
	f    *os.File
	name string
	done bool
	// written bytes so far; flushed: how many of them writeback was
	// started for.
	written, flushed int64
}

// writebackEvery is how many bytes a staging file takes before their
// writing to disk is started (startWriteback), while the upload goes on:
// the Sync at Publish then waits for the last few MiB only, not for the
// whole file (a 20 MiB upload spent most of its last 60 ms there, issue 9).
const writebackEvery = 4 << 20

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.flushed >= writebackEvery {
		startWriteback(w.f, w.flushed, w.written-w.flushed)
		w.flushed = w.written
	}
	return n, err
}

func (w *writer) Publish(_ context.Context, sha string) error {
	if w.done {
		return errors.New("blob: writer already closed")
	}
	if !blob.ValidSHA(sha) {
		_ = w.Abort()
		return fmt.Errorf("blob: bad hash %q", sha)
	}
	if err := w.f.Sync(); err != nil {
		_ = w.Abort()
		return fmt.Errorf("blob sync: %w", err)
	}
	if err := w.f.Close(); err != nil {
		_ = os.Remove(w.name)
		w.done = true
		return fmt.Errorf("blob close: %w", err)
	}
	w.done = true
	final := w.s.path(sha)
	if _, err := os.Stat(final); err == nil {
		// Stored already: identical bytes are kept once.
		return os.Remove(w.name)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		_ = os.Remove(w.name)
		return fmt.Errorf("blob dir: %w", err)
	}
	if err := os.Rename(w.name, final); err != nil {
		_ = os.Remove(w.name)
		return fmt.Errorf("blob publish: %w", err)
	}
	return syncDir(filepath.Dir(final))
}

func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	_ = w.f.Close()
	if err := os.Remove(w.name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob dir sync: %w", err)
	}
	return nil
}

// Open implements blob.Store.
func (s *Store) Open(_ context.Context, sha string, offset int64) (io.ReadCloser, int64, error) {
	if !blob.ValidSHA(sha) {
		return nil, 0, blob.ErrNotFound
	}
	f, err := os.Open(s.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, blob.ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if offset < 0 || offset > st.Size() {
		f.Close()
		return nil, 0, fmt.Errorf("blob: offset %d outside 0…%d", offset, st.Size())
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// Stat implements blob.Store.
func (s *Store) Stat(_ context.Context, sha string) (int64, error) {
	if !blob.ValidSHA(sha) {
		return 0, blob.ErrNotFound
	}
	st, err := os.Stat(s.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, blob.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Delete implements blob.Store.
func (s *Store) Delete(_ context.Context, sha string) error {
	if !blob.ValidSHA(sha) {
		return nil
	}
	if err := os.Remove(s.path(sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// CleanStaging implements blob.Store: the staging directory is this
// process's own (the vault's bbolt file lock keeps a second process out of
// the data folder), so everything in it at start is left from a dead upload.
func (s *Store) CleanStaging(context.Context) error {
	dir := filepath.Join(s.dir, "staging")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// StagingCount counts staging files (tests: nothing left behind).
func (s *Store) StagingCount() int {
	entries, _ := os.ReadDir(filepath.Join(s.dir, "staging"))
	return len(entries)
}
