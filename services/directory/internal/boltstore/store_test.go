package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/directory/storetest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) directory.Store { return newStore(t) })
}

// TestDeleteRefusedWithEmployeesOrProjects: employees and projects are
// written by later issues; a raw key in their buckets stands for one.
func TestDeleteRefusedWithEmployeesOrProjects(t *testing.T) {
	for _, b := range [][]byte{bucketEmployees, bucketProjects} {
		t.Run(string(b), func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			c, err := s.CreateCompany(ctx, storetest.NewCompany("732829320"), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(b).Put(pairKey(c.ID, "x"), []byte{}) }); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteCompany(ctx, c.ID); !errors.Is(err, directory.ErrInUse) {
				t.Fatalf("delete: %v, want ErrInUse", err)
			}
		})
	}
}

// TestCorruptValue: a stored value that fails to decode is an error, never a panic.
func TestCorruptValue(t *testing.T) {
	s := newStore(t)
	if err := s.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCompanies).Put([]byte("bad"), []byte{0xff, 0xff}) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Company(context.Background(), "bad"); err == nil || errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("corrupt value: %v, want a decode error", err)
	}
}
