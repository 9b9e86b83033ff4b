package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/api"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

type containersServer struct {
	berthv1.UnimplementedContainersServiceServer
	c api.Containers
}

func (s *containersServer) Create(ctx context.Context, r *berthv1.CreateContainerRequest) (*berthv1.CreateContainerResponse, error) {
	if r.GetConfig() == nil {
		return nil, invalid("create: no container config")
	}
	id, warnings, err := s.c.Create(ctx, conv.ConfigFromProto(r.GetConfig()))
	if err != nil {
		return nil, err
	}
	return &berthv1.CreateContainerResponse{Id: id, Warnings: warnings}, nil
}

func (s *containersServer) Start(ctx context.Context, r *berthv1.StartContainerRequest) (*berthv1.StartContainerResponse, error) {
	return &berthv1.StartContainerResponse{}, s.c.Start(ctx, r.GetId())
}

func (s *containersServer) Stop(ctx context.Context, r *berthv1.StopContainerRequest) (*berthv1.StopContainerResponse, error) {
	opts := containertypes.StopOptions{Timeout: conv.GoDuration(r.GetTimeout()), Signal: r.GetSignal()}
	return &berthv1.StopContainerResponse{}, s.c.Stop(ctx, r.GetId(), opts)
}

func (s *containersServer) Restart(ctx context.Context, r *berthv1.RestartContainerRequest) (*berthv1.RestartContainerResponse, error) {
	opts := containertypes.StopOptions{Timeout: conv.GoDuration(r.GetTimeout()), Signal: r.GetSignal()}
	return &berthv1.RestartContainerResponse{}, s.c.Restart(ctx, r.GetId(), opts)
}

func (s *containersServer) Kill(ctx context.Context, r *berthv1.KillContainerRequest) (*berthv1.KillContainerResponse, error) {
	return &berthv1.KillContainerResponse{}, s.c.Kill(ctx, r.GetId(), r.GetSignal())
}

func (s *containersServer) Pause(ctx context.Context, r *berthv1.PauseContainerRequest) (*berthv1.PauseContainerResponse, error) {
	return &berthv1.PauseContainerResponse{}, s.c.Pause(ctx, r.GetId())
}

func (s *containersServer) Unpause(ctx context.Context, r *berthv1.UnpauseContainerRequest) (*berthv1.UnpauseContainerResponse, error) {
	return &berthv1.UnpauseContainerResponse{}, s.c.Unpause(ctx, r.GetId())
}

func (s *containersServer) Remove(ctx context.Context, r *berthv1.RemoveContainerRequest) (*berthv1.RemoveContainerResponse, error) {
	return &berthv1.RemoveContainerResponse{}, s.c.Remove(ctx, r.GetId(), containertypes.RemoveOptions{Force: r.GetForce(), Volumes: r.GetVolumes(), Link: r.GetLink()})
}

func (s *containersServer) List(ctx context.Context, r *berthv1.ListContainersRequest) (*berthv1.ListContainersResponse, error) {
	list, err := s.c.List(ctx, containertypes.ListOptions{
		All: r.GetAll(), Limit: int(r.GetLimit()), Filters: conv.FilterMap(r.GetFilters()), Size: r.GetSize(),
	})
	if err != nil {
		return nil, err
	}
	resp := &berthv1.ListContainersResponse{Containers: make([]*berthv1.ContainerSummary, 0, len(list))}
	for _, c := range list {
		resp.Containers = append(resp.Containers, conv.SummaryToProto(c))
	}
	return resp, nil
}

