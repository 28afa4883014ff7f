package vault_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil/vigil/services/vault/internal/blob/localfs"
	"github.com/vigil/vigil/services/vault/internal/boltstore"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// TestFailedCommitKeepsAConcurrentUploadsBlob: two uploads of the same
// bytes publish one blob; when the first one's commit fails, the blob
// stays while the second is in flight (its intent recorded: it may be
// about to commit a document that uses it), and the last one to fail
// deletes it (R-VAULT-4: no orphan, and no document without its bytes).
func TestFailedCommitKeepsAConcurrentUploadsBlob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(filepath.Join(dir, "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := vault.New(ctx, vault.Config{}, vault.Deps{Store: st, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("%PDF-1.7 the same bytes, twice %%EOF")
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	a := &vault.BlobIntent{ID: "a", SHA256: sha, Time: time.Now()}
	b := &vault.BlobIntent{ID: "b", SHA256: sha, Time: time.Now()}
	if err := st.Update(ctx, func(tx vault.Tx) error {
		if err := tx.PutBlobIntent(a); err != nil {
			return err
		}
		return tx.PutBlobIntent(b)
	}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // both uploads publish; the second finds the blob there
		w, err := blobs.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Publish(ctx, sha); err != nil {
			t.Fatal(err)
		}
	}

	s.DropIfOrphan(ctx, a) // a's commit failed
	if _, err := blobs.Stat(ctx, sha); err != nil {
		t.Fatalf("the blob of the upload still in flight was deleted: %v", err)
	}
	s.DropIfOrphan(ctx, b) // and then b's
	if _, err := blobs.Stat(ctx, sha); err == nil {
		t.Fatal("the blob outlived every upload of it: an orphan")
	}
	if err := st.View(ctx, func(tx vault.Tx) error {
		if is, _ := tx.BlobIntents(10); len(is) != 0 {
			t.Fatalf("intents left: %v", is)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
