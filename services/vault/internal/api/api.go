// Package api is the vault's gRPC surface: handlers translate protos to
// the domain (package vault) and back and hold no business rules.
package api

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// Register registers every vault service on g; downloads lend their
// chunks through chunks (the server's Codec takes them).
func Register(g grpc.ServiceRegistrar, svc *vault.Service, chunks *Chunks) {
	vaultv1.RegisterDocumentTypeServiceServer(g, &typeServer{svc: svc})
	vaultv1.RegisterRequirementServiceServer(g, &requirementServer{svc: svc})
	vaultv1.RegisterDocumentServiceServer(g, &documentServer{svc: svc, chunks: chunks})
	vaultv1.RegisterComplianceServiceServer(g, &complianceServer{svc: svc})
	vaultv1.RegisterVaultInternalServiceServer(g, &internalServer{svc: svc})
}

// caller is the authenticated principal (empty when none: the domain's
// authorization refuses it).
func caller(ctx context.Context) vault.Caller {
	p, _ := auth.FromContext(ctx)
	return p
}

// page turns a request's page size and token into the domain's page.
func page(size int32, token string) vault.Page {
	if size <= 0 {
		size = 50
	}
	return vault.Page{After: token, Limit: int(min(size, 500))}
}

func badName(field, shape string) error {
	return errs.InvalidArgument(field, "must be %s", shape)
}

// typeID reads documentTypes/{type}; "" stays "".
func typeID(field, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	return names.DocumentType.Parse(field, name)
}

func documentToProto(d *vault.Document) *vaultv1.Document {
	out := &vaultv1.Document{
		Name: names.Document.Format(d.Supplier, d.ID), DocumentType: names.DocumentType.Format(d.DocumentType),
		Subject: vault.SubjectName(d.Supplier, d.Employee), FileName: d.FileName, ContentType: d.ContentType,
		SizeBytes: d.Size, Sha256: d.SHA256, ValidFrom: d.ValidFrom.String(), ValidUntil: d.ValidUntil.String(),
		Version: d.Version, State: vaultv1.DocumentState(d.State), UploadedBy: d.UploadedBy, CreateTime: timestamppb.New(d.CreateTime),
	}
	if d.SupersededBy != "" {
		out.SupersededBy = names.Document.Format(d.Supplier, d.SupersededBy)
	}
	if d.Supersedes != "" {
		out.Supersedes = names.Document.Format(d.Supplier, d.Supersedes)
	}
	for _, r := range d.Rejections {
		out.Rejections = append(out.Rejections, &vaultv1.DocumentRejection{Customer: names.Company.Format(r.Customer), Reason: r.Reason,
			RejectedBy: r.RejectedBy, RejectTime: timestamppb.New(r.Time)})
	}
	return out
}

func documentsToProto(ds []*vault.Document) []*vaultv1.Document {
	out := make([]*vaultv1.Document, len(ds))
	for i, d := range ds {
		out[i] = documentToProto(d)
	}
	return out
}

func typeToProto(t *vault.DocumentType) *vaultv1.DocumentType {
	en := t.Text("en")
	out := &vaultv1.DocumentType{Name: names.DocumentType.Format(t.ID), DisplayName: en.Name, Description: en.Description,
		Subject: vaultv1.DocumentSubject(t.Subject), Category: vaultv1.DocumentCategory(t.Category),
		DefaultValidityDays: t.DefaultValidityDays, CreateTime: timestamppb.New(t.CreateTime),
		Translations: map[string]*vaultv1.DocumentTypeText{}}
	if t.Owner != "" {
		out.Owner = names.Company.Format(t.Owner)
	}
	for lang, x := range t.Texts {
		out.Translations[lang] = &vaultv1.DocumentTypeText{DisplayName: x.Name, Description: x.Description}
	}
	return out
}

func requirementToProto(r *vault.Requirement) *vaultv1.Requirement {
	out := &vaultv1.Requirement{Name: names.Requirement.Format(r.Customer, r.ID), DocumentType: names.DocumentType.Format(r.DocumentType),
		Scope: vaultv1.RequirementScope(r.Scope), CreateTime: timestamppb.New(r.CreateTime)}
	for _, s := range r.Suppliers {
		out.Suppliers = append(out.Suppliers, names.Company.Format(s))
	}
	if r.Project != "" {
		out.Project = names.Project.Format(r.Customer, r.Project)
	}
	return out
}

