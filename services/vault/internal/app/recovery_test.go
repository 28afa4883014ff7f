package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/vault/internal/boltstore"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// TestCrashLeavesNoOrphan: an upload that died between publishing its blob
// and committing its document leaves an intent; the next start deletes the
// blob (unless a committed document uses the same bytes) and any staging
// file (R-VAULT-4, issue 9 point 3).
func TestCrashLeavesNoOrphan(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	kept := pdf("committed", 700)
	must(e.upload(w.s1Admin, upload{docType: "KBIS_EXTRACT"}, kept))
	e.stop()

	// What a crash leaves: a staging file, and two published blobs with
	// their intents, one of them with the bytes of a committed document.
	blobs := filepath.Join(e.dir, "vault", "blobs")
	if err := os.WriteFile(filepath.Join(blobs, "staging", "deadbeef"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := pdf("orphan", 700)
	put := func(data []byte) string {
		sum := sha256.Sum256(data)
		sha := hex.EncodeToString(sum[:])
		dir := filepath.Join(blobs, "sha256", sha[:2])
		_ = os.MkdirAll(dir, 0o700)
		if err := os.WriteFile(filepath.Join(dir, sha), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return sha
	}
	orphanSHA, keptSHA := put(orphan), put(kept)
	st, err := boltstore.Open(filepath.Join(e.dir, "vault", "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(bg, func(tx vault.Tx) error {
		if err := tx.PutBlobIntent(&vault.BlobIntent{ID: "i1", SHA256: orphanSHA, Time: time.Now()}); err != nil {
			return err
		}
		return tx.PutBlobIntent(&vault.BlobIntent{ID: "i2", SHA256: keptSHA, Time: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	e.start(e.fakes, envOptions{dataDir: e.dir, maxSize: e.maxSize})
	if _, err := os.Stat(filepath.Join(blobs, "sha256", orphanSHA[:2], orphanSHA)); !os.IsNotExist(err) {
		t.Fatalf("the orphan blob survived the start: %v", err)
	}
	if n := stagingFiles(t, e.dir); n != 0 {
		t.Fatalf("%d staging files after the start", n)
	}
	l := must(e.docs.ListDocuments(w.s1Admin.ctx, &vaultv1.ListDocumentsRequest{Parent: cn(w.s1)}))
	if len(l.GetDocuments()) != 1 {
		t.Fatalf("documents after the start: %v", l)
	}
	if _, got, err := e.downloadOwn(w.s1Admin, l.GetDocuments()[0].GetName(), 0, 0); err != nil || string(got) != string(kept) {
		t.Fatalf("the committed document's bytes: %v", err)
	}
}

// TestVaultFeed: the vault's events are per company, in order, and a
// customer gets document.uploaded only for a document it collects
// (R-NOTIF-6, R-VAULT-3).
func TestVaultFeed(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	d := must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE"}, pdf("x", 600)))
	evs := e.vaultEvents(t)
	var uploaded []string
	for _, ev := range evs {
		if ev.GetType() == feed.TypeDocumentUploaded {
			uploaded = append(uploaded, ev.GetCompany()+" "+ev.GetSubject())
		}
		if ev.GetSource() != "vault" || ev.GetId() == "" {
			t.Fatalf("event %v", ev)
		}
	}
	slices.Sort(uploaded)
	want := []string{cn(w.c1) + " " + cn(w.c1) + "/suppliers/" + w.s1 + "/documents/" + docID(d.GetName()), cn(w.s1) + " " + d.GetName()}
	slices.Sort(want)
	if !slices.Equal(uploaded, want) {
		t.Fatalf("document.uploaded events %v, want %v (c2 does not collect it)", uploaded, want)
	}
	if countEvents(evs, feed.TypeComplianceChanged, cn(w.c1), "true") != 1 {
		t.Fatalf("the supplier turned compliant for c1: %v", evs)
	}
}

// TestInternalRPCs: what notify asks (R-NOTIF-1, R-NOTIF-2).
func TestInternalRPCs(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	must(e.require(w.c1Admin, "KBIS_EXTRACT", all, nil, ""))
	// 2026-03-10: URSSAF expires in 7 days, KBIS in 30, TAX today.
	must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE", until: "2026-03-17"}, pdf("u", 600)))
	must(e.upload(w.s1Admin, upload{docType: "KBIS_EXTRACT", until: "2026-04-09"}, pdf("k", 600)))
	must(e.upload(w.s1Admin, upload{docType: "TAX_COMPLIANCE", until: "2026-03-10"}, pdf("t", 600)))
	var got []string
	req := &vaultv1.ListExpiringForRemindersRequest{AsOfDate: "2026-03-10", PageSize: 1}
	for {
		r := must(e.intern.ListExpiringForReminders(bg, req))
		for _, d := range r.GetDocuments() {
			got = append(got, d.GetDocumentType().GetName()+"@"+string(rune('0'+d.GetWindowDays()/10))+string(rune('0'+d.GetWindowDays()%10))+" "+
				string(rune('0'+len(d.GetCustomers()))))
		}
		if r.GetNextPageToken() == "" {
			break
		}
		req.PageToken = r.GetNextPageToken()
	}
	want := []string{"documentTypes/KBIS_EXTRACT@30 1", "documentTypes/URSSAF_VIGILANCE@07 1", "documentTypes/TAX_COMPLIANCE@00 0"}
	if !slices.Equal(got, want) {
		t.Fatalf("reminders %v, want %v", got, want)
	}
	_, err := e.intern.ListExpiringForReminders(bg, &vaultv1.ListExpiringForRemindersRequest{PageToken: "9:x"})
	wantCode(t, err, codes.InvalidArgument, "a bad page token")

	op := must(e.intern.GetComplianceDigest(bg, &vaultv1.GetComplianceDigestRequest{Company: cn(w.c1)}))
	if o := op.GetOperator(); o == nil || o.GetSupplierCount() != 2 || o.GetCompliantSupplierCount() != 1 || len(o.GetWorstSuppliers()) != 2 ||
		o.GetCounts().GetMissing() != 2 || o.GetCounts().GetExpiringSoon() != 2 || op.GetSupplier() != nil || op.GetAsOfDate() != "2026-03-10" {
		t.Fatalf("operator digest: %v", op)
	}
	later := must(e.intern.GetComplianceDigest(bg, &vaultv1.GetComplianceDigestRequest{Company: cn(w.c1), AsOfDate: "2026-03-20"}))
	if later.GetOperator().GetCompliantSupplierCount() != 0 || later.GetOperator().GetCounts().GetExpired() != 1 {
		t.Fatalf("digest ten days later: %v", later.GetOperator())
	}
	batch := must(e.intern.BatchGetComplianceDigests(bg, &vaultv1.BatchGetComplianceDigestsRequest{Companies: []string{cn(w.s1), cn(w.c2)}}))
	if len(batch.GetDigests()) != 2 {
		t.Fatalf("batch: %v", batch)
	}
	sd := batch.GetDigests()[0].GetSupplier()
	if sd == nil || sd.GetCustomerCount() != 1 || sd.GetCompliantCustomerCount() != 1 || len(sd.GetCustomers()[0].GetOpenEntries()) != 2 {
		t.Fatalf("supplier digest: %v", batch.GetDigests()[0])
	}
	if batch.GetDigests()[1].GetOperator().GetSupplierCount() != 0 {
		t.Fatalf("c2 requires nothing: %v", batch.GetDigests()[1])
	}
}

// TestDirectoryGap: when directory no longer holds the vault's cursor
// (OUT_OF_RANGE), the vault resynchronises relationships and assignments
// from directory's lists, compliance included.
func TestDirectoryGap(t *testing.T) {
	e := newEnv(t)
	c := e.company(authz.KindOperator, "Customer", "")
	admin := e.member(c, authz.KindOperator, authz.RoleAdministrator, "en")
	s1, s2 := e.company(authz.KindSupplier, "One", ""), e.company(authz.KindSupplier, "Two", "")
	e.link(c, s1)
	must(e.require(admin, "URSSAF_VIGILANCE", all, nil, ""))
	e.stop()
	// While the vault is away: s1 unlinked, s2 linked, and directory
	// prunes the events.
	e.dirSvc.mu.Lock()
	delete(e.dirSvc.links, c+"/"+s1)
	e.dirSvc.links[c+"/"+s2] = true
	e.dirSvc.pruned = uint64(len(e.dirSvc.events)) + 10
	e.dirSvc.events = nil
	e.dirSvc.mu.Unlock()
	e.start(e.fakes, envOptions{dataDir: e.dir, maxSize: e.maxSize})
	e.applied(e.dirSvc.pruned)
	_, err := e.pair(admin, s1)
	wantCode(t, err, codes.NotFound, "a relationship that ended while away")
	e.wantStatuses(admin, s2, "URSSAF_VIGILANCE:MISSING")
}
