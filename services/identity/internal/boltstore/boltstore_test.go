package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/identity/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) domain.Store {
		s, err := Open(filepath.Join(t.TempDir(), "identity.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