func (s *containersServer) Inspect(ctx context.Context, r *berthv1.InspectContainerRequest) (*berthv1.InspectContainerResponse, error) {
	c, err := s.c.Inspect(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	return &berthv1.InspectContainerResponse{Container: conv.ContainerToProto(c)}, nil
}

func (s *containersServer) Rename(ctx context.Context, r *berthv1.RenameContainerRequest) (*berthv1.RenameContainerResponse, error) {
	return &berthv1.RenameContainerResponse{}, s.c.Rename(ctx, r.GetId(), r.GetNewName())
}

func (s *containersServer) Wait(r *berthv1.WaitContainerRequest, stream berthv1.ContainersService_WaitServer) error {
	ctx := stream.Context()
	ch, err := s.c.Wait(ctx, r.GetId(), conv.WaitConditionFromProto(r.GetCondition()))
	if err != nil {
		return err
	}
	accepted := &berthv1.WaitContainerResponse{Event: &berthv1.WaitContainerResponse_Accepted{Accepted: &berthv1.WaitAccepted{}}}
	if err := stream.Send(accepted); err != nil {
		return err
	}
	select {
	case st, ok := <-ch:
		if !ok {
			return fmt.Errorf("wait %s: ended without an exit status: %w", r.GetId(), errdefs.ErrUnknown)
		}
		return stream.Send(&berthv1.WaitContainerResponse{Event: &berthv1.WaitContainerResponse_Exit{Exit: conv.ExitStatusToProto(st)}})
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Log batches: what has piled up while the previous message was sent goes
// in one message, up to these bounds. An entry that arrives while the
// stream is idle is sent at once (follow stays live).
const (
	logBatchEntries = 512
	logBatchBytes   = 512 << 10
)

func (s *containersServer) Logs(r *berthv1.ContainerLogsRequest, stream berthv1.ContainersService_LogsServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	entries := make(chan *berthv1.LogEntry, logBatchEntries)
	sent := make(chan error, 1)
	go func() {
		sent <- sendLogBatches(entries, stream.Send)
		cancel() // a failed send stops the engine's reader
	}()
	err := s.c.Logs(ctx, r.GetId(), conv.LogOptionsFromProto(r), func(e containertypes.LogEntry) error {
		select {
		case entries <- conv.LogEntryToProto(e):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(entries)
	if serr := <-sent; serr != nil {
		return serr
	}
	return err
}

// sendLogBatches sends the entries in batches until the channel is closed
// and drained, or a send fails.
func sendLogBatches(entries <-chan *berthv1.LogEntry, send func(*berthv1.ContainerLogsResponse) error) error {
	for e := range entries {
		batch, size := []*berthv1.LogEntry{e}, len(e.GetLine())
	more:
		for len(batch) < logBatchEntries && size < logBatchBytes {
			select {
			case e, ok := <-entries:
				if !ok {
					break more
				}
				batch = append(batch, e)
				size += len(e.GetLine())
			default:
				break more
			}
		}
		if err := send(&berthv1.ContainerLogsResponse{Entries: batch}); err != nil {
			return err
		}
	}
	return nil
}

func (s *containersServer) Attach(stream berthv1.ContainersService_AttachServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return firstMessageErr("attach", err)
	}
	start := first.GetStart()
	if start == nil {
		return invalid("attach: the first message must be start")
	}
	out := &output[berthv1.AttachContainerResponse]{
		send:     stream.Send,
		greeting: &berthv1.AttachContainerResponse{Msg: &berthv1.AttachContainerResponse_Attached{Attached: &berthv1.Attached{}}},
	}
	in := newInput(start.GetStdin())
	defer in.close()
	streams := in.streams()
	if start.GetStdout() {
		streams.Stdout = out.writer(func(p []byte) *berthv1.AttachContainerResponse {
			return &berthv1.AttachContainerResponse{Msg: &berthv1.AttachContainerResponse_Stdout{Stdout: p}}
		})
	}
	if start.GetStderr() {
		streams.Stderr = out.writer(func(p []byte) *berthv1.AttachContainerResponse {
			return &berthv1.AttachContainerResponse{Msg: &berthv1.AttachContainerResponse_Stderr{Stderr: p}}
		})
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.c.Attach(ctx, start.GetId(), containertypes.AttachOptions{Streams: streams, Logs: start.GetLogs(), Ready: ready})
	}()
	select {
	case <-ready:
	case err := <-done:
		// Ended before it was registered: an error, or (nil) nothing to attach to.
		if err == nil {
			err = out.greet()
		}
		return err
	}
	if err := out.greet(); err != nil {
		return err
	}
	go in.serve(ctx, func() (stdioRequest, error) { return stream.Recv() })
	return <-done
}

func (s *containersServer) Resize(ctx context.Context, r *berthv1.ResizeContainerRequest) (*berthv1.ResizeContainerResponse, error) {
	return &berthv1.ResizeContainerResponse{}, s.c.Resize(ctx, r.GetId(), conv.WindowSizeFromProto(r.GetSize()))
}

func (s *containersServer) ExecCreate(ctx context.Context, r *berthv1.ExecCreateRequest) (*berthv1.ExecCreateResponse, error) {
	if r.GetConfig() == nil {
		return nil, invalid("exec create: no exec config")
	}
	id, err := s.c.ExecCreate(ctx, r.GetId(), conv.ExecConfigFromProto(r.GetConfig()))
	if err != nil {
		return nil, err
	}
	return &berthv1.ExecCreateResponse{ExecId: id}, nil
}

func (s *containersServer) ExecStart(stream berthv1.ContainersService_ExecStartServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return firstMessageErr("exec start", err)
	}
	start := first.GetStart()
	if start == nil {
		return invalid("exec start: the first message must be start")
	}
	out := &output[berthv1.ExecStartResponse]{
		send:     stream.Send,
		greeting: &berthv1.ExecStartResponse{Msg: &berthv1.ExecStartResponse_Started{Started: &berthv1.ExecStarted{}}},
	}
	in := newInput(start.GetStdin())
	defer in.close()
	streams := in.streams()
	if start.GetStdout() {
		streams.Stdout = out.writer(func(p []byte) *berthv1.ExecStartResponse {
			return &berthv1.ExecStartResponse{Msg: &berthv1.ExecStartResponse_Stdout{Stdout: p}}
		})
	}
	if start.GetStderr() {
		streams.Stderr = out.writer(func(p []byte) *berthv1.ExecStartResponse {
			return &berthv1.ExecStartResponse{Msg: &berthv1.ExecStartResponse_Stderr{Stderr: p}}
		})
	}
	// The process starts inside ExecStart with these streams in place, so
	// the client can be told now that it will miss nothing.
	if err := out.greet(); err != nil {
		return err
	}
	go in.serve(ctx, func() (stdioRequest, error) { return stream.Recv() })
	code, err := s.c.ExecStart(ctx, start.GetExecId(), streams)
	if err != nil {
		return err
	}
	return out.sendMsg(&berthv1.ExecStartResponse{Msg: &berthv1.ExecStartResponse_Exit{Exit: &berthv1.ExecExit{ExitCode: int64(code)}}})
}

func (s *containersServer) ExecResize(ctx context.Context, r *berthv1.ExecResizeRequest) (*berthv1.ExecResizeResponse, error) {
	return &berthv1.ExecResizeResponse{}, s.c.ExecResize(ctx, r.GetExecId(), conv.WindowSizeFromProto(r.GetSize()))
}

func (s *containersServer) ExecInspect(ctx context.Context, r *berthv1.ExecInspectRequest) (*berthv1.ExecInspectResponse, error) {
	e, err := s.c.ExecInspect(ctx, r.GetExecId())
	if err != nil {
		return nil, err
	}
	return &berthv1.ExecInspectResponse{Exec: conv.ExecInspectToProto(e)}, nil
}

func (s *containersServer) Top(ctx context.Context, r *berthv1.TopContainerRequest) (*berthv1.TopContainerResponse, error) {
	t, err := s.c.Top(ctx, r.GetId(), r.GetPsArgs())
	if err != nil {
		return nil, err
	}
	return conv.TopToProto(t), nil
}

// firstMessageErr explains a client stream that ended before its first message.
func firstMessageErr(call string, err error) error {
	if errors.Is(err, io.EOF) {
		return invalid("%s: no start message", call)
	}
	return err
}
