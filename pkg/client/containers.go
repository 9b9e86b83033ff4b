package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// Create creates a container; it does not start it.
func (c *Client) Create(ctx context.Context, cfg container.Config) (id string, warnings []string, err error) {
	r, err := c.containers.Create(ctx, &berthv1.CreateContainerRequest{Config: conv.ConfigToProto(cfg)})
	if err != nil {
		return "", nil, err
	}
	return r.GetId(), r.GetWarnings(), nil
}

// Start starts a container. A process that cannot be executed is a
// *container.StartError (exit code 126 or 127).
func (c *Client) Start(ctx context.Context, id string) error {
	_, err := c.containers.Start(ctx, &berthv1.StartContainerRequest{Id: id})
	return err
}

// Stop stops a container: its stop signal, then SIGKILL after the timeout.
func (c *Client) Stop(ctx context.Context, id string, opts container.StopOptions) error {
	_, err := c.containers.Stop(ctx, &berthv1.StopContainerRequest{
		Id: id, Timeout: conv.Duration(opts.Timeout), Signal: opts.Signal,
	})
	return err
}

// Restart stops (as Stop) and starts a container.
func (c *Client) Restart(ctx context.Context, id string, opts container.StopOptions) error {
	_, err := c.containers.Restart(ctx, &berthv1.RestartContainerRequest{
		Id: id, Timeout: conv.Duration(opts.Timeout), Signal: opts.Signal,
	})
	return err
}

// Kill sends signal ("" = SIGKILL; a name or a number) to a container.
func (c *Client) Kill(ctx context.Context, id, signal string) error {
	_, err := c.containers.Kill(ctx, &berthv1.KillContainerRequest{Id: id, Signal: signal})
	return err
}

// Pause freezes a container.
func (c *Client) Pause(ctx context.Context, id string) error {
	_, err := c.containers.Pause(ctx, &berthv1.PauseContainerRequest{Id: id})
	return err
}

// Unpause thaws a paused container.
func (c *Client) Unpause(ctx context.Context, id string) error {
	_, err := c.containers.Unpause(ctx, &berthv1.UnpauseContainerRequest{Id: id})
	return err
}

// Remove deletes a container.
func (c *Client) Remove(ctx context.Context, id string, opts container.RemoveOptions) error {
	_, err := c.containers.Remove(ctx, &berthv1.RemoveContainerRequest{Id: id, Force: opts.Force, Volumes: opts.Volumes, Link: opts.Link})
	return err
}

// List returns containers (`berth ps`).
func (c *Client) List(ctx context.Context, opts container.ListOptions) ([]container.Summary, error) {
	r, err := c.containers.List(ctx, &berthv1.ListContainersRequest{
		All: opts.All, Limit: int64(opts.Limit), Filters: conv.Filters(opts.Filters), Size: opts.Size,
	})
	if err != nil {
		return nil, err
	}
	out := make([]container.Summary, 0, len(r.GetContainers()))
	for _, s := range r.GetContainers() {
		out = append(out, conv.SummaryFromProto(s))
	}
	return out, nil
}

// Inspect returns the full view of a container. json.Marshal of the result
// gives Docker's field names.
func (c *Client) Inspect(ctx context.Context, id string) (*container.Container, error) {
	r, err := c.containers.Inspect(ctx, &berthv1.InspectContainerRequest{Id: id})
	if err != nil {
		return nil, err
	}
	if r.GetContainer() == nil {
		return nil, fmt.Errorf("inspect %s: empty response: %w", id, errdefs.ErrUnknown)
	}
	return conv.ContainerFromProto(r.GetContainer()), nil
}

// Rename changes a container's name.
func (c *Client) Rename(ctx context.Context, id, newName string) error {
	_, err := c.containers.Rename(ctx, &berthv1.RenameContainerRequest{Id: id, NewName: newName})
	return err
}

// Wait registers a wait for cond and returns once the daemon has accepted
// it, so a caller can Wait, then Start, and never miss the exit (even with
// AutoRemove). The channel yields exactly one value and is closed. If the
// wait breaks after it was accepted (ctx cancelled, daemon gone), that value
// has ExitCode -1 and Error set.
func (c *Client) Wait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.ExitStatus, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.containers.Wait(ctx, &berthv1.WaitContainerRequest{Id: id, Condition: conv.WaitConditionToProto(cond)})
	if err != nil {
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, unexpectedEOF(err, "wait")
	}
	ch := make(chan container.ExitStatus, 1)
	deliver := func(msg *berthv1.WaitContainerResponse) {
		defer cancel()
		defer close(ch)
		for {
			if exit := msg.GetExit(); exit != nil {
				ch <- conv.ExitStatusFromProto(exit)
				return
			}
			var err error
			if msg, err = stream.Recv(); err != nil {
				ch <- container.ExitStatus{ExitCode: -1, Error: unexpectedEOF(err, "wait").Error()}
				return
			}
		}
	}
	if first.GetAccepted() == nil && first.GetExit() == nil {
		cancel()
		return nil, fmt.Errorf("wait %s: protocol error: first message is neither accepted nor exit: %w", id, errdefs.ErrUnknown)
	}
	go deliver(first)
	return ch, nil
}

