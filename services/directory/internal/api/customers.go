package api

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/names"
)

type customerServer struct {
	directoryv1.UnimplementedCustomerServiceServer
	svc *directory.Service
}

// NewCustomerServer serves CustomerService.
func NewCustomerServer(svc *directory.Service) directoryv1.CustomerServiceServer {
	return &customerServer{svc: svc}
}

func customerProto(supplier string, c directory.Customer) *directoryv1.Customer {
	m := protoconv.Relationship(c.Relationship)
	m.LegalName = c.Company.LegalName
	m.CreateTime = timestamppb.New(c.Relationship.CreateTime)
	return m
}

func (s *customerServer) ListCustomers(ctx context.Context, req *directoryv1.ListCustomersRequest) (*directoryv1.ListCustomersResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	list, next, err := s.svc.ListCustomers(ctx, p, supplier, directory.ListFilter{NamePrefix: req.GetNamePrefix(),
		RegistrationNumber: req.GetRegistrationNumber()}, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListCustomersResponse{NextPageToken: next}
	for _, c := range list {
		out.Customers = append(out.Customers, customerProto(supplier, c))
	}
	return out, nil
}

func (s *customerServer) GetCustomer(ctx context.Context, req *directoryv1.GetCustomerRequest) (*directoryv1.Customer, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, customer, err := names.Customer.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	c, err := s.svc.GetCustomer(ctx, p, supplier, customer)
	if err != nil {
		return nil, err
	}
	return customerProto(supplier, c), nil
}

func (s *customerServer) UpdateCustomer(ctx context.Context, req *directoryv1.UpdateCustomerRequest) (*directoryv1.Customer, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, customer, err := names.Customer.Parse("customer.name", req.GetCustomer().GetName())
	if err != nil {
		return nil, err
	}
	c, err := s.svc.UpdateCustomer(ctx, p, supplier, customer, req.GetCustomer().GetReferences(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return customerProto(supplier, c), nil
}

func (s *customerServer) ListCustomerProjects(ctx context.Context, req *directoryv1.ListCustomerProjectsRequest) (*directoryv1.ListCustomerProjectsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, customer, err := names.Customer.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	list, next, err := s.svc.ListCustomerProjects(ctx, p, supplier, customer, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListCustomerProjectsResponse{NextPageToken: next}
	for _, q := range list {
		out.Projects = append(out.Projects, protoconv.Project(q))
	}
	return out, nil
}
