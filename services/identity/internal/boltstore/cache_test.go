package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/identity/internal/domain"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "identity.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// Grow the file once: a commit that grows it waits for the open read
	// transactions, which the interleavings below keep open.
	for _, pad := range [][]byte{make([]byte, 4<<20), nil} {
		err := s.db.Update(func(tx *bolt.Tx) error {
			if pad == nil {
				return tx.Bucket(bMeta).Delete([]byte("pad"))
			}
			return tx.Bucket(bMeta).Put([]byte("pad"), pad)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// readPair reads login u1 and its membership in c1 in one transaction.
func readPair(t *testing.T, s *Store) (l *domain.Login, m *domain.Membership) {
	t.Helper()
	err := s.View(context.Background(), func(tx domain.Tx) error {
		var err error
		if l, err = tx.Login("u1"); err != nil {
			return err
		}
		m, err = tx.Membership("c1", "u1")
		return err
	})
	if err != nil {
		t.Error(err)
	}
	return l, m
}

// writePair writes both records with version n in one transaction; fail
// makes the transaction roll back after writing.
func writePair(s *Store, n int, fail bool) error {
	return s.Update(context.Background(), func(tx domain.Tx) error {
		v := strconv.Itoa(n)
		if err := tx.PutLogin(&domain.Login{ID: "u1", Email: "u1@x.test", LastCompany: v, TOTPSealed: []byte{1, 2}}); err != nil {
			return err
		}
		if err := tx.PutMembership(&domain.Membership{Company: "c1", User: "u1", InvitedBy: v, State: domain.StateActive}); err != nil {
			return err
		}
		if fail {
			return errors.New("rolled back")
		}
		return nil
	})
}

// TestCacheSeesChanges: a change is seen by every read after Update
// returns, also when the records were cached before; a rolled-back change
// and a deletion are seen as such.
func TestCacheSeesChanges(t *testing.T) {
	s := openTemp(t)
	if err := writePair(s, 1, false); err != nil {
		t.Fatal(err)
	}
	readPair(t, s) // cached now
	if l, m := readPair(t, s); l.LastCompany != "1" || m.InvitedBy != "1" {
		t.Fatalf("read %q %q, want 1", l.LastCompany, m.InvitedBy)
	}
	if err := writePair(s, 2, false); err != nil {
		t.Fatal(err)
	}
	if l, m := readPair(t, s); l.LastCompany != "2" || m.InvitedBy != "2" {
		t.Fatalf("after the change: %q %q, want 2", l.LastCompany, m.InvitedBy)
	}
	if err := writePair(s, 3, true); err == nil {
		t.Fatal("the failed change committed")
	}
	if l, m := readPair(t, s); l.LastCompany != "2" || m.InvitedBy != "2" {
		t.Fatalf("after a rolled-back change: %q %q, want 2", l.LastCompany, m.InvitedBy)
	}
	err := s.Update(context.Background(), func(tx domain.Tx) error {
		if err := tx.DeleteMembership("c1", "u1"); err != nil {
			return err
		}
		return tx.DeleteLogin("u1")
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.View(context.Background(), func(tx domain.Tx) error {
		if _, err := tx.Login("u1"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("deleted login: %v", err)
		}
		if _, err := tx.Membership("c1", "u1"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("deleted membership: %v", err)
		}
		return nil
	})
}

// TestCacheReturnsCopies: what a read returns may be changed without
// changing what the next read gets (Tx's contract).
func TestCacheReturnsCopies(t *testing.T) {
	s := openTemp(t)
	if err := writePair(s, 1, false); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a miss, then a hit
		l, m := readPair(t, s)
		l.LastCompany, l.TOTPSealed[0], m.InvitedBy, m.Role = "changed", 9, "changed", domain.Role(4)
	}
	if l, m := readPair(t, s); l.LastCompany != "1" || l.TOTPSealed[0] != 1 || m.InvitedBy != "1" || m.Role != 0 {
		t.Fatalf("a caller's change reached the cache: %+v %+v", l, m)
	}
}

// TestCacheSnapshots: under concurrent changes every read transaction sees
// one snapshot (the login and the membership written together carry the
// same version), never a rolled-back change, never a version older than
// one it saw before, and a writer's next read sees its change (go test
// -race).
func TestCacheSnapshots(t *testing.T) {
	s := openTemp(t)
	if err := writePair(s, 0, false); err != nil {
		t.Fatal(err)
	}
	const writes = 300
	var done atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for !done.Load() {
				l, m := readPair(t, s)
				if l == nil || m == nil {
					return
				}
				if l.LastCompany != m.InvitedBy {
					t.Errorf("one transaction saw versions %s and %s", l.LastCompany, m.InvitedBy)
					return
				}
				n, _ := strconv.Atoi(l.LastCompany)
				if n < 0 {
					t.Errorf("a rolled-back version was read")
					return
				}
				if n < last {
					t.Errorf("version %d read after %d", n, last)
					return
				}
				last = n
			}
		}()
	}
	for n := 1; n <= writes; n++ {
		if n%7 == 0 {
			_ = writePair(s, -n, true)
		}
		if err := writePair(s, n, false); err != nil {
			t.Fatal(err)
		}
		if l, m := readPair(t, s); l.LastCompany != strconv.Itoa(n) || m.InvitedBy != strconv.Itoa(n) {
			t.Fatalf("the writer read %s %s after writing %d", l.LastCompany, m.InvitedBy, n)
		}
	}
	done.Store(true)
	wg.Wait()
}

// writeVersion writes login u1, its membership in c1 and company c1 (never
// cached) with version n in one transaction, calling beforeCommit last
// inside it.
func writeVersion(t *testing.T, s *Store, n int, beforeCommit func()) {
	t.Helper()
	err := s.Update(context.Background(), func(tx domain.Tx) error {
		v := strconv.Itoa(n)
		if err := tx.PutLogin(&domain.Login{ID: "u1", Email: "u1@x.test", LastCompany: v}); err != nil {
			return err
		}
		if err := tx.PutMembership(&domain.Membership{Company: "c1", User: "u1", InvitedBy: v}); err != nil {
			return err
		}
		if err := tx.PutCompany(&domain.Company{ID: "c1", DisplayName: v}); err != nil {
			return err
		}
		if beforeCommit != nil {
			beforeCommit()
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// readVersion reads the three records in one transaction, calling
// beforeReads first inside it, and fails unless all carry version want.
func readVersion(t *testing.T, s *Store, want int, beforeReads func()) {
	t.Helper()
	err := s.View(context.Background(), func(tx domain.Tx) error {
		if beforeReads != nil {
			beforeReads()
		}
		l, err := tx.Login("u1")
		if err != nil {
			return err
		}
		m, err := tx.Membership("c1", "u1")
		if err != nil {
			return err
		}
		c, err := tx.Company("c1")
		if err != nil {
			return err
		}
		if w := strconv.Itoa(want); l.LastCompany != w || m.InvitedBy != w || c.DisplayName != w {
			t.Errorf("read login %s, membership %s, company %s; want version %s", l.LastCompany, m.InvitedBy, c.DisplayName, w)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// inParallel runs fn in another goroutine and waits for it: a transaction
// of this goroutine stays open meanwhile.
func inParallel(fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	<-done
}

// TestCacheRules: the three rules of cache.go, each in the interleaving
// that breaks a cache without it.
func TestCacheRules(t *testing.T) {
	t.Run("an entry newer than the snapshot is not used", func(t *testing.T) {
		s := openTemp(t)
		writeVersion(t, s, 1, nil)
		readVersion(t, s, 1, nil)
		readVersion(t, s, 1, func() { // snapshot: version 1
			inParallel(func() {
				writeVersion(t, s, 2, nil)
				readVersion(t, s, 2, nil) // caches version 2
			})
		})
	})
	t.Run("no fill while a change is being written", func(t *testing.T) {
		s := openTemp(t)
		writeVersion(t, s, 1, nil)
		writeVersion(t, s, 2, func() {
			inParallel(func() { readVersion(t, s, 1, nil) }) // reads version 1: not kept
		})
		readVersion(t, s, 2, nil)
	})
	t.Run("no fill from a snapshot older than the last change", func(t *testing.T) {
		s := openTemp(t)
		writeVersion(t, s, 1, nil)
		readVersion(t, s, 1, func() { // snapshot: version 1, read after the change
			inParallel(func() { writeVersion(t, s, 2, nil) })
		})
		readVersion(t, s, 2, nil)
	})
}
