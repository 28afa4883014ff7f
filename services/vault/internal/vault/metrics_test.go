package vault_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/vault/internal/blob/localfs"
	"github.com/vigil/vigil/services/vault/internal/boltstore"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// TestProductMetrics: uploads count their bytes and results, downloads
// count (the operations' product metrics).
func TestProductMetrics(t *testing.T) {
	dir := t.TempDir()
	st, err := boltstore.Open(filepath.Join(dir, "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, _ := localfs.Open(filepath.Join(dir, "blobs"))
	reg := prometheus.NewRegistry()
	m := vault.NewMetrics(reg)
	svc, err := vault.New(context.Background(), vault.Config{MaxUploadBytes: 1 << 20}, vault.Deps{Store: st, Blobs: blobs, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	power := auth.Principal{User: "users/u", Company: "companies/s", CompanyKind: authz.KindSupplier, Role: authz.RolePower}
	from, _ := vault.ParseDate("2026-01-01")
	meta := vault.UploadMeta{Supplier: "s", DocumentType: "KBIS_EXTRACT", FileName: "k.pdf", ValidFrom: from}
	data := []byte("%PDF-1.4\nhello\n%%EOF\n")
	d, err := svc.Upload(context.Background(), power, meta, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upload(context.Background(), power, meta, strings.NewReader("MZ not a document")); err == nil {
		t.Fatal("an executable was stored")
	}
	restricted := power
	restricted.Role = authz.RoleRestricted
	if _, err := svc.Upload(context.Background(), restricted, meta, bytes.NewReader(data)); err == nil {
		t.Fatal("a Restricted user uploaded")
	}
	dl, err := svc.Download(context.Background(), power, vault.DownloadRequest{Supplier: "s", ID: d.ID})
	if err != nil {
		t.Fatal(err)
	}
	dl.Body.Close()
	if got := testutil.ToFloat64(m.UploadBytes); got != float64(len(data)) {
		t.Errorf("vigil_vault_upload_bytes_total %v", got)
	}
	for result, want := range map[string]float64{vault.UploadOK: 1, vault.UploadRefused: 1, vault.UploadDenied: 1} {
		if got := testutil.ToFloat64(m.Uploads.WithLabelValues(result)); got != want {
			t.Errorf("vigil_vault_uploads_total{result=%q} %v, want %v", result, got, want)
		}
	}
	if got := testutil.ToFloat64(m.Downloads); got != 1 {
		t.Errorf("vigil_vault_downloads_total %v", got)
	}
	if n, _ := testutil.GatherAndCount(reg, "vigil_vault_upload_bytes_total", "vigil_vault_uploads_total", "vigil_vault_downloads_total"); n < 3 {
		t.Errorf("registered series: %d", n)
	}
}
