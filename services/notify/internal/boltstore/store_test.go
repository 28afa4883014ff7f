package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/notify/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (storetest.Store, func() storetest.Store) {
		path := filepath.Join(t.TempDir(), "notify.db")
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		current := s
		t.Cleanup(func() { _ = current.Close() })
		reopen := func() storetest.Store {
			if err := current.Close(); err != nil {
				t.Fatal(err)
			}
			next, err := boltstore.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			current = next
			return next
		}
		return s, reopen
	})
}
