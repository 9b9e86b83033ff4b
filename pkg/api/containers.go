package api

import (
	"context"
	"io"

	"github.com/berthproject/berth/pkg/types/container"
)

// Containers is the container noun.
type Containers interface {
	// Create makes a container from cfg (resolving its image, preparing its
	// writable snapshot and /etc files). A failed Create leaves nothing
	// behind.
	Create(ctx context.Context, cfg container.Config) (id string, warnings []string, err error)
	// Start starts a created or stopped container. A process that cannot be
	// started reports *container.StartError with Docker's exit code 126 (not
	// executable) or 127 (not found).
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, opts container.StopOptions) error
	Restart(ctx context.Context, id string, opts container.StopOptions) error
	// Kill sends signal: "" is SIGKILL; names (TERM, SIGTERM) or numbers.
	Kill(ctx context.Context, id, signal string) error
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
	Remove(ctx context.Context, id string, opts container.RemoveOptions) error
	List(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
	Inspect(ctx context.Context, id string) (*container.Container, error)
	Rename(ctx context.Context, id, newName string) error
	// Wait returns once the wait is registered (so a caller can Wait, then
	// Start, and never miss the exit, even with AutoRemove). The channel
	// yields one value.
	Wait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.ExitStatus, error)
	Logs(ctx context.Context, id string, opts container.LogOptions, fn func(container.LogEntry) error) error
	// Attach blocks until the container's output ends (it exited) or ctx is
	// done. On a container that is not running it waits for the next Start
	// and is connected before the process starts, so no output is missed
	// (run, start -a). AttachOptions.Ready, if set, is closed once the
	// attachment is in place.
	Attach(ctx context.Context, id string, opts container.AttachOptions) error
	Resize(ctx context.Context, id string, size container.WindowSize) error
	Top(ctx context.Context, id, psArgs string) (*container.TopResult, error)
	ExecCreate(ctx context.Context, id string, cfg container.ExecConfig) (execID string, err error)
	// ExecStart blocks until the process exits unless the exec is detached.
	ExecStart(ctx context.Context, execID string, streams container.Streams) (exitCode int, err error)
	ExecResize(ctx context.Context, execID string, size container.WindowSize) error
	ExecInspect(ctx context.Context, execID string) (*container.ExecInspect, error)
	// Update changes the cgroup limits of a running or stopped container.
	Update(ctx context.Context, id string, r container.Resources) (warnings []string, err error)
	// UpdateRestartPolicy changes the restart policy (`update --restart`).
	UpdateRestartPolicy(ctx context.Context, id string, p container.RestartPolicy) error
	// CopyTo extracts the tar stream r into the container's filesystem
	// (berth cp).
	CopyTo(ctx context.Context, id string, opts container.CopyToOptions, r io.Reader) error
	// Commit makes an image of the container (berth commit) and returns
	// its ID.
	Commit(ctx context.Context, id string, opts container.CommitOptions) (imageID string, err error)
	// Changes lists the container's changes to its image's file system
	// (berth diff).
	Changes(ctx context.Context, id string) ([]container.Change, error)
	// Export writes a tar of the container's root file system to w
	// (berth export).
	Export(ctx context.Context, id string, w io.Writer) error
	// Prune removes the containers that are not running and match the
	// filters (berth container prune).
	Prune(ctx context.Context, opts container.PruneOptions) (*container.PruneReport, error)
}
