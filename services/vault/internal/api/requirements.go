package api

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

type requirementServer struct {
	vaultv1.UnimplementedRequirementServiceServer
	svc *vault.Service
}

func (s *requirementServer) ListRequirements(ctx context.Context, req *vaultv1.ListRequirementsRequest) (*vaultv1.ListRequirementsResponse, error) {
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	docType, err := typeID("document_type", req.GetDocumentType())
	if err != nil {
		return nil, err
	}
	reqs, next, err := s.svc.ListRequirements(ctx, caller(ctx), customer, docType, page(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, err
	}
	out := &vaultv1.ListRequirementsResponse{NextPageToken: next}
	for _, r := range reqs {
		out.Requirements = append(out.Requirements, requirementToProto(r))
	}
	return out, nil
}

func (s *requirementServer) CreateRequirement(ctx context.Context, req *vaultv1.CreateRequirementRequest) (*vaultv1.Requirement, error) {
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	in := req.GetRequirement()
	docType, err := typeID("requirement.document_type", in.GetDocumentType())
	if err != nil {
		return nil, err
	}
	suppliers, err := vault.ParseRequirementSuppliers(in.GetSuppliers())
	if err != nil {
		return nil, err
	}
	r := vault.Requirement{DocumentType: docType, Scope: vault.Scope(in.GetScope()), Suppliers: suppliers}
	if in.GetProject() != "" {
		owner, project, ok := names.Project.Match(in.GetProject())
		if !ok || owner != customer {
			return nil, badName("requirement.project", "one of the customer's projects, "+req.GetParent()+"/projects/{project}")
		}
		r.Project = project
	}
	out, err := s.svc.CreateRequirement(ctx, caller(ctx), customer, r)
	if err != nil {
		return nil, err
	}
	return requirementToProto(out), nil
}

func (s *requirementServer) DeleteRequirement(ctx context.Context, req *vaultv1.DeleteRequirementRequest) (*emptypb.Empty, error) {
	customer, id, err := names.Requirement.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.svc.DeleteRequirement(ctx, caller(ctx), customer, id); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
