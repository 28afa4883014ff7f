package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/authz"
)

// pdf returns a well-formed PDF of about n bytes whose content says what.
func pdf(what string, n int) []byte {
	b := []byte("%PDF-1.4\n% " + what + "\n")
	for len(b) < n-7 {
		b = append(b, "0123456789abcdef\n"...)
	}
	return append(b, "\n%%EOF\n"...)
}

type upload struct {
	docType, subject, fileName, from, until, contentType, sha string
}

// upload streams data as one document of p's company.
func (e *env) upload(p person, u upload, data []byte) (*vaultv1.Document, error) {
	e.t.Helper()
	if u.fileName == "" {
		u.fileName = "certificate.pdf"
	}
	if u.from == "" {
		u.from = "2026-01-01"
	}
	if u.subject == "" {
		u.subject = cn(p.company)
	}
	stream, err := e.docs.UploadDocument(p.ctx)
	if err != nil {
		return nil, err
	}
	meta := &vaultv1.UploadDocumentMetadata{Parent: cn(p.company), DocumentType: "documentTypes/" + u.docType, Subject: u.subject,
		FileName: u.fileName, ValidFrom: u.from, ValidUntil: u.until, ContentType: u.contentType, Sha256: u.sha}
	if err := stream.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Metadata{Metadata: meta}}); err != nil {
		_, err = stream.CloseAndRecv()
		return nil, err
	}
	for len(data) > 0 {
		n := min(len(data), 100_000)
		if err := stream.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Chunk{Chunk: data[:n]}}); err != nil {
			break // the server answered already; CloseAndRecv has its status
		}
		data = data[n:]
	}
	return stream.CloseAndRecv()
}

type contentMsg interface {
	GetMetadata() *vaultv1.DocumentContentInfo
	GetChunk() []byte
}

// readAll drains a download stream.
func readAll[T contentMsg](recv func() (T, error)) (*vaultv1.DocumentContentInfo, []byte, error) {
	var info *vaultv1.DocumentContentInfo
	var buf bytes.Buffer
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return info, buf.Bytes(), nil
		}
		if err != nil {
			return nil, nil, err
		}
		if md := m.GetMetadata(); md != nil {
			info = md
		}
		buf.Write(m.GetChunk())
	}
}

func (e *env) downloadOwn(p person, name string, off, limit int64) (*vaultv1.DocumentContentInfo, []byte, error) {
	s, err := e.docs.DownloadDocument(p.ctx, &vaultv1.DownloadDocumentRequest{Name: name, ReadOffset: off, ReadLimit: limit})
	if err != nil {
		return nil, nil, err
	}
	return readAll(s.Recv)
}

func (e *env) downloadAsCustomer(p person, supplier, docName string) (*vaultv1.DocumentContentInfo, []byte, error) {
	id := docName[strings.LastIndex(docName, "/")+1:]
	s, err := e.docs.DownloadSupplierDocument(p.ctx, &vaultv1.DownloadSupplierDocumentRequest{Name: cn(p.company) + "/suppliers/" + supplier + "/documents/" + id})
	if err != nil {
		return nil, nil, err
	}
	return readAll(s.Recv)
}

