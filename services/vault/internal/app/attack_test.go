package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/authz"
)

// Holes found by attacking the vault (review 2); each test failed before
// its fix.

// TestAttackRangeSkipsAccessLog: a customer's user read every byte of a
// document but the first (a PDF always starts with "%") with a Range
// request, and the download was not in the access log (R-VAULT-8: every
// download by a customer's user is recorded).
func TestAttackRangeSkipsAccessLog(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	data := pdf("urssaf", 5000)
	doc := must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE"}, data))
	name := cn(w.c1) + "/suppliers/" + w.s1 + "/documents/" + docID(doc.GetName())
	for _, r := range []struct {
		what          string
		offset, limit int64
	}{
		{"bytes=1-", 1, 0},
		{"bytes=-(size-1)", -int64(len(data) - 1), 0},
		{"bytes=100-199", 100, 100},
	} {
		before := must(e.docs.ListDocumentAccessLog(w.s1Admin.ctx, &vaultv1.ListDocumentAccessLogRequest{Parent: doc.GetName()}))
		s, err := e.docs.DownloadSupplierDocument(w.c1Admin.ctx, &vaultv1.DownloadSupplierDocumentRequest{Name: name, ReadOffset: r.offset, ReadLimit: r.limit})
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := readAll(s.Recv)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s: %d bytes, %v", r.what, len(got), err)
		}
		after := must(e.docs.ListDocumentAccessLog(w.s1Admin.ctx, &vaultv1.ListDocumentAccessLogRequest{Parent: doc.GetName()}))
		if len(after.GetEntries()) != len(before.GetEntries())+1 {
			t.Fatalf("%s read %d bytes of %d but the access log went from %d to %d entries", r.what, len(got), len(data),
				len(before.GetEntries()), len(after.GetEntries()))
		}
	}
	// A 304 (the caller already holds the bytes) reads nothing: not logged.
	before := must(e.docs.ListDocumentAccessLog(w.s1Admin.ctx, &vaultv1.ListDocumentAccessLogRequest{Parent: doc.GetName()}))
	s, err := e.docs.DownloadSupplierDocument(w.c1Admin.ctx, &vaultv1.DownloadSupplierDocumentRequest{Name: name, IfNoneMatch: `"` + doc.GetSha256() + `"`})
	if err != nil {
		t.Fatal(err)
	}
	if info, got, err := readAll(s.Recv); err != nil || !info.GetNotModified() || len(got) != 0 {
		t.Fatalf("304: %v %d %v", info, len(got), err)
	}
	after := must(e.docs.ListDocumentAccessLog(w.s1Admin.ctx, &vaultv1.ListDocumentAccessLogRequest{Parent: doc.GetName()}))
	if len(after.GetEntries()) != len(before.GetEntries()) {
		t.Fatalf("a 304 was logged as a download")
	}
}

// relayAll hands every queued e-mail to (fake) notify.
func (e *env) relayAll() {
	e.t.Helper()
	for {
		more, err := e.svc.RelayOnce(bg)
		if err != nil {
			e.t.Fatal(err)
		}
		if !more {
			return
		}
	}
}

// rejectionRecipients are the addresses the rejection e-mails went to.
func (e *env) rejectionRecipients() []string {
	var to []string
	for _, n := range e.notify.byTemplate(notifyv1.Template_TEMPLATE_DOCUMENT_REJECTED) {
		for _, r := range n.GetRecipients() {
			to = append(to, r.GetEmail())
		}
	}
	slices.Sort(to)
	return to
}

// TestAttackDisplayNameDropsRejectionMail: one uploader who named itself
// with a character identity accepts (a C1 control character) but notify
// refuses made notify refuse the whole rejection e-mail, which the vault
// then dropped for good: no uploader learnt of the rejection (R-VAULT-7,
// R-NOTIF-5: nothing is lost).
func TestAttackDisplayNameDropsRejectionMail(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	e.id.mu.Lock()
	e.id.members = append(e.id.members, member{company: w.s1, user: "eve", role: authz.RoleAdministrator, email: "eve@example.test", lang: "en",
		name: "Eve\u0085 Mallory"})
	e.id.mu.Unlock()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	doc := must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE"}, pdf("urssaf", 900)))
	must(e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: cn(w.c1) + "/suppliers/" + w.s1 + "/documents/" + docID(doc.GetName()),
		Reason: "Unsigned"}))
	e.relayAll()
	want := []string{"eve@example.test", w.s1Admin.user + "@example.test", w.s1Power.user + "@example.test"}
	slices.Sort(want)
	if got := e.rejectionRecipients(); !slices.Equal(got, want) {
		t.Fatalf("rejection e-mailed to %v, want %v", got, want)
	}
}

