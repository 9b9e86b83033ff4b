package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/container"
	stypes "github.com/berthproject/berth/pkg/types/service"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// servicesServer serves ServicesService: the documents are the JSON of
// pkg/types/service (services.proto).
type servicesServer struct {
	berthv1.UnimplementedServicesServiceServer
	s api.Services
}

func filtersFromProto(fs []*berthv1.ServiceFilter) map[string][]string {
	if len(fs) == 0 {
		return nil
	}
	out := map[string][]string{}
	for _, f := range fs {
		out[f.GetKey()] = append(out[f.GetKey()], f.GetValues()...)
	}
	return out
}

func decodeSpec(b []byte) (stypes.ServiceSpec, error) {
	var spec stypes.ServiceSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return spec, fmt.Errorf("the service spec is not valid JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return spec, nil
}

func (s *servicesServer) Create(ctx context.Context, r *berthv1.CreateServiceRequest) (*berthv1.CreateServiceResponse, error) {
	spec, err := decodeSpec(r.GetSpec())
	if err != nil {
		return nil, err
	}
	res, err := s.s.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &berthv1.CreateServiceResponse{Id: res.ID, Warnings: res.Warnings}, nil
}

func (s *servicesServer) List(ctx context.Context, r *berthv1.ListServicesRequest) (*berthv1.ListServicesResponse, error) {
	list, err := s.s.List(ctx, stypes.ListOptions{Filters: filtersFromProto(r.GetFilters()), Status: r.GetStatus()})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(list)
	return &berthv1.ListServicesResponse{Services: b}, err
}

func (s *servicesServer) Inspect(ctx context.Context, r *berthv1.InspectServiceRequest) (*berthv1.InspectServiceResponse, error) {
	svc, err := s.s.Inspect(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(svc)
	return &berthv1.InspectServiceResponse{Service: b}, err
}

func (s *servicesServer) Update(ctx context.Context, r *berthv1.UpdateServiceRequest) (*berthv1.UpdateServiceResponse, error) {
	var spec stypes.ServiceSpec
	if !r.GetRollback() {
		var err error
		if spec, err = decodeSpec(r.GetSpec()); err != nil {
			return nil, err
		}
	}
	w, err := s.s.Update(ctx, r.GetRef(), r.GetVersion(), spec, stypes.UpdateOptions{Rollback: r.GetRollback()})
	if err != nil {
		return nil, err
	}
	return &berthv1.UpdateServiceResponse{Warnings: w}, nil
}

func (s *servicesServer) Scale(ctx context.Context, r *berthv1.ScaleServiceRequest) (*berthv1.ScaleServiceResponse, error) {
	return &berthv1.ScaleServiceResponse{}, s.s.Scale(ctx, r.GetRef(), r.GetReplicas())
}

func (s *servicesServer) Rollback(ctx context.Context, r *berthv1.RollbackServiceRequest) (*berthv1.RollbackServiceResponse, error) {
	return &berthv1.RollbackServiceResponse{}, s.s.Rollback(ctx, r.GetRef())
}

func (s *servicesServer) Remove(ctx context.Context, r *berthv1.RemoveServiceRequest) (*berthv1.RemoveServiceResponse, error) {
	return &berthv1.RemoveServiceResponse{}, s.s.Remove(ctx, r.GetRef())
}

func (s *servicesServer) ListTasks(ctx context.Context, r *berthv1.ListTasksRequest) (*berthv1.ListTasksResponse, error) {
	list, err := s.s.Tasks(ctx, stypes.TaskListOptions{Filters: filtersFromProto(r.GetFilters())})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(list)
	return &berthv1.ListTasksResponse{Tasks: b}, err
}

func (s *servicesServer) InspectTask(ctx context.Context, r *berthv1.InspectTaskRequest) (*berthv1.InspectTaskResponse, error) {
	t, err := s.s.TaskInspect(ctx, r.GetRef())
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(t)
	return &berthv1.InspectTaskResponse{Task: b}, err
}

func (s *servicesServer) Logs(r *berthv1.ServiceLogsRequest, stream berthv1.ServicesService_LogsServer) error {
	opts := container.LogOptions{Follow: r.GetFollow(), Tail: int(r.GetTail()), Stdout: r.GetStdout(), Stderr: r.GetStderr(), Timestamps: r.GetTimestamps()}
	if r.GetSince() != 0 {
		opts.Since = time.Unix(0, r.GetSince())
	}
	if r.GetUntil() != 0 {
		opts.Until = time.Unix(0, r.GetUntil())
	}
	return s.s.Logs(stream.Context(), r.GetRef(), opts, func(e stypes.LogEntry) error {
		return stream.Send(&berthv1.ServiceLogsResponse{
			TaskId: e.TaskID, NodeId: e.NodeID, Slot: int32(e.Slot), Stream: e.Stream, Time: e.Time.UnixNano(), Line: e.Line,
		})
	})
}