func docID(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// world is two customers, two suppliers and their people.
type world struct {
	c1, c2, s1, s2                 string
	c1Admin, c1Restricted, c2Admin person
	s1Admin, s1Power, s1Standard   person
	s1Restricted, s2Admin          person
}

func (e *env) world() world {
	w := world{}
	w.c1 = e.company(authz.KindOperator, "Acme Operator", "Europe/Paris")
	w.c2 = e.company(authz.KindOperator, "Beta Operator", "America/New_York")
	w.s1 = e.company(authz.KindSupplier, "Sun Builders", "")
	w.s2 = e.company(authz.KindSupplier, "Moon Cleaning", "")
	w.c1Admin = e.member(w.c1, authz.KindOperator, authz.RoleAdministrator, "en")
	w.c1Restricted = e.member(w.c1, authz.KindOperator, authz.RoleRestricted, "en")
	w.c2Admin = e.member(w.c2, authz.KindOperator, authz.RoleAdministrator, "fr")
	w.s1Admin = e.member(w.s1, authz.KindSupplier, authz.RoleAdministrator, "fr")
	w.s1Power = e.member(w.s1, authz.KindSupplier, authz.RolePower, "en")
	w.s1Standard = e.member(w.s1, authz.KindSupplier, authz.RoleStandard, "en")
	w.s1Restricted = e.member(w.s1, authz.KindSupplier, authz.RoleRestricted, "en")
	w.s2Admin = e.member(w.s2, authz.KindSupplier, authz.RoleAdministrator, "en")
	e.link(w.c1, w.s1)
	e.link(w.c2, w.s1)
	e.link(w.c1, w.s2)
	return w
}

func (e *env) require(p person, docType string, scope vaultv1.RequirementScope, suppliers []string, project string) (*vaultv1.Requirement, error) {
	return e.reqs.CreateRequirement(p.ctx, &vaultv1.CreateRequirementRequest{Parent: cn(p.company), Requirement: &vaultv1.Requirement{
		DocumentType: "documentTypes/" + docType, Scope: scope, Suppliers: suppliers, Project: project}})
}

// TestCatalog: issue 9 point 1 (R-VAULT-1, R-ID-11).
func TestCatalog(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	list, err := e.types.ListDocumentTypes(w.s1Restricted.ctx, &vaultv1.ListDocumentTypesRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*vaultv1.DocumentType{}
	for _, dt := range list.GetDocumentTypes() {
		byName[dt.GetName()] = dt
	}
	for _, id := range []string{"KBIS_EXTRACT", "URSSAF_VIGILANCE", "TAX_COMPLIANCE", "CIVIL_LIABILITY_INSURANCE", "PROFESSIONAL_INDEMNITY_INSURANCE",
		"FOREIGN_WORKERS_LIST", "ISO_9001", "ISO_14001", "ISO_45001", "SAFETY_TRAINING", "WORK_PERMIT", "MEDICAL_FITNESS", "ELECTRICAL_CLEARANCE"} {
		dt := byName["documentTypes/"+id]
		if dt == nil || dt.GetTranslations()["fr"].GetDisplayName() == "" || dt.GetTranslations()["en"].GetDescription() == "" || dt.GetDefaultValidityDays() == 0 {
			t.Fatalf("seeded type %s: %v", id, dt)
		}
	}
	if byName["documentTypes/KBIS_EXTRACT"].GetDefaultValidityDays() != 90 || byName["documentTypes/URSSAF_VIGILANCE"].GetDefaultValidityDays() != 180 ||
		byName["documentTypes/SAFETY_TRAINING"].GetSubject() != vaultv1.DocumentSubject_DOCUMENT_SUBJECT_EMPLOYEE {
		t.Fatal("seeded validities and subjects")
	}

	newType := &vaultv1.DocumentType{DisplayName: "Asbestos survey", Subject: vaultv1.DocumentSubject_DOCUMENT_SUBJECT_COMPANY,
		Category: vaultv1.DocumentCategory_DOCUMENT_CATEGORY_REGULATORY, DefaultValidityDays: 365}
	t.Run("only platform administrators add catalog types", func(t *testing.T) {
		for _, p := range []person{w.c1Admin, w.s1Admin} {
			_, err := e.types.CreateCatalogDocumentType(p.ctx, &vaultv1.CreateCatalogDocumentTypeRequest{DocumentType: newType, DocumentTypeId: "ASBESTOS"})
			wantCode(t, err, codes.PermissionDenied, "an administrator of a company adds a catalog type")
		}
		got, err := e.types.CreateCatalogDocumentType(e.platformAdmin(w.c1).ctx, &vaultv1.CreateCatalogDocumentTypeRequest{DocumentType: newType, DocumentTypeId: "ASBESTOS"})
		if err != nil || got.GetName() != "documentTypes/ASBESTOS" || got.GetTranslations()["fr"].GetDisplayName() != "Asbestos survey" {
			t.Fatalf("platform admin: %v %v", got, err)
		}
		_, err = e.types.CreateCatalogDocumentType(e.platformAdmin(w.c1).ctx, &vaultv1.CreateCatalogDocumentTypeRequest{DocumentType: newType, DocumentTypeId: "ASBESTOS"})
		wantCode(t, err, codes.AlreadyExists, "the same id twice")
		_, err = e.types.CreateCatalogDocumentType(e.platformAdmin(w.c1).ctx, &vaultv1.CreateCatalogDocumentTypeRequest{DocumentType: newType, DocumentTypeId: "bad id"})
		wantCode(t, err, codes.InvalidArgument, "a malformed id")
	})

	t.Run("a customer's SPECIFIC type is seen by it and its suppliers only", func(t *testing.T) {
		specific := &vaultv1.DocumentType{DisplayName: "Site induction", Subject: vaultv1.DocumentSubject_DOCUMENT_SUBJECT_EMPLOYEE}
		_, err := e.types.CreateDocumentType(w.c1Restricted.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c1), DocumentType: specific})
		wantCode(t, err, codes.PermissionDenied, "a Restricted user without a grant")
		_, err = e.types.CreateDocumentType(w.c2Admin.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c1), DocumentType: specific})
		wantCode(t, err, codes.PermissionDenied, "another company's administrator")
		_, err = e.types.CreateDocumentType(w.c1Admin.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c1), DocumentType: &vaultv1.DocumentType{Subject: 1}})
		wantCode(t, err, codes.InvalidArgument, "no display name")
		got, err := e.types.CreateDocumentType(w.c1Admin.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c1), DocumentType: specific, DocumentTypeId: "ACME_INDUCTION"})
		if err != nil || got.GetCategory() != vaultv1.DocumentCategory_DOCUMENT_CATEGORY_SPECIFIC || got.GetOwner() != cn(w.c1) ||
			got.GetName() != "documentTypes/"+w.c1+"-ACME_INDUCTION" {
			t.Fatalf("create specific: %v %v", got, err)
		}
		// The id is the owner's: another customer takes the same one (no
		// ALREADY_EXISTS telling what c1 uses), nobody squats a catalog id,
		// and the owner's second try is its own conflict.
		if other, err := e.types.CreateDocumentType(w.c2Admin.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c2), DocumentType: specific, DocumentTypeId: "ACME_INDUCTION"}); err != nil || other.GetName() != "documentTypes/"+w.c2+"-ACME_INDUCTION" {
			t.Fatalf("another customer's type of the same id: %v %v", other, err)
		}
		if squat, err := e.types.CreateDocumentType(w.c1Admin.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c1), DocumentType: specific, DocumentTypeId: "KBIS_EXTRACT"}); err != nil || squat.GetName() == "documentTypes/KBIS_EXTRACT" {
			t.Fatalf("a customer's type took a catalog id: %v %v", squat, err)
		}
		_, err = e.types.CreateDocumentType(w.c1Admin.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c1), DocumentType: specific, DocumentTypeId: "ACME_INDUCTION"})
		wantCode(t, err, codes.AlreadyExists, "the owner's own id again")
		_, err = e.types.CreateDocumentType(w.c1Admin.ctx, &vaultv1.CreateDocumentTypeRequest{Parent: cn(w.c1), DocumentType: specific, DocumentTypeId: strings.Repeat("X", 64)})
		if code(err) != codes.InvalidArgument || field(err) != "document_type_id" {
			t.Fatalf("an id too long with the owner's prefix: %v (field %q)", err, field(err))
		}
		catalog, err := e.types.ListDocumentTypes(w.c2Admin.ctx, &vaultv1.ListDocumentTypesRequest{PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, dt := range catalog.GetDocumentTypes() {
			if dt.GetCategory() == vaultv1.DocumentCategory_DOCUMENT_CATEGORY_SPECIFIC {
				t.Fatalf("the catalog lists a customer's type: %v", dt)
			}
		}
		sees := func(p person) bool {
			l, err := e.types.ListDocumentTypes(p.ctx, &vaultv1.ListDocumentTypesRequest{Company: cn(p.company), PageSize: 500})
			if err != nil {
				t.Fatal(err)
			}
			for _, dt := range l.GetDocumentTypes() {
				if dt.GetName() == "documentTypes/"+w.c1+"-ACME_INDUCTION" {
					return true
				}
			}
			return false
		}
		if !sees(w.c1Restricted) || !sees(w.s1Restricted) || sees(w.c2Admin) {
			t.Fatal("a SPECIFIC type is visible to its owner and its suppliers only")
		}
		_, err = e.types.ListDocumentTypes(w.c2Admin.ctx, &vaultv1.ListDocumentTypesRequest{Company: cn(w.c1)})
		wantCode(t, err, codes.PermissionDenied, "listing another company's types")
		_, err = e.require(w.c2Admin, w.c1+"-ACME_INDUCTION", vaultv1.RequirementScope_REQUIREMENT_SCOPE_ALL_SUPPLIERS, nil, "")
		wantCode(t, err, codes.InvalidArgument, "requiring another customer's SPECIFIC type")
	})
}