// TestAttackRejectionMailToRestrictedReference: the rejection e-mail (file
// name, the customer's reason) also went to the supplier's references for
// the customer, Restricted users by default (R-DIR-5), who may not view
// certificates (R-ID-3); issue 10 point 5 addresses it to the users who can
// upload the document.
func TestAttackRejectionMailToRestrictedReference(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	e.dirSvc.mu.Lock()
	e.dirSvc.refs[cn(w.c1)+"/"+cn(w.s1)] = []string{cn(w.s1) + "/users/" + w.s1Restricted.user}
	e.dirSvc.mu.Unlock()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	doc := must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE", fileName: "urssaf-2026.pdf"}, pdf("urssaf", 900)))
	must(e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: cn(w.c1) + "/suppliers/" + w.s1 + "/documents/" + docID(doc.GetName()),
		Reason: "Unsigned"}))
	e.relayAll()
	got := e.rejectionRecipients()
	if slices.Contains(got, w.s1Restricted.user+"@example.test") {
		t.Fatalf("the Restricted reference was e-mailed the rejection: %v", got)
	}
	if len(got) != 2 {
		t.Fatalf("rejection e-mailed to %v, want the two uploaders", got)
	}
}

// TestAttackPolyglotNamedAsScript: a supplier's PDF named certificate.cmd
// (or .hta, .scr, .vbs, .lnk, …: any extension the sniffer does not know)
// was accepted and served as an attachment under that name. A PDF can also
// be a batch file (cmd runs every line it can) or an HTA (mshta runs the
// HTML it finds): the customer who opens the download runs the supplier's
// program. The stored name now always ends with an extension of the type
// the bytes are (R-VAULT-4: the content type is decided from the bytes).
func TestAttackPolyglotNamedAsScript(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	poly := append([]byte("%PDF-1.4\n&cls&calc.exe&exit\n<script>new ActiveXObject('WScript.Shell').Run('calc')</script>\n"), pdf("x", 600)[9:]...)
	for name, want := range map[string]string{
		"certificate.cmd":     "certificate.cmd.pdf",
		"certificate.hta":     "certificate.hta.pdf",
		"Kbis.pdf.scr":        "Kbis.pdf.scr.pdf",
		"scan":                "scan.pdf",
		"urssaf.PDF":          "urssaf.PDF",
		"Attestation été.pdf": "Attestation été.pdf",
	} {
		doc, err := e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE", fileName: name}, poly)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc.GetFileName() != want {
			t.Fatalf("%s stored as %q, want %q", name, doc.GetFileName(), want)
		}
		info, _, err := e.downloadAsCustomer(w.c1Admin, w.s1, doc.GetName())
		if err != nil || info.GetFileName() != want {
			t.Fatalf("%s served as %q (%v), want %q", name, info.GetFileName(), err, want)
		}
	}
	long := strings.Repeat("a", 250) + ".cmd"
	doc := must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE", fileName: long}, poly))
	if n := doc.GetFileName(); len(n) > 255 || !strings.HasSuffix(n, ".pdf") {
		t.Fatalf("a 254-byte name became %q (%d bytes)", n, len(n))
	}
}

