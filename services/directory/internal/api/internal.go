package api

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/names"
)

// internalServer serves DirectoryInternalService, for the other services
// (no user rights are checked: the callers are services).
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
	id, err := names.Company.Parse("name", req.GetName())
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
	customer, err := names.Company.Parse("customer", req.GetCustomer())
	if err != nil {
		return nil, err
	}
	ids, next, err := s.svc.ListSupplierCompanies(ctx, customer, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListSupplierCompaniesResponse{Companies: companyNames(ids), NextPageToken: next}, nil
}

func (s *internalServer) ListCustomerCompanies(ctx context.Context, req *directoryv1.ListCustomerCompaniesRequest) (*directoryv1.ListCustomerCompaniesResponse, error) {
	supplier, err := names.Company.Parse("supplier", req.GetSupplier())
	if err != nil {
		return nil, err
	}
	ids, next, err := s.svc.ListCustomerCompanies(ctx, supplier, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListCustomerCompaniesResponse{Companies: companyNames(ids), NextPageToken: next}, nil
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
		out[i] = names.Member.Format(supplier, u)
	}
	return &directoryv1.ListReferencesResponse{Users: out}, nil
}

func (s *internalServer) GetEmployee(ctx context.Context, req *directoryv1.GetEmployeeRequest) (*directoryv1.Employee, error) {
	supplier, id, err := names.Employee.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	e, err := s.svc.InternalEmployee(ctx, supplier, id)
	if err != nil {
		return nil, err
	}
	return protoconv.Employee(e), nil
}

func (s *internalServer) ListProjectEmployees(ctx context.Context, req *directoryv1.ListProjectEmployeesRequest) (*directoryv1.ListProjectEmployeesResponse, error) {
	customer, project, err := names.Project.Parse("project", req.GetProject())
	if err != nil {
		return nil, err
	}
	refs, next, err := s.svc.ListProjectEmployees(ctx, customer, project, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListProjectEmployeesResponse{NextPageToken: next}
	for _, r := range refs {
		out.Employees = append(out.Employees, names.Employee.Format(r.Supplier, r.Employee))
	}
	return out, nil
}

func (s *internalServer) ListCompanies(ctx context.Context, req *directoryv1.ListCompaniesRequest) (*directoryv1.ListCompaniesResponse, error) {
	cs, next, err := s.svc.ListCompanies(ctx, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListCompaniesResponse{NextPageToken: next}
	for _, c := range cs {
		out.Companies = append(out.Companies, protoconv.Company(c))
	}
	return out, nil
}

func (s *internalServer) BatchGetCompanies(ctx context.Context, req *directoryv1.BatchGetCompaniesRequest) (*directoryv1.BatchGetCompaniesResponse, error) {
	ids := make([]string, len(req.GetNames()))
	for i, n := range req.GetNames() {
		id, err := names.Company.Parse("names", n)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	cs, err := s.svc.BatchGetCompanies(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := &directoryv1.BatchGetCompaniesResponse{}
	for _, c := range cs {
		out.Companies = append(out.Companies, protoconv.Company(c))
	}
	return out, nil
}

func (s *internalServer) GetProject(ctx context.Context, req *directoryv1.GetProjectRequest) (*directoryv1.Project, error) {
	customer, id, err := names.Project.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	q, err := s.svc.InternalProject(ctx, customer, id)
	if err != nil {
		return nil, err
	}
	return protoconv.Project(q), nil
}

func (s *internalServer) ListAssignments(ctx context.Context, req *directoryv1.ListAssignmentsRequest) (*directoryv1.ListAssignmentsResponse, error) {
	customer, err := names.Company.Parse("customer", req.GetCustomer())
	if err != nil {
		return nil, err
	}
	q := directory.AssignmentQuery{Customer: customer}
	if req.GetSupplier() != "" {
		if q.Supplier, err = names.Company.Parse("supplier", req.GetSupplier()); err != nil {
			return nil, err
		}
	}
	if req.GetProject() != "" {
		c, p, err := names.Project.Parse("project", req.GetProject())
		if err != nil {
			return nil, err
		}
		if c != customer {
			return &directoryv1.ListAssignmentsResponse{}, nil // another customer's project: none of this customer's
		}
		q.Project = p
	}
	if req.GetEmployee() != "" {
		sup, e, err := names.Employee.Parse("employee", req.GetEmployee())
		if err != nil {
			return nil, err
		}
		if q.Supplier != "" && q.Supplier != sup {
			return &directoryv1.ListAssignmentsResponse{}, nil
		}
		q.Supplier, q.Employee = sup, e
	}
	as, next, err := s.svc.ListAssignments(ctx, q, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListAssignmentsResponse{NextPageToken: next}
	for _, a := range as {
		out.Assignments = append(out.Assignments, protoconv.Assignment(a))
	}
	return out, nil
}

func pair(customerName, supplierName string) (string, string, error) {
	customer, err := names.Company.Parse("customer", customerName)
	if err != nil {
		return "", "", err
	}
	supplier, err := names.Company.Parse("supplier", supplierName)
	if err != nil {
		return "", "", err
	}
	return customer, supplier, nil
}
