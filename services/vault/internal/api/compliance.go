package api

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

type complianceServer struct {
	vaultv1.UnimplementedComplianceServiceServer
	svc *vault.Service
}

func (s *complianceServer) ListComplianceSummaries(ctx context.Context, req *vaultv1.ListComplianceSummariesRequest) (*vaultv1.ListComplianceSummariesResponse, error) {
	company, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	f := vault.ComplianceFilter{Status: req.GetStatusFilter(), Name: req.GetSupplierName(), Order: req.GetOrderBy()}
	if req.GetNonCompliantOnly() {
		if f.Status != "" && f.Status != "non_compliant" {
			return nil, errs.InvalidArgument("non_compliant_only", "contradicts status_filter %q", f.Status)
		}
		f.Status = "non_compliant"
	}
	list, err := s.svc.ListCompliance(ctx, caller(ctx), company, f, page(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, err
	}
	out := &vaultv1.ListComplianceSummariesResponse{NextPageToken: list.Next, Summaries: make([]*vaultv1.ComplianceSummary, 0, len(list.Summaries))}
	names := newPageNames()
	for _, v := range list.Summaries {
		if list.Totals != nil {
			out.Summaries = append(out.Summaries, names.listSummaryToProto(v))
		} else {
			out.Summaries = append(out.Summaries, summaryToProto(v))
		}
	}
	if t := list.Totals; t != nil {
		out.Totals = &vaultv1.ComplianceTotals{SupplierCount: int32(t.Suppliers), CompliantCount: int32(t.Compliant),
			ExpiringCount: int32(t.Expiring), NonCompliantCount: int32(t.NonCompliant)}
	}
	return out, nil
}

func (s *complianceServer) GetSupplierCompliance(ctx context.Context, req *vaultv1.GetSupplierComplianceRequest) (*vaultv1.SupplierCompliance, error) {
	var v *vault.PairView
	var err error
	name := req.GetName()
	if customer, supplier, ok := parsePairName(name, names.Supplier); ok {
		v, err = s.svc.GetPairCompliance(ctx, caller(ctx), customer, supplier, false)
	} else if supplier, customer, ok := parsePairName(name, names.Customer); ok {
		v, err = s.svc.GetPairCompliance(ctx, caller(ctx), customer, supplier, true)
	} else {
		return nil, badName("name", "companies/{company}/suppliers/{supplier}/compliance or companies/{company}/customers/{customer}/compliance")
	}
	if err != nil {
		return nil, err
	}
	out := &vaultv1.SupplierCompliance{Name: name, Customer: names.Company.Format(v.Customer), Supplier: names.Company.Format(v.Supplier),
		Compliant: v.Compliant, Counts: countsToProto(v.Counts), EvaluateTime: timestamppb.New(time.Now()),
		CustomerDisplayName: v.CustomerName, SupplierDisplayName: v.SupplierName, AsOfDate: v.AsOf.String()}
	for _, e := range v.Entries {
		out.Entries = append(out.Entries, entryToProto(e))
	}
	return out, nil
}

// parsePairName reads {pair}/compliance (pair: names.Supplier or names.Customer).
func parsePairName(name string, pair names.Name2) (string, string, bool) {
	base, ok := strings.CutSuffix(name, "/compliance")
	if !ok {
		return "", "", false
	}
	return pair.Match(base)
}

// ExportCompliance streams the rows in the domain's batches (500 rows, far
// under gRPC's message limit).
func (s *complianceServer) ExportCompliance(req *vaultv1.ExportComplianceRequest, stream grpc.ServerStreamingServer[vaultv1.ExportComplianceResponse]) error {
	ctx := stream.Context()
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return err
	}
	first := true
	return s.svc.ExportCompliance(ctx, caller(ctx), customer, func(asOf vault.Date, rows []vault.ExportRow) error {
		msg := &vaultv1.ExportComplianceResponse{}
		if first {
			msg.AsOfDate, first = asOf.String(), false
		}
		for _, r := range rows {
			msg.Rows = append(msg.Rows, &vaultv1.ComplianceRow{Supplier: names.Company.Format(r.Entry.Supplier), SupplierDisplayName: r.SupplierName,
				Entry: entryToProto(r.Entry)})
		}
		return stream.Send(msg)
	})
}
