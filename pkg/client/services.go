package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"time"

	"github.com/berthproject/berth/pkg/types/container"
	stypes "github.com/berthproject/berth/pkg/types/service"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

func (c *serviceClient) services() berthv1.ServicesServiceClient {
	return berthv1.NewServicesServiceClient(c.conn)
}

func filtersToProto(f map[string][]string) []*berthv1.ServiceFilter {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*berthv1.ServiceFilter, 0, len(keys))
	for _, k := range keys {
		out = append(out, &berthv1.ServiceFilter{Key: k, Values: f[k]})
	}
	return out
}

// Create is `berth service create`.
func (c *serviceClient) Create(ctx context.Context, spec stypes.ServiceSpec) (*stypes.CreateResponse, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	r, err := c.services().Create(ctx, &berthv1.CreateServiceRequest{Spec: b})
	if err != nil {
		return nil, err
	}
	return &stypes.CreateResponse{ID: r.GetId(), Warnings: r.GetWarnings()}, nil
}

// List is `berth service ls`.
func (c *serviceClient) List(ctx context.Context, opts stypes.ListOptions) ([]stypes.Service, error) {
	r, err := c.services().List(ctx, &berthv1.ListServicesRequest{Filters: filtersToProto(opts.Filters), Status: opts.Status})
	if err != nil {
		return nil, err
	}
	var out []stypes.Service
	return out, json.Unmarshal(r.GetServices(), &out)
}

// Inspect is `berth service inspect`.
func (c *serviceClient) Inspect(ctx context.Context, ref string) (*stypes.Service, error) {
	r, err := c.services().Inspect(ctx, &berthv1.InspectServiceRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	var out stypes.Service
	return &out, json.Unmarshal(r.GetService(), &out)
}

// Update is `berth service update`.
func (c *serviceClient) Update(ctx context.Context, ref string, version uint64, spec stypes.ServiceSpec, opts stypes.UpdateOptions) ([]string, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	r, err := c.services().Update(ctx, &berthv1.UpdateServiceRequest{Ref: ref, Version: version, Spec: b, Rollback: opts.Rollback})
	if err != nil {
		return nil, err
	}
	return r.GetWarnings(), nil
}

// Scale is `berth service scale`.
func (c *serviceClient) Scale(ctx context.Context, ref string, replicas uint64) error {
	_, err := c.services().Scale(ctx, &berthv1.ScaleServiceRequest{Ref: ref, Replicas: replicas})
	return err
}

// Rollback is `berth service rollback`.
func (c *serviceClient) Rollback(ctx context.Context, ref string) error {
	_, err := c.services().Rollback(ctx, &berthv1.RollbackServiceRequest{Ref: ref})
	return err
}

// Remove is `berth service rm`.
func (c *serviceClient) Remove(ctx context.Context, ref string) error {
	_, err := c.services().Remove(ctx, &berthv1.RemoveServiceRequest{Ref: ref})
	return err
}

// Tasks is `berth service ps`.
func (c *serviceClient) Tasks(ctx context.Context, opts stypes.TaskListOptions) ([]stypes.Task, error) {
	r, err := c.services().ListTasks(ctx, &berthv1.ListTasksRequest{Filters: filtersToProto(opts.Filters)})
	if err != nil {
		return nil, err
	}
	var out []stypes.Task
	return out, json.Unmarshal(r.GetTasks(), &out)
}

// TaskInspect returns one task.
func (c *serviceClient) TaskInspect(ctx context.Context, ref string) (*stypes.Task, error) {
	r, err := c.services().InspectTask(ctx, &berthv1.InspectTaskRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	var out stypes.Task
	return &out, json.Unmarshal(r.GetTask(), &out)
}

// Logs is `berth service logs`.
func (c *serviceClient) Logs(ctx context.Context, ref string, opts container.LogOptions, fn func(stypes.LogEntry) error) error {
	req := &berthv1.ServiceLogsRequest{Ref: ref, Follow: opts.Follow, Tail: int32(opts.Tail), Stdout: opts.Stdout, Stderr: opts.Stderr, Timestamps: opts.Timestamps}
	if !opts.Since.IsZero() {
		req.Since = opts.Since.UnixNano()
	}
	if !opts.Until.IsZero() {
		req.Until = opts.Until.UnixNano()
	}
	stream, err := c.services().Logs(ctx, req)
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		e := stypes.LogEntry{TaskID: m.GetTaskId(), NodeID: m.GetNodeId(), Slot: int(m.GetSlot())}
		e.Stream, e.Time, e.Line = m.GetStream(), time.Unix(0, m.GetTime()), m.GetLine()
		if err := fn(e); err != nil {
			return err
		}
	}
}