// Logs calls fn for each log entry of a container, in order; with
// opts.Follow until the container's output ends or ctx is done. An error
// from fn ends the stream and is returned.
func (c *Client) Logs(ctx context.Context, id string, opts container.LogOptions, fn func(container.LogEntry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.containers.Logs(ctx, conv.LogOptionsToProto(id, opts))
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range msg.GetEntries() {
			if err := fn(conv.LogEntryFromProto(e)); err != nil {
				return err
			}
		}
	}
}

// Resize sets the size of a container's terminal.
func (c *Client) Resize(ctx context.Context, id string, size container.WindowSize) error {
	_, err := c.containers.Resize(ctx, &berthv1.ResizeContainerRequest{Id: id, Size: conv.WindowSizeToProto(size)})
	return err
}

// ExecCreate prepares a process in a running container and returns its ID.
func (c *Client) ExecCreate(ctx context.Context, id string, cfg container.ExecConfig) (string, error) {
	r, err := c.containers.ExecCreate(ctx, &berthv1.ExecCreateRequest{Id: id, Config: conv.ExecConfigToProto(cfg)})
	if err != nil {
		return "", err
	}
	return r.GetExecId(), nil
}

// ExecResize sets the size of an exec process's terminal.
func (c *Client) ExecResize(ctx context.Context, execID string, size container.WindowSize) error {
	_, err := c.containers.ExecResize(ctx, &berthv1.ExecResizeRequest{ExecId: execID, Size: conv.WindowSizeToProto(size)})
	return err
}

// ExecInspect returns the state of an exec process.
func (c *Client) ExecInspect(ctx context.Context, execID string) (*container.ExecInspect, error) {
	r, err := c.containers.ExecInspect(ctx, &berthv1.ExecInspectRequest{ExecId: execID})
	if err != nil {
		return nil, err
	}
	if r.GetExec() == nil {
		return nil, fmt.Errorf("exec inspect %s: empty response: %w", execID, errdefs.ErrUnknown)
	}
	return conv.ExecInspectFromProto(r.GetExec()), nil
}

// Top lists the processes of a container; psArgs "" is ps's -ef.
func (c *Client) Top(ctx context.Context, id, psArgs string) (*container.TopResult, error) {
	r, err := c.containers.Top(ctx, &berthv1.TopContainerRequest{Id: id, PsArgs: psArgs})
	if err != nil {
		return nil, err
	}
	return conv.TopFromProto(r), nil
}

// unexpectedEOF names a stream that ended before its protocol said it would.
func unexpectedEOF(err error, what string) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: stream ended early: %w", what, errors.Join(errdefs.ErrUnavailable, io.ErrUnexpectedEOF))
	}
	return err
}

// Commit makes an image of the container (`berth commit`) and returns its
// ID.
func (c *Client) Commit(ctx context.Context, id string, o container.CommitOptions) (string, error) {
	r, err := c.containers.Commit(ctx, &berthv1.CommitContainerRequest{
		Id: id, Ref: o.Ref, Comment: o.Comment, Author: o.Author, Changes: o.Changes, NoPause: o.NoPause,
	})
	if err != nil {
		return "", err
	}
	return r.GetImageId(), nil
}

// Changes lists the container's changes to its image's file system
// (`berth diff`).
func (c *Client) Changes(ctx context.Context, id string) ([]container.Change, error) {
	r, err := c.containers.Changes(ctx, &berthv1.ContainerChangesRequest{Id: id})
	if err != nil {
		return nil, err
	}
	out := make([]container.Change, 0, len(r.GetChanges()))
	for _, ch := range r.GetChanges() {
		out = append(out, container.Change{Kind: container.ChangeKind(ch.GetKind()), Path: ch.GetPath()})
	}
	return out, nil
}

// Prune removes the containers that are not running and match the
// filters (`berth container prune`).
func (c *Client) Prune(ctx context.Context, o container.PruneOptions) (*container.PruneReport, error) {
	r, err := c.containers.Prune(ctx, &berthv1.PruneContainersRequest{Filters: conv.Filters(o.Filters)})
	if err != nil {
		return nil, err
	}
	deleted := r.GetDeleted()
	if deleted == nil {
		deleted = []string{}
	}
	return &container.PruneReport{ContainersDeleted: deleted, SpaceReclaimed: r.GetSpaceReclaimed()}, nil
}

// Export writes a tar of the container's root file system to w (`berth
// export`); a stream cut short is an error.
func (c *Client) Export(ctx context.Context, id string, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.containers.Export(ctx, &berthv1.ExportContainerRequest{Id: id})
	if err != nil {
		return err
	}
	return recvChunks(w, func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	})
}