func entryToProto(e vault.EntryView) *vaultv1.ComplianceEntry {
	out := &vaultv1.ComplianceEntry{Requirement: names.Requirement.Format(e.Customer, e.Requirement), DocumentType: names.DocumentType.Format(e.DocumentType),
		DocumentTypeDisplayName: e.TypeName, Subject: vault.SubjectName(e.Supplier, e.Employee), Status: vaultv1.ComplianceStatus(e.Status)}
	if e.Document != "" {
		out.Document = names.Document.Format(e.Supplier, e.Document)
		out.ValidUntil = e.ValidUntil.String()
		out.DocumentVersion = e.Version
	}
	if e.Status == vault.StatusRejected {
		out.RejectionReason = e.Reason
	}
	return out
}

func countsToProto(c vault.Counts) *vaultv1.ComplianceCounts {
	return &vaultv1.ComplianceCounts{Missing: int32(c.Missing), Valid: int32(c.Valid), ExpiringSoon: int32(c.ExpiringSoon),
		Expired: int32(c.Expired), Rejected: int32(c.Rejected)}
}

func summaryToProto(v vault.SummaryView) *vaultv1.ComplianceSummary {
	out := &vaultv1.ComplianceSummary{Customer: names.Company.Format(v.Customer), Supplier: names.Company.Format(v.Supplier),
		Compliant: v.Compliant, Expiring: v.Expiring, Counts: countsToProto(v.Counts), CustomerDisplayName: v.CustomerName,
		SupplierDisplayName: v.SupplierName, AsOfDate: v.AsOf.String()}
	for _, e := range v.Open {
		out.OpenEntries = append(out.OpenEntries, entryToProto(e))
	}
	return out
}

// listSummaryToProto is a summary in an operator's list: a page of a
// hundred suppliers stays small (the JSON encoding of the gateway costs by
// the field), so the caller's own name is left out and the worst entries
// carry type, subject, status and valid_until; GetSupplierCompliance has
// the rest.
func (n *pageNames) listSummaryToProto(v vault.SummaryView) *vaultv1.ComplianceSummary {
	supplier := names.Company.Format(v.Supplier)
	out := &vaultv1.ComplianceSummary{Customer: n.of(n.companies, v.Customer, names.Company.Format), Supplier: supplier,
		Compliant: v.Compliant, Expiring: v.Expiring, Counts: countsToProto(v.Counts), SupplierDisplayName: v.SupplierName,
		AsOfDate: n.date(v.AsOf)}
	if len(v.Open) > 0 {
		out.OpenEntries = make([]*vaultv1.ComplianceEntry, 0, len(v.Open))
	}
	for _, e := range v.Open {
		subject := supplier
		if e.Employee != "" || e.Supplier != v.Supplier {
			subject = vault.SubjectName(e.Supplier, e.Employee)
		}
		x := &vaultv1.ComplianceEntry{DocumentType: n.of(n.types, e.DocumentType, names.DocumentType.Format), Subject: subject,
			Status: vaultv1.ComplianceStatus(e.Status)}
		if e.Document != "" {
			x.ValidUntil = n.date(e.ValidUntil)
		}
		out.OpenEntries = append(out.OpenEntries, x)
	}
	return out
}

// pageNames makes each name and date of a page once: a page of a hundred
// summaries repeats its customer, its day and a few document types.
type pageNames struct {
	companies, types map[string]string
	dates            map[vault.Date]string
}

func newPageNames() *pageNames {
	return &pageNames{companies: map[string]string{}, types: map[string]string{}, dates: map[vault.Date]string{}}
}

func (n *pageNames) of(m map[string]string, id string, name func(string) string) string {
	if s, ok := m[id]; ok {
		return s
	}
	s := name(id)
	m[id] = s
	return s
}

func (n *pageNames) date(d vault.Date) string {
	if s, ok := n.dates[d]; ok {
		return s
	}
	s := d.String()
	n.dates[d] = s
	return s
}

// parseDate reads an optional YYYY-MM-DD (0 when empty).
func parseDate(field, s string) (vault.Date, error) {
	if s == "" {
		return 0, nil
	}
	d, ok := vault.ParseDate(s)
	if !ok {
		return 0, errs.InvalidArgument(field, "must be a date YYYY-MM-DD")
	}
	return d, nil
}
