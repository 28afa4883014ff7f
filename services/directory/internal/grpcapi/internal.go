package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
)

// internalServer serves DirectoryInternalService. GetEmployee and
// ListProjectEmployees come with employees and projects (later issues) and
// answer UNIMPLEMENTED until then.
type internalServer struct {
	directoryv1.UnimplementedDirectoryInternalServiceServer
	svc *directory.Service
}

// NewInternalServer serves DirectoryInternalService.
func NewInternalServer(svc *directory.Service) directoryv1.DirectoryInternalServiceServer {
	return &internalServer{svc: svc}
}

func (s *internalServer) CreateCompany(ctx context.Context, req *directoryv1.CreateCompanyRequest) (*directoryv1.Company, error) {
	c, err := companyFromProto(req.GetCompany())
	if err != nil {
		return nil, err
	}
	created, err := s.svc.CreateCompany(ctx, c, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return protoconv.Company(created), nil
}

func (s *internalServer) DeleteCompany(ctx context.Context, req *directoryv1.DeleteCompanyRequest) (*emptypb.Empty, error) {
	id, err := directory.ParseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.svc.DeleteCompany(ctx, id); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *internalServer) LookupCompany(ctx context.Context, req *directoryv1.LookupCompanyRequest) (*directoryv1.Company, error) {
	c, err := s.svc.LookupCompany(ctx, req.GetCountry(), req.GetRegistrationNumber())
	if err != nil {
		return nil, err
	}
	return protoconv.Company(c), nil
}

func (s *internalServer) GetRelationship(ctx context.Context, req *directoryv1.GetRelationshipRequest) (*directoryv1.GetRelationshipResponse, error) {
	customer, supplier, err := pair(req.GetCustomer(), req.GetSupplier())
	if err != nil {
		return nil, err
	}
	rel, ok, err := s.svc.Relationship(ctx, customer, supplier)
	if err != nil || !ok {
		return &directoryv1.GetRelationshipResponse{}, err
	}
	return &directoryv1.GetRelationshipResponse{Exists: true, CreateTime: timestamppb.New(rel.CreateTime)}, nil
}

func (s *internalServer) ListSupplierCompanies(ctx context.Context, req *directoryv1.ListSupplierCompaniesRequest) (*directoryv1.ListSupplierCompaniesResponse, error) {
	customer, err := directory.ParseName("customer", req.GetCustomer())
	if err != nil {
		return nil, err
	}
	ids, next, err := s.svc.ListSupplierCompanies(ctx, customer, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListSupplierCompaniesResponse{Companies: names(ids), NextPageToken: next}, nil
}

func (s *internalServer) ListCustomerCompanies(ctx context.Context, req *directoryv1.ListCustomerCompaniesRequest) (*directoryv1.ListCustomerCompaniesResponse, error) {
	supplier, err := directory.ParseName("supplier", req.GetSupplier())
	if err != nil {
		return nil, err
	}
	ids, next, err := s.svc.ListCustomerCompanies(ctx, supplier, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListCustomerCompaniesResponse{Companies: names(ids), NextPageToken: next}, nil
}

func (s *internalServer) ListReferences(ctx context.Context, req *directoryv1.ListReferencesRequest) (*directoryv1.ListReferencesResponse, error) {
	customer, supplier, err := pair(req.GetCustomer(), req.GetSupplier())
	if err != nil {
		return nil, err
	}
	users, err := s.svc.ListReferences(ctx, customer, supplier)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = directory.Name(supplier) + "/users/" + u
	}
	return &directoryv1.ListReferencesResponse{Users: out}, nil
}

func pair(customerName, supplierName string) (string, string, error) {
	customer, err := directory.ParseName("customer", customerName)
	if err != nil {
		return "", "", err
	}
	supplier, err := directory.ParseName("supplier", supplierName)
	if err != nil {
		return "", "", err
	}
	return customer, supplier, nil
}
