package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/notify/internal/webhooks/storetest"
)

func TestWebhooksConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (webhooks.Store, func() webhooks.Store) {
		path := filepath.Join(t.TempDir(), "webhooks.db")
		s, err := boltstore.OpenWebhooks(path)
		if err != nil {
			t.Fatal(err)
		}
		current := s
		t.Cleanup(func() { _ = current.Close() })
		reopen := func() webhooks.Store {
			if err := current.Close(); err != nil {
				t.Fatal(err)
			}
			next, err := boltstore.OpenWebhooks(path)
			if err != nil {
				t.Fatal(err)
			}
			current = next
			return next
		}
		return s, reopen
	})
}
