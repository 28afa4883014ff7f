package api

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/names"
)

type employeeServer struct {
	directoryv1.UnimplementedEmployeeServiceServer
	svc *directory.Service
}

// NewEmployeeServer serves EmployeeService.
func NewEmployeeServer(svc *directory.Service) directoryv1.EmployeeServiceServer {
	return &employeeServer{svc: svc}
}

func employeeFromProto(m *directoryv1.Employee) directory.Employee {
	return directory.Employee{GivenName: m.GetGivenName(), FamilyName: m.GetFamilyName(), Email: m.GetEmail(),
		JobTitle: m.GetJobTitle(), BirthDate: m.GetBirthDate()}
}

func (s *employeeServer) ListEmployees(ctx context.Context, req *directoryv1.ListEmployeesRequest) (*directoryv1.ListEmployeesResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	var project *directory.ProjectRef
	if req.GetProject() != "" {
		c, id, err := names.Project.Parse("project", req.GetProject())
		if err != nil {
			return nil, err
		}
		project = &directory.ProjectRef{Customer: c, Project: id}
	}
	list, next, err := s.svc.ListEmployees(ctx, p, supplier, project, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListEmployeesResponse{NextPageToken: next}
	for _, e := range list {
		out.Employees = append(out.Employees, protoconv.Employee(e))
	}
	return out, nil
}

func (s *employeeServer) CreateEmployee(ctx context.Context, req *directoryv1.CreateEmployeeRequest) (*directoryv1.Employee, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	e, err := s.svc.CreateEmployee(ctx, p, supplier, employeeFromProto(req.GetEmployee()))
	if err != nil {
		return nil, err
	}
	return protoconv.Employee(e), nil
}

func (s *employeeServer) GetEmployee(ctx context.Context, req *directoryv1.GetEmployeeRequest) (*directoryv1.Employee, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, id, err := names.Employee.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	e, err := s.svc.GetEmployee(ctx, p, supplier, id)
	if err != nil {
		return nil, err
	}
	return protoconv.Employee(e), nil
}

func (s *employeeServer) UpdateEmployee(ctx context.Context, req *directoryv1.UpdateEmployeeRequest) (*directoryv1.Employee, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, id, err := names.Employee.Parse("employee.name", req.GetEmployee().GetName())
	if err != nil {
		return nil, err
	}
	e, err := s.svc.UpdateEmployee(ctx, p, supplier, id, employeeFromProto(req.GetEmployee()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return protoconv.Employee(e), nil
}

func (s *employeeServer) DeleteEmployee(ctx context.Context, req *directoryv1.DeleteEmployeeRequest) (*emptypb.Empty, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, id, err := names.Employee.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.svc.DeleteEmployee(ctx, p, supplier, id); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *employeeServer) AssignEmployee(ctx context.Context, req *directoryv1.AssignEmployeeRequest) (*directoryv1.Employee, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	supplier, id, err := names.Employee.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	customer, project, err := names.Project.Parse("project", req.GetProject())
	if err != nil {
		return nil, err
	}
	e, err := s.svc.AssignEmployee(ctx, p, supplier, id, directory.ProjectRef{Customer: customer, Project: project}, req.GetUnassign())
	if err != nil {
		return nil, err
	}
	return protoconv.Employee(e), nil
}