// TestAttackRestrictedProbesDocuments: a supplier's Restricted user, who
// may view no certificate (R-ID-3), was told 404 for a document that does
// not exist and 403 for one that does: it could list which document ids
// exist (and, with the versions route, how many versions). Every such call
// is now refused before any lookup.
func TestAttackRestrictedProbesDocuments(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	doc := must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE"}, pdf("urssaf", 900)))
	absent := cn(w.s1) + "/documents/" + strings.Repeat("0", 26)
	for _, name := range []string{doc.GetName(), absent} {
		_, err := e.docs.GetDocument(w.s1Restricted.ctx, &vaultv1.GetDocumentRequest{Name: name})
		wantCode(t, err, codes.PermissionDenied, "GetDocument "+name)
		_, err = e.docs.ListDocumentVersions(w.s1Restricted.ctx, &vaultv1.ListDocumentVersionsRequest{Name: name})
		wantCode(t, err, codes.PermissionDenied, "ListDocumentVersions "+name)
		_, _, err = e.downloadOwn(w.s1Restricted, name, 0, 0)
		wantCode(t, err, codes.PermissionDenied, "DownloadDocument "+name)
	}
	// Users who may view certificates still tell "absent" apart (404).
	_, err := e.docs.GetDocument(w.s1Standard.ctx, &vaultv1.GetDocumentRequest{Name: absent})
	wantCode(t, err, codes.NotFound, "a Standard user asks for an absent document")
}

// TestAttackRequestNamesAnotherCustomersType: a customer asking a supplier
// for documents could name any document type, another customer's SPECIFIC
// type included (R-VAULT-1: seen by its owner and its suppliers only): the
// answer told whether the id exists, and the e-mail gave its name to a
// supplier that is not the owner's.
func TestAttackRequestNamesAnotherCustomersType(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	secret := must(e.types.CreateDocumentType(w.c2Admin.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c2),
		DocumentType: &vaultv1.DocumentType{DisplayName: "Beta's secret process audit", Subject: vaultv1.DocumentSubject_DOCUMENT_SUBJECT_COMPANY}}))
	// s2 is c1's supplier only.
	_, err := e.docs.RequestDocuments(w.c1Admin.ctx, &vaultv1.RequestDocumentsRequest{Name: cn(w.c1) + "/suppliers/" + w.s2,
		DocumentTypes: []string{secret.GetName()}})
	wantCode(t, err, codes.InvalidArgument, "naming another customer's SPECIFIC type")
	_, unknown := e.docs.RequestDocuments(w.c1Admin.ctx, &vaultv1.RequestDocumentsRequest{Name: cn(w.c1) + "/suppliers/" + w.s2,
		DocumentTypes: []string{"documentTypes/" + strings.Repeat("0", 26)}})
	msg := func(err error) string {
		st, _ := status.FromError(err)
		return strings.NewReplacer(docID(secret.GetName()), "ID", strings.Repeat("0", 26), "ID").Replace(st.Message())
	}
	if msg(err) != msg(unknown) {
		t.Fatalf("another customer's type (%v) is told apart from an unknown one (%v)", err, unknown)
	}
	e.relayAll()
	if sent := e.notify.byTemplate(notifyv1.Template_TEMPLATE_DOCUMENT_UPDATE_REQUEST); len(sent) != 0 {
		t.Fatalf("e-mailed: %v", sent)
	}
}

// TestAttackBidiFileName: a file name with a right-to-left override
// (U+202E) shows another name than it has: "invoice\u202Efdp.scr" reads
// "invoicercs.pdf" in a list. File names are metadata only, without control
// characters (R-VAULT-4): bidirectional formatting characters are refused
// like the others.
func TestAttackBidiFileName(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	for _, name := range []string{"invoice\u202Efdp.scr", "a\u2066b.pdf", "a\u200Fb.pdf", "a\u061Cb.pdf"} {
		_, err := e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE", fileName: name}, pdf("x", 600))
		if code(err) != codes.InvalidArgument || !namesField(err, "file_name") {
			t.Fatalf("%q: %v, want INVALID_ARGUMENT naming file_name", name, err)
		}
	}
	if l := must(e.docs.ListDocuments(w.s1Admin.ctx, &vaultv1.ListDocumentsRequest{Parent: cn(w.s1)})); len(l.GetDocuments()) != 0 {
		t.Fatalf("refused uploads stored %v", l.GetDocuments())
	}
}

