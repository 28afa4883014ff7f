package api

import (
	"context"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/names"
)

type projectServer struct {
	directoryv1.UnimplementedProjectServiceServer
	svc *directory.Service
}

// NewProjectServer serves ProjectService.
func NewProjectServer(svc *directory.Service) directoryv1.ProjectServiceServer {
	return &projectServer{svc: svc}
}

func projectFromProto(m *directoryv1.Project) directory.Project {
	return directory.Project{DisplayName: m.GetDisplayName(), Description: m.GetDescription(),
		SiteAddress: protoconv.AddressFrom(m.GetSiteAddress()), StartDate: m.GetStartDate(), EndDate: m.GetEndDate(),
		State: directory.ProjectState(m.GetState())}
}

func (s *projectServer) ListProjects(ctx context.Context, req *directoryv1.ListProjectsRequest) (*directoryv1.ListProjectsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	list, next, err := s.svc.ListProjects(ctx, p, customer, directory.ProjectState(req.GetState()), req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListProjectsResponse{NextPageToken: next}
	for _, q := range list {
		out.Projects = append(out.Projects, protoconv.Project(q))
	}
	return out, nil
}

func (s *projectServer) CreateProject(ctx context.Context, req *directoryv1.CreateProjectRequest) (*directoryv1.Project, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	q, err := s.svc.CreateProject(ctx, p, customer, projectFromProto(req.GetProject()))
	if err != nil {
		return nil, err
	}
	return protoconv.Project(q), nil
}

func (s *projectServer) GetProject(ctx context.Context, req *directoryv1.GetProjectRequest) (*directoryv1.Project, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, id, err := names.Project.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	q, err := s.svc.GetProject(ctx, p, customer, id)
	if err != nil {
		return nil, err
	}
	return protoconv.Project(q), nil
}

func (s *projectServer) UpdateProject(ctx context.Context, req *directoryv1.UpdateProjectRequest) (*directoryv1.Project, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, id, err := names.Project.Parse("project.name", req.GetProject().GetName())
	if err != nil {
		return nil, err
	}
	q, err := s.svc.UpdateProject(ctx, p, customer, id, projectFromProto(req.GetProject()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return protoconv.Project(q), nil
}
