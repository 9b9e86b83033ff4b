package api

import (
	"context"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/service"
)

// Services is the service noun (`berth service ...`): replicated services
// on the cluster. Every verb works on any node of a cluster (the records
// are in the cluster store; the leader makes them real); outside a
// cluster each returns errdefs.ErrFailedPrecondition ("this node is not in
// a cluster").
//
// A service reference is a full ID, a unique ID prefix or a name; an
// unknown one is errdefs.ErrNotFound ("service X not found"). A task
// reference is a full ID or a unique ID prefix.
type Services interface {
	// Create validates spec, fills in Docker's defaults and stores the
	// service; the leader then creates its tasks. A name in use is
	// errdefs.ErrAlreadyExists; bad input errdefs.ErrInvalidArgument.
	Create(ctx context.Context, spec service.ServiceSpec) (*service.CreateResponse, error)
	List(ctx context.Context, opts service.ListOptions) ([]service.Service, error)
	Inspect(ctx context.Context, ref string) (*service.Service, error)
	// Update replaces the spec of the service at version (its
	// Version.Index as read; a stale one is errdefs.ErrConflict, version
	// 0 skips the check). The current spec becomes PreviousSpec and the
	// leader rolls the tasks over per UpdateConfig. opts.Rollback returns
	// to PreviousSpec instead (spec is ignored).
	Update(ctx context.Context, ref string, version uint64, spec service.ServiceSpec, opts service.UpdateOptions) ([]string, error)
	// Scale sets a replicated service's replicas (a global service is
	// errdefs.ErrFailedPrecondition). Scaling replaces no task.
	Scale(ctx context.Context, ref string, replicas uint64) error
	// Rollback is Update with opts.Rollback.
	Rollback(ctx context.Context, ref string) error
	// Remove deletes the service; its tasks' containers are removed by
	// their nodes.
	Remove(ctx context.Context, ref string) error
	// Tasks lists tasks (every service's unless filtered: service=, node=,
	// desired-state=, id=, name=, label=).
	Tasks(ctx context.Context, opts service.TaskListOptions) ([]service.Task, error)
	TaskInspect(ctx context.Context, ref string) (*service.Task, error)
	// Logs streams the logs of the service's tasks (or of one task when
	// ref is a task), from whichever node runs each, through fn (called
	// from one goroutine at a time). With opts.Follow it follows new
	// tasks too, until ctx is done.
	Logs(ctx context.Context, ref string, opts container.LogOptions, fn func(service.LogEntry) error) error
}