// TestAttackSlowUploadsPileUp: anyone may sign up a supplier and upload;
// an upload may take 15 minutes (the gateway's bound), one byte every 29
// seconds. Each held a staging file (up to 25 MiB) and a quarter of a MiB
// of buffers in the vault and in the gateway, without any bound on how many
// were in flight: thousands of stalled uploads exhaust memory and disk.
// Uploads in flight are now bounded per company and in all (429).
func TestAttackSlowUploadsPileUp(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	ctx, cancel := context.WithCancel(w.s1Admin.ctx)
	defer cancel()
	meta := &vaultv1.UploadDocumentMetadata{Parent: cn(w.s1), DocumentType: "documentTypes/URSSAF_VIGILANCE", Subject: cn(w.s1),
		FileName: "a.pdf", ValidFrom: "2026-01-01"}
	// stall opens an upload that sends its metadata and a first chunk and
	// keeps the stream open; it reports what the vault answers within a
	// short while (nil: still in flight).
	stall := func(ctx context.Context) error {
		s, err := e.docs.UploadDocument(ctx)
		if err != nil {
			return err
		}
		_ = s.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Metadata{Metadata: meta}})
		_ = s.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Chunk{Chunk: []byte("%PDF-1.4\n")}})
		done := make(chan error, 1)
		go func() {
			var m vaultv1.Document
			done <- s.RecvMsg(&m)
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(300 * time.Millisecond):
			return nil
		}
	}
	refused := 0
	for i := range 20 {
		if err := stall(ctx); err != nil {
			if code(err) != codes.ResourceExhausted {
				t.Fatalf("upload %d: %v, want RESOURCE_EXHAUSTED", i, err)
			}
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("20 stalled uploads of one company are all in flight at once")
	}
	// Another company still uploads.
	if _, err := e.upload(w.s2Admin, upload{docType: "URSSAF_VIGILANCE"}, pdf("s2", 900)); err != nil {
		t.Fatalf("another company's upload while s1's are stalled: %v", err)
	}
	// Once the stalled uploads end, s1 uploads again.
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE"}, pdf("s1", 900))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stalled uploads ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAttackForgedPageTokens: page tokens are store cursors; one forged to
// point into another company's keys is refused (INVALID_ARGUMENT naming
// page_token), never read.
func TestAttackForgedPageTokens(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	must(e.require(w.c2Admin, "URSSAF_VIGILANCE", all, nil, ""))
	for range 3 {
		must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE"}, pdf("s1", 700)))
	}
	must(e.upload(w.s2Admin, upload{docType: "URSSAF_VIGILANCE"}, pdf("s2", 700)))
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	// Keys of s1's documents and of c1's summaries, as a forger would write them.
	_, err := e.docs.ListDocuments(w.s2Admin.ctx, &vaultv1.ListDocumentsRequest{Parent: cn(w.s2), PageSize: 1, IncludeSuperseded: true,
		PageToken: b64(w.s1 + "/")})
	if code(err) != codes.InvalidArgument || !namesField(err, "page_token") {
		t.Fatalf("s2 lists its documents from s1's keys: %v", err)
	}
	// The compliance list's token is a fingerprint of the filters, then a cursor.
	sum := sha256.Sum256([]byte("c|||"))
	forged := b64(hex.EncodeToString(sum[:4]) + w.c1 + "/")
	_, err = e.comp.ListComplianceSummaries(w.c2Admin.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(w.c2), PageToken: forged})
	if code(err) != codes.InvalidArgument || !namesField(err, "page_token") {
		t.Fatalf("c2 lists compliance from c1's keys: %v", err)
	}
	doc := must(e.upload(w.s2Admin, upload{docType: "KBIS_EXTRACT"}, pdf("k", 700)))
	_, err = e.docs.ListDocumentAccessLog(w.s2Admin.ctx, &vaultv1.ListDocumentAccessLogRequest{Parent: doc.GetName(), PageToken: b64(w.s1 + "/URSSAF_VIGILANCE//")})
	if code(err) != codes.InvalidArgument || !namesField(err, "page_token") {
		t.Fatalf("s2 reads s1's access log with a forged token: %v", err)
	}
	_, err = e.docs.ListExpiringDocuments(w.s2Admin.ctx, &vaultv1.ListExpiringDocumentsRequest{Parent: cn(w.s2), PageToken: b64(w.s1 + "/")})
	if code(err) != codes.InvalidArgument || !namesField(err, "page_token") {
		t.Fatalf("s2 lists expiring documents from s1's keys: %v", err)
	}
}
