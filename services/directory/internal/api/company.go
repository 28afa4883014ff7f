package api

import (
	"context"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/names"
)

type companyServer struct {
	directoryv1.UnimplementedCompanyServiceServer
	svc *directory.Service
}

// NewCompanyServer serves CompanyService.
func NewCompanyServer(svc *directory.Service) directoryv1.CompanyServiceServer {
	return &companyServer{svc: svc}
}

func (s *companyServer) GetCompany(ctx context.Context, req *directoryv1.GetCompanyRequest) (*directoryv1.Company, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	id, err := names.Company.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	c, err := s.svc.GetCompany(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return protoconv.Company(c), nil
}

func (s *companyServer) UpdateCompany(ctx context.Context, req *directoryv1.UpdateCompanyRequest) (*directoryv1.Company, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	id, err := names.Company.Parse("company.name", req.GetCompany().GetName())
	if err != nil {
		return nil, err
	}
	patch, err := companyFromProto(req.GetCompany())
	if err != nil {
		return nil, err
	}
	c, err := s.svc.UpdateCompany(ctx, p, id, patch, req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return protoconv.Company(c), nil
}