// TestRequirements: issue 9 point 2 (R-VAULT-2, R-DIR-10).
func TestRequirements(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	all := vaultv1.RequirementScope_REQUIREMENT_SCOPE_ALL_SUPPLIERS
	named := vaultv1.RequirementScope_REQUIREMENT_SCOPE_NAMED_SUPPLIERS
	onProject := vaultv1.RequirementScope_REQUIREMENT_SCOPE_PROJECT_EMPLOYEES
	viewer := e.member(w.c1, authz.KindOperator, authz.RoleStandard, "en")
	manager := e.member(w.c1, authz.KindOperator, authz.RolePower, "en")
	e.id.setGrant("users/"+viewer.user, cn(w.c1), authz.LevelView)
	e.id.setGrant("users/"+manager.user, cn(w.c1), authz.LevelManage)

	for _, tc := range []struct {
		who  person
		what string
	}{
		{w.c1Restricted, "a Restricted user without a grant"},
		{viewer, "a user with the view grant"},
		{w.c2Admin, "another customer's administrator"},
		{w.s1Admin, "a supplier's administrator"},
	} {
		_, err := e.reqs.CreateRequirement(tc.who.ctx, &vaultv1.CreateRequirementRequest{Parent: cn(w.c1), Requirement: &vaultv1.Requirement{
			DocumentType: "documentTypes/URSSAF_VIGILANCE", Scope: all}})
		wantCode(t, err, codes.PermissionDenied, tc.what+" creates a requirement")
	}
	_, err := e.require(w.s1Admin, "URSSAF_VIGILANCE", all, nil, "")
	wantCode(t, err, codes.PermissionDenied, "a supplier sets requirements in its own company")
	l, err := e.reqs.ListRequirements(viewer.ctx, &vaultv1.ListRequirementsRequest{Parent: cn(w.c1)})
	if err != nil || len(l.GetRequirements()) != 0 {
		t.Fatalf("refused creations wrote something: %v %v", l, err)
	}
	_, err = e.reqs.ListRequirements(w.c1Restricted.ctx, &vaultv1.ListRequirementsRequest{Parent: cn(w.c1)})
	wantCode(t, err, codes.PermissionDenied, "a Restricted user without a grant lists requirements")

	r1, err := e.require(manager, "URSSAF_VIGILANCE", all, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.require(manager, "URSSAF_VIGILANCE", all, nil, "")
	wantCode(t, err, codes.AlreadyExists, "the same requirement twice")
	_, err = e.require(w.c1Admin, "KBIS_EXTRACT", named, []string{cn(w.s2)}, "")
	if err != nil {
		t.Fatal(err)
	}
	unrelated := e.company(authz.KindSupplier, "Stranger", "")
	_, err = e.require(w.c1Admin, "KBIS_EXTRACT", named, []string{cn(unrelated)}, "")
	wantCode(t, err, codes.FailedPrecondition, "naming a company that is not a supplier")
	_, err = e.require(w.c1Admin, "URSSAF_VIGILANCE", onProject, nil, cn(w.c1)+"/projects/nope")
	wantCode(t, err, codes.InvalidArgument, "a project scope for a company document")
	_, err = e.require(w.c1Admin, "SAFETY_TRAINING", onProject, nil, cn(w.c1)+"/projects/nope")
	wantCode(t, err, codes.FailedPrecondition, "an unknown project")
	_, err = e.require(w.c1Admin, "SAFETY_TRAINING", onProject, nil, cn(w.c2)+"/projects/"+e.project(w.c2))
	wantCode(t, err, codes.InvalidArgument, "another customer's project")
	if code(err) == codes.InvalidArgument && field(err) != "requirement.project" {
		t.Fatalf("bad input must name the field: %q", field(err))
	}
	_, err = e.require(w.c1Admin, "NOPE", all, nil, "")
	wantCode(t, err, codes.InvalidArgument, "an unknown type")
	_, err = e.require(w.c1Admin, "URSSAF_VIGILANCE", named, nil, "")
	wantCode(t, err, codes.InvalidArgument, "named scope without suppliers")
	p := e.project(w.c1)
	r3, err := e.require(w.c1Admin, "SAFETY_TRAINING", onProject, nil, cn(w.c1)+"/projects/"+p)
	if err != nil {
		t.Fatal(err)
	}
	l, _ = e.reqs.ListRequirements(viewer.ctx, &vaultv1.ListRequirementsRequest{Parent: cn(w.c1), PageSize: 2})
	if len(l.GetRequirements()) != 2 || l.GetRequirements()[0].GetName() != r1.GetName() || l.GetNextPageToken() == "" {
		t.Fatalf("oldest first, paged: %v", l)
	}
	l2, _ := e.reqs.ListRequirements(viewer.ctx, &vaultv1.ListRequirementsRequest{Parent: cn(w.c1), PageToken: l.GetNextPageToken()})
	if len(l2.GetRequirements()) != 1 || l2.GetRequirements()[0].GetName() != r3.GetName() {
		t.Fatalf("second page: %v", l2)
	}
	_, err = e.reqs.DeleteRequirement(viewer.ctx, &vaultv1.DeleteRequirementRequest{Name: r1.GetName()})
	wantCode(t, err, codes.PermissionDenied, "a viewer deletes")
	_, err = e.reqs.DeleteRequirement(w.c2Admin.ctx, &vaultv1.DeleteRequirementRequest{Name: r1.GetName()})
	wantCode(t, err, codes.PermissionDenied, "another customer deletes")
	if _, err := e.reqs.DeleteRequirement(manager.ctx, &vaultv1.DeleteRequirementRequest{Name: r1.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = e.reqs.DeleteRequirement(manager.ctx, &vaultv1.DeleteRequirementRequest{Name: r1.GetName()})
	wantCode(t, err, codes.NotFound, "deleting twice")

	t.Run("a grant taken away bites within a second (R-DIR-10, R-ID-7)", func(t *testing.T) {
		e.id.setGrant("users/"+manager.user, cn(w.c1), authz.LevelUnspecified)
		deadline := time.Now().Add(time.Second)
		for {
			_, err := e.reqs.ListRequirements(manager.ctx, &vaultv1.ListRequirementsRequest{Parent: cn(w.c1)})
			if code(err) == codes.PermissionDenied {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still allowed a second after the grant was removed: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestUploadDownloadVersions: issue 9 points 3, 4, 5 (R-VAULT-4, R-VAULT-5, R-ID-3).
func TestUploadDownloadVersions(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	data := pdf("urssaf v1", 300_000)

	t.Run("who may upload (R-ID-3)", func(t *testing.T) {
		for _, tc := range []struct {
			who  person
			typ  string
			want codes.Code
		}{
			{w.s1Restricted, "URSSAF_VIGILANCE", codes.PermissionDenied},
			{w.s1Standard, "URSSAF_VIGILANCE", codes.PermissionDenied},
			{w.c1Admin, "URSSAF_VIGILANCE", codes.PermissionDenied}, // another company
			{w.s1Restricted, "SAFETY_TRAINING", codes.PermissionDenied},
		} {
			u := upload{docType: tc.typ}
			if tc.typ == "SAFETY_TRAINING" {
				u.subject = cn(w.s1) + "/employees/" + e.employee(w.s1, "Ann", "Lee")
			}
			p := tc.who
			p.company = w.s1 // aims at s1 whatever its session
			_, err := e.upload(p, u, data)
			wantCode(t, err, tc.want, tc.who.user+" uploads "+tc.typ)
		}
		l, err := e.docs.ListDocuments(w.s1Admin.ctx, &vaultv1.ListDocumentsRequest{Parent: cn(w.s1), IncludeSuperseded: true})
		if err != nil || len(l.GetDocuments()) != 0 {
			t.Fatalf("refused uploads stored something: %v %v", l, err)
		}
	})

	d1, err := e.upload(w.s1Power, upload{docType: "URSSAF_VIGILANCE", fileName: "Attestation été.pdf"}, data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if d1.GetSha256() != hex.EncodeToString(sum[:]) || d1.GetSizeBytes() != int64(len(data)) || d1.GetContentType() != "application/pdf" ||
		d1.GetVersion() != 1 || d1.GetValidUntil() != "2026-06-29" || d1.GetFileName() != "Attestation été.pdf" || d1.GetState() != vaultv1.DocumentState_DOCUMENT_STATE_CURRENT {
		t.Fatalf("uploaded: %v", d1)
	}
	emp := e.employee(w.s1, "Ann", "Lee")
	if _, err := e.upload(w.s1Standard, upload{docType: "SAFETY_TRAINING", subject: cn(w.s1) + "/employees/" + emp, until: "2027-01-01"}, pdf("training", 2000)); err != nil {
		t.Fatalf("a Standard user uploads an employee certificate: %v", err)
	}

	t.Run("download returns the same bytes, in ranges too", func(t *testing.T) {
		info, got, err := e.downloadOwn(w.s1Standard, d1.GetName(), 0, 0)
		if err != nil || !bytes.Equal(got, data) || info.GetSha256() != d1.GetSha256() || info.GetFileName() != d1.GetFileName() || info.GetRangeLength() != int64(len(data)) {
			t.Fatalf("download: %v %d bytes %v", info, len(got), err)
		}
		info, got, err = e.downloadOwn(w.s1Standard, d1.GetName(), 100, 50)
		if err != nil || !bytes.Equal(got, data[100:150]) || info.GetRangeOffset() != 100 || info.GetRangeLength() != 50 {
			t.Fatalf("range: %v %q %v", info, got, err)
		}
		_, got, _ = e.downloadOwn(w.s1Standard, d1.GetName(), -7, 0)
		if string(got) != "\n%%EOF\n" {
			t.Fatalf("suffix range: %q", got)
		}
		_, _, err = e.downloadOwn(w.s1Standard, d1.GetName(), int64(len(data)), 0)
		wantCode(t, err, codes.FailedPrecondition, "a range past the end")
		s, _ := e.docs.DownloadDocument(w.s1Standard.ctx, &vaultv1.DownloadDocumentRequest{Name: d1.GetName(), IfNoneMatch: `"` + d1.GetSha256() + `"`})
		info, got, err = readAll(s.Recv)
		if err != nil || !info.GetNotModified() || len(got) != 0 {
			t.Fatalf("If-None-Match: %v %d %v", info, len(got), err)
		}
		_, _, err = e.downloadOwn(w.s1Restricted, d1.GetName(), 0, 0)
		wantCode(t, err, codes.PermissionDenied, "a Restricted user downloads a company certificate")
		_, _, err = e.downloadOwn(w.s2Admin, d1.GetName(), 0, 0)
		wantCode(t, err, codes.PermissionDenied, "another supplier downloads")
		_, _, err = e.downloadOwn(w.s1Standard, cn(w.s1)+"/documents/nope", 0, 0)
		wantCode(t, err, codes.NotFound, "an unknown document")
	})

	t.Run("a new version supersedes, the history stays (R-VAULT-5)", func(t *testing.T) {
		d2, err := e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE", until: "2026-12-31"}, pdf("urssaf v2", 1000))
		if err != nil || d2.GetVersion() != 2 || d2.GetSupersedes() != d1.GetName() {
			t.Fatalf("v2: %v %v", d2, err)
		}
		old, err := e.docs.GetDocument(w.s1Standard.ctx, &vaultv1.GetDocumentRequest{Name: d1.GetName()})
		if err != nil || old.GetState() != vaultv1.DocumentState_DOCUMENT_STATE_SUPERSEDED || old.GetSupersededBy() != d2.GetName() {
			t.Fatalf("v1 after v2: %v %v", old, err)
		}
		vs, err := e.docs.ListDocumentVersions(w.s1Standard.ctx, &vaultv1.ListDocumentVersionsRequest{Name: d1.GetName()})
		if err != nil || len(vs.GetDocuments()) != 2 || vs.GetDocuments()[0].GetName() != d2.GetName() {
			t.Fatalf("versions: %v %v", vs, err)
		}
		cur, _ := e.docs.ListDocuments(w.s1Standard.ctx, &vaultv1.ListDocumentsRequest{Parent: cn(w.s1)})
		if len(cur.GetDocuments()) != 2 {
			t.Fatalf("current documents: %v", cur)
		}
		if _, got, _ := e.downloadOwn(w.s1Standard, d1.GetName(), 0, 0); !bytes.Equal(got, data) {
			t.Fatal("a superseded version must stay readable")
		}
		hist, _ := e.docs.ListDocuments(w.s1Standard.ctx, &vaultv1.ListDocumentsRequest{Parent: cn(w.s1), IncludeSuperseded: true})
		if len(hist.GetDocuments()) != 3 {
			t.Fatalf("history: %v", hist)
		}
	})

	t.Run("identical bytes are stored once", func(t *testing.T) {
		before := blobFiles(t, e.dir)
		if _, err := e.upload(w.s1Admin, upload{docType: "KBIS_EXTRACT", fileName: "copy.pdf"}, data); err != nil {
			t.Fatal(err)
		}
		if after := blobFiles(t, e.dir); after != before {
			t.Fatalf("blobs %d → %d for bytes stored already", before, after)
		}
	})

	t.Run("R-ID-3 row 3: the expiring view", func(t *testing.T) {
		// 2026-03-10 in Paris: the employee certificate expires later,
		// KBIS (90 days from 2026-01-01, 2026-03-31) within 30 days.
		exp, err := e.docs.ListExpiringDocuments(w.s1Power.ctx, &vaultv1.ListExpiringDocumentsRequest{Parent: cn(w.s1)})
		if err != nil || len(exp.GetDocuments()) != 1 || exp.GetDocuments()[0].GetDocumentType() != "documentTypes/KBIS_EXTRACT" {
			t.Fatalf("power user, 30 days: %v %v", exp, err)
		}
		exp, _ = e.docs.ListExpiringDocuments(w.s1Standard.ctx, &vaultv1.ListExpiringDocumentsRequest{Parent: cn(w.s1), WithinDays: 366})
		for _, d := range exp.GetDocuments() {
			if !strings.Contains(d.GetSubject(), "/employees/") {
				t.Fatalf("a Standard user sees an expiring company certificate: %v", d)
			}
		}
		if len(exp.GetDocuments()) != 1 {
			t.Fatalf("a Standard user, a year: %v", exp)
		}
		_, err = e.docs.ListExpiringDocuments(w.s1Standard.ctx, &vaultv1.ListExpiringDocumentsRequest{Parent: cn(w.s1), SubjectKind: vaultv1.DocumentSubject_DOCUMENT_SUBJECT_COMPANY})
		wantCode(t, err, codes.PermissionDenied, "a Standard user asks for expiring company certificates")
		_, err = e.docs.ListExpiringDocuments(w.s1Restricted.ctx, &vaultv1.ListExpiringDocumentsRequest{Parent: cn(w.s1)})
		wantCode(t, err, codes.PermissionDenied, "a Restricted user")
	})
}

func blobFiles(t *testing.T, dataDir string) int {
	n := 0
	_ = filepath.Walk(filepath.Join(dataDir, "vault", "blobs", "sha256"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func stagingFiles(t *testing.T, dataDir string) int {
	entries, _ := os.ReadDir(filepath.Join(dataDir, "vault", "blobs", "staging"))
	return len(entries)
}

// TestUploadBadInput: issue 9's bad input; each a 4xx naming the problem,
// nothing written, no temporary file left.
func TestUploadBadInput(t *testing.T) {
	e := newEnv(t, withMaxSize(64<<10))
	w := e.world()
	mz := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), bytes.Repeat([]byte{0}, 500)...)
	good := pdf("ok", 1000)
	for _, tc := range []struct {
		name   string
		u      upload
		data   []byte
		reason string
		field  string
	}{
		{"a disguised executable named .pdf", upload{docType: "KBIS_EXTRACT", fileName: "invoice.pdf"}, mz, "CONTENT_TYPE_NOT_ACCEPTED", "file"},
		{"a truncated PDF", upload{docType: "KBIS_EXTRACT"}, good[:600], "FILE_TRUNCATED", "file"},
		{"an empty file", upload{docType: "KBIS_EXTRACT"}, nil, "FILE_EMPTY", "file"},
		{"oversize", upload{docType: "KBIS_EXTRACT"}, pdf("big", 70<<10), "DOCUMENT_TOO_LARGE", "file"},
		{"an unknown type", upload{docType: "NOPE"}, good, "INVALID_ARGUMENT", "document_type"},
		{"dates out of order", upload{docType: "KBIS_EXTRACT", from: "2026-05-01", until: "2026-04-01"}, good, "", "valid_until"},
		{"a malformed date", upload{docType: "KBIS_EXTRACT", from: "2026-13-45"}, good, "", "valid_from"},
		{"a declared type that disagrees", upload{docType: "KBIS_EXTRACT", contentType: "image/png"}, good, "CONTENT_TYPE_MISMATCH", "content_type"},
		{"an extension that disagrees", upload{docType: "KBIS_EXTRACT", fileName: "scan.png"}, good, "CONTENT_TYPE_MISMATCH", "file_name"},
		{"a path for a file name", upload{docType: "KBIS_EXTRACT", fileName: "../../etc/passwd"}, good, "", "file_name"},
		{"a control character in the name", upload{docType: "KBIS_EXTRACT", fileName: "a\u0007.pdf"}, good, "", "file_name"},
		{"a wrong checksum", upload{docType: "KBIS_EXTRACT", sha: strings.Repeat("a", 64)}, good, "CHECKSUM_MISMATCH", "sha256"},
		{"a company type for an employee", upload{docType: "KBIS_EXTRACT", subject: cn(w.s1) + "/employees/x"}, good, "", "subject"},
		{"an employee type for the company", upload{docType: "SAFETY_TRAINING"}, good, "", "subject"},
		{"an employee of no one", upload{docType: "SAFETY_TRAINING", subject: cn(w.s1) + "/employees/ghost"}, good, "", "subject"},
		{"another company's employee", upload{docType: "SAFETY_TRAINING", subject: cn(w.s2) + "/employees/x"}, good, "", "subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.upload(w.s1Admin, tc.u, tc.data)
			if code(err) != codes.InvalidArgument || tc.reason != "" && reason(err) != tc.reason || !namesField(err, tc.field) {
				t.Fatalf("%v (reason %q field %q), want INVALID_ARGUMENT %q on %q", err, reason(err), field(err), tc.reason, tc.field)
			}
		})
	}
	t.Run("the stream must start with metadata", func(t *testing.T) {
		s, _ := e.docs.UploadDocument(w.s1Admin.ctx)
		_ = s.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Chunk{Chunk: good}})
		_, err := s.CloseAndRecv()
		wantCode(t, err, codes.InvalidArgument, "chunk first")
		s, _ = e.docs.UploadDocument(w.s1Admin.ctx)
		meta := &vaultv1.UploadDocumentMetadata{Parent: cn(w.s1), DocumentType: "documentTypes/KBIS_EXTRACT", Subject: cn(w.s1), FileName: "a.pdf", ValidFrom: "2026-01-01"}
		_ = s.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Metadata{Metadata: meta}})
		_ = s.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Metadata{Metadata: meta}})
		_, err = s.CloseAndRecv()
		wantCode(t, err, codes.InvalidArgument, "metadata twice")
	})
	l, err := e.docs.ListDocuments(w.s1Admin.ctx, &vaultv1.ListDocumentsRequest{Parent: cn(w.s1), IncludeSuperseded: true})
	if err != nil || len(l.GetDocuments()) != 0 {
		t.Fatalf("refused uploads stored documents: %v %v", l, err)
	}
	if n := blobFiles(t, e.dir); n != 0 {
		t.Fatalf("refused uploads stored %d blobs", n)
	}
	if n := stagingFiles(t, e.dir); n != 0 {
		t.Fatalf("refused uploads left %d staging files", n)
	}
}
