package localfs_test

import (
	"testing"

	"github.com/vigil/vigil/services/vault/internal/blob"
	"github.com/vigil/vigil/services/vault/internal/blob/blobtest"
	"github.com/vigil/vigil/services/vault/internal/blob/localfs"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := localfs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, func(s blob.Store) int { return s.(*localfs.Store).StagingCount() })
}
