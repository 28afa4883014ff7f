package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/directory/storetest"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/storage"
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

// TestMigrateListRecords: a file of schema 2 (empty suppliers_by_name
// values) gets every supplier's list record when opened, and its lists show
// the companies and relationships as before.
func TestMigrateListRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "directory.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cust := directory.Company{ID: names.NewID(), LegalName: "Customer", Kind: directory.KindOperator, Country: "FR", RegistrationNumber: "552100554"}
	if _, err := s.CreateCompany(ctx, cust, ""); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	for i, name := range []string{"Zeta", "alpha", "Mid"} {
		sup := directory.Company{ID: names.NewID(), LegalName: name, Kind: directory.KindSupplier, Country: "GB", RegistrationNumber: fmt.Sprintf("M%d", i),
			Address: directory.Address{Lines: []string{"1 High St"}, City: "Leeds", Country: "GB"}}
		if _, err := s.RegisterSupplier(ctx, directory.Registration{Customer: cust.ID, NewCompany: sup, Time: created}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.ListSuppliers(ctx, cust.ID, directory.ListQuery{Limit: 10})
	if err != nil || len(want) != 3 {
		t.Fatalf("before: %v %v", want, err)
	}
	// Back to schema 2.
	if err := s.DB().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSuppliersByName)
		var keys [][]byte
		_ = b.ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil })
		for _, k := range keys {
			if err := b.Put(k, []byte{}); err != nil {
				return err
			}
		}
		return storage.PutU64(tx, bucketMeta, []byte("schema"), 2)
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListSuppliers(ctx, cust.ID, directory.ListQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("after migration %+v\nwant %+v", got, want)
	}
	if err := s.DB().View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSuppliersByName).ForEach(func(k, v []byte) error {
			if len(v) == 0 {
				return fmt.Errorf("%q has no list record", k)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if v := schemaOf(t, s); v != schemaVersion {
		t.Fatalf("schema %d", v)
	}
}

func schemaOf(t *testing.T, s *Store) uint64 {
	var v uint64
	_ = s.DB().View(func(tx *bolt.Tx) error { v = storage.GetU64(tx, bucketMeta, []byte("schema")); return nil })
	return v
}
