package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/vigil/vigil/services/vault/internal/boltstore"
	"github.com/vigil/vigil/services/vault/internal/vault"
	"github.com/vigil/vigil/services/vault/internal/vault/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vault.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
