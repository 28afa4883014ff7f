package api

import (
	"context"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// internalServer answers notify (VaultInternalService): expiry reminders
// (R-NOTIF-2) and weekly digests (R-NOTIF-1).
type internalServer struct {
	vaultv1.UnimplementedVaultInternalServiceServer
	svc *vault.Service
}

func (s *internalServer) ListExpiringForReminders(ctx context.Context, req *vaultv1.ListExpiringForRemindersRequest) (*vaultv1.ListExpiringForRemindersResponse, error) {
	asOf, err := parseDate("as_of_date", req.GetAsOfDate())
	if err != nil {
		return nil, err
	}
	var windows []int
	for _, w := range req.GetWindowsDays() {
		windows = append(windows, int(w))
	}
	docs, next, err := s.svc.ListExpiringForReminders(ctx, asOf, windows, page(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, err
	}
	out := &vaultv1.ListExpiringForRemindersResponse{NextPageToken: next}
	for _, e := range docs {
		x := &vaultv1.ExpiringDocument{Document: documentToProto(e.Document), Supplier: names.Company.Format(e.Document.Supplier),
			DocumentType: typeToProto(e.Type), WindowDays: int32(e.Window)}
		for _, c := range e.Customers {
			x.Customers = append(x.Customers, names.Company.Format(c))
		}
		out.Documents = append(out.Documents, x)
	}
	return out, nil
}

func (s *internalServer) digest(ctx context.Context, company, asOfDate string, worst int32) (*vaultv1.GetComplianceDigestResponse, error) {
	id, err := names.Company.Parse("company", company)
	if err != nil {
		return nil, err
	}
	asOf, err := parseDate("as_of_date", asOfDate)
	if err != nil {
		return nil, err
	}
	d, err := s.svc.Digest(ctx, id, asOf, int(worst))
	if err != nil {
		return nil, err
	}
	out := &vaultv1.GetComplianceDigestResponse{Company: company, AsOfDate: d.AsOf.String()}
	if o := d.Operator; o != nil {
		out.Operator = &vaultv1.OperatorComplianceDigest{SupplierCount: int32(o.Suppliers), CompliantSupplierCount: int32(o.Compliant),
			Counts: countsToProto(o.Counts)}
		for _, v := range o.Worst {
			out.Operator.WorstSuppliers = append(out.Operator.WorstSuppliers, summaryToProto(v))
		}
	}
	if sd := d.Supplier; sd != nil {
		out.Supplier = &vaultv1.SupplierComplianceDigest{CustomerCount: int32(sd.Customers), CompliantCustomerCount: int32(sd.Compliant)}
		for _, v := range sd.Summaries {
			out.Supplier.Customers = append(out.Supplier.Customers, summaryToProto(v))
		}
	}
	return out, nil
}

func (s *internalServer) GetComplianceDigest(ctx context.Context, req *vaultv1.GetComplianceDigestRequest) (*vaultv1.GetComplianceDigestResponse, error) {
	return s.digest(ctx, req.GetCompany(), req.GetAsOfDate(), req.GetMaxWorstCases())
}

func (s *internalServer) BatchGetComplianceDigests(ctx context.Context, req *vaultv1.BatchGetComplianceDigestsRequest) (*vaultv1.BatchGetComplianceDigestsResponse, error) {
	out := &vaultv1.BatchGetComplianceDigestsResponse{}
	for _, c := range req.GetCompanies() {
		d, err := s.digest(ctx, c, req.GetAsOfDate(), req.GetWorstLimit())
		if err != nil {
			return nil, err
		}
		out.Digests = append(out.Digests, d)
	}
	return out, nil
}
