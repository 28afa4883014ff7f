package api

import (
	"context"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/runtime/errs"
)

const jobPrefix = "jobs/"

type jobServer struct {
	notifyv1.UnimplementedJobServiceServer
	sched         *schedule.Scheduler
	principalFrom PrincipalFunc
}

// NewJobServer returns the JobService implementation (R-NOTIF-1, R-NOTIF-2,
// R-ID-11).
func NewJobServer(sched *schedule.Scheduler, principalFrom PrincipalFunc) notifyv1.JobServiceServer {
	return &jobServer{sched: sched, principalFrom: principalFrom}
}

func (s *jobServer) ListJobs(ctx context.Context, req *notifyv1.ListJobsRequest) (*notifyv1.ListJobsResponse, error) {
	if req.GetPageToken() != "" {
		// Every job fits in the first page: no token was ever returned.
		return nil, errs.InvalidArgument("page_token", "not a token this list returned")
	}
	jobs, err := s.sched.ListJobs(ctx, callerOf(ctx, s.principalFrom))
	if err != nil {
		return nil, err
	}
	resp := &notifyv1.ListJobsResponse{Jobs: make([]*notifyv1.Job, len(jobs))}
	for i, j := range jobs {
		resp.Jobs[i] = jobProto(j)
	}
	return resp, nil
}

func (s *jobServer) GetJob(ctx context.Context, req *notifyv1.GetJobRequest) (*notifyv1.Job, error) {
	name, ok := strings.CutPrefix(req.GetName(), jobPrefix)
	if !ok {
		return nil, errs.InvalidArgument("name", "must be jobs/{job}")
	}
	j, err := s.sched.GetJob(ctx, callerOf(ctx, s.principalFrom), name)
	if err != nil {
		return nil, err
	}
	return jobProto(j), nil
}

func (s *jobServer) RunJob(ctx context.Context, req *notifyv1.RunJobRequest) (*notifyv1.Job, error) {
	name, ok := strings.CutPrefix(req.GetName(), jobPrefix)
	if !ok {
		return nil, errs.InvalidArgument("name", "must be jobs/{job}")
	}
	j, err := s.sched.RunJob(ctx, callerOf(ctx, s.principalFrom), name, req.GetDate())
	if err != nil {
		return nil, err
	}
	return jobProto(j), nil
}

func jobProto(j schedule.Status) *notifyv1.Job {
	out := &notifyv1.Job{
		Name:                 jobPrefix + j.Name,
		Description:          j.Description,
		Schedule:             j.Schedule,
		CompletedThroughDate: j.State.CompletedThrough,
		Running:              j.Running,
	}
	if !j.Next.IsZero() {
		out.NextRunTime = timestamppb.New(j.Next)
	}
	if l := j.State.Last; l != nil {
		out.LastRun = &notifyv1.JobRun{
			Date:             l.Day,
			Manual:           l.Manual,
			StartTime:        timestamppb.New(l.Start),
			EndTime:          timestamppb.New(l.End),
			SentCount:        int32(l.Counts.Sent),
			AlreadySentCount: int32(l.Counts.AlreadySent),
			SuppressedCount:  int32(l.Counts.Suppressed),
			ExaminedCount:    int32(l.Counts.Examined),
			Error:            l.Error,
		}
	}
	return out
}
