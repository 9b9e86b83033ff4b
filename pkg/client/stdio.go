package client

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// input carries the caller's stdin and terminal sizes to a bidirectional
// stdio stream (Attach, ExecStart). Sends are serialised: a gRPC stream
// allows one sender at a time.
type input[Req any] struct {
	mu         sync.Mutex
	send       func(*Req) error
	stdin      func([]byte) *Req
	closeStdin func() *Req
	resize     func(container.WindowSize) *Req
}

func (in *input[Req]) sendMsg(m *Req) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.send(m)
}

// start pumps r and sizes until they end, ctx is done or a send fails. A
// read of r that blocks (a terminal) keeps its goroutine until it returns;
// the next send then fails and the goroutine ends.
func (in *input[Req]) start(ctx context.Context, r io.Reader, sizes <-chan container.WindowSize) {
	if r != nil {
		go func() {
			buf := make([]byte, chunkSize)
			for {
				n, err := r.Read(buf)
				if n > 0 {
					if in.sendMsg(in.stdin(buf[:n])) != nil {
						return
					}
				}
				if err != nil {
					// EOF or a broken input: either way the process gets no
					// more input.
					_ = in.sendMsg(in.closeStdin())
					return
				}
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	if sizes != nil {
		go func() {
			for {
				select {
				case s, ok := <-sizes:
					if !ok {
						return
					}
					if in.sendMsg(in.resize(s)) != nil {
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// write copies one output chunk to w; output for a stream the caller did not
// attach is dropped.
func write(w io.Writer, p []byte) error {
	if w == nil || len(p) == 0 {
		return nil
	}
	_, err := w.Write(p)
	return err
}

// Attach connects the caller's streams to a container's stdio and returns
// when the container's output ends (nil), ctx is done, or writing to the
// caller's Stdout/Stderr fails. opts.Ready, if set, is closed once the
// daemon has registered the attachment: output produced from then on is not
// missed (attach before Start for `run`). A nil stream is not attached. With
// a tty all output arrives on Stdout. At the end of opts.Stdin the
// container's stdin is closed.
func (c *Client) Attach(ctx context.Context, id string, opts container.AttachOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.containers.Attach(ctx)
	if err != nil {
		return err
	}
	start := &berthv1.AttachContainerRequest{Msg: &berthv1.AttachContainerRequest_Start{Start: &berthv1.AttachStart{
		Id:     id,
		Stdin:  opts.Stdin != nil,
		Stdout: opts.Stdout != nil,
		Stderr: opts.Stderr != nil,
		Logs:   opts.Logs,
	}}}
	if err := stream.Send(start); err != nil {
		return recvErr(stream.Recv, err)
	}
	first, err := stream.Recv()
	if err != nil {
		return unexpectedEOF(err, "attach")
	}
	if first.GetAttached() == nil {
		return fmt.Errorf("attach %s: protocol error: first message is not attached: %w", id, errdefs.ErrUnknown)
	}
	if opts.Ready != nil {
		close(opts.Ready)
	}
	in := &input[berthv1.AttachContainerRequest]{
		send: stream.Send,
		stdin: func(p []byte) *berthv1.AttachContainerRequest {
			return &berthv1.AttachContainerRequest{Msg: &berthv1.AttachContainerRequest_Stdin{Stdin: p}}
		},
		closeStdin: func() *berthv1.AttachContainerRequest {
			return &berthv1.AttachContainerRequest{Msg: &berthv1.AttachContainerRequest_CloseStdin{CloseStdin: &berthv1.CloseStdin{}}}
		},
		resize: func(s container.WindowSize) *berthv1.AttachContainerRequest {
			return &berthv1.AttachContainerRequest{Msg: &berthv1.AttachContainerRequest_Resize{Resize: &berthv1.WindowSize{Width: uint32(s.Width), Height: uint32(s.Height)}}}
		},
	}
	in.start(ctx, opts.Stdin, opts.Resize)
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch m := msg.GetMsg().(type) {
		case *berthv1.AttachContainerResponse_Stdout:
			err = write(opts.Stdout, m.Stdout)
		case *berthv1.AttachContainerResponse_Stderr:
			err = write(opts.Stderr, m.Stderr)
		}
		if err != nil {
			return err
		}
	}
}

// ExecStart runs an exec process created by ExecCreate with the caller's
// streams attached and returns its exit code when it exits. For an exec
// created with Detach it returns at once with 0.
func (c *Client) ExecStart(ctx context.Context, execID string, streams container.Streams) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.containers.ExecStart(ctx)
	if err != nil {
		return -1, err
	}
	start := &berthv1.ExecStartRequest{Msg: &berthv1.ExecStartRequest_Start{Start: &berthv1.ExecStartOptions{
		ExecId: execID,
		Stdin:  streams.Stdin != nil,
		Stdout: streams.Stdout != nil,
		Stderr: streams.Stderr != nil,
	}}}
	if err := stream.Send(start); err != nil {
		return -1, recvErr(stream.Recv, err)
	}
	first, err := stream.Recv()
	if err != nil {
		return -1, unexpectedEOF(err, "exec start")
	}
	if first.GetStarted() == nil {
		return -1, fmt.Errorf("exec start %s: protocol error: first message is not started: %w", execID, errdefs.ErrUnknown)
	}
	in := &input[berthv1.ExecStartRequest]{
		send: stream.Send,
		stdin: func(p []byte) *berthv1.ExecStartRequest {
			return &berthv1.ExecStartRequest{Msg: &berthv1.ExecStartRequest_Stdin{Stdin: p}}
		},
		closeStdin: func() *berthv1.ExecStartRequest {
			return &berthv1.ExecStartRequest{Msg: &berthv1.ExecStartRequest_CloseStdin{CloseStdin: &berthv1.CloseStdin{}}}
		},
		resize: func(s container.WindowSize) *berthv1.ExecStartRequest {
			return &berthv1.ExecStartRequest{Msg: &berthv1.ExecStartRequest_Resize{Resize: &berthv1.WindowSize{Width: uint32(s.Width), Height: uint32(s.Height)}}}
		},
	}
	in.start(ctx, streams.Stdin, streams.Resize)
	for {
		msg, err := stream.Recv()
		if err != nil {
			return -1, unexpectedEOF(err, "exec start")
		}
		switch m := msg.GetMsg().(type) {
		case *berthv1.ExecStartResponse_Stdout:
			err = write(streams.Stdout, m.Stdout)
		case *berthv1.ExecStartResponse_Stderr:
			err = write(streams.Stderr, m.Stderr)
		case *berthv1.ExecStartResponse_Exit:
			return int(m.Exit.GetExitCode()), nil
		}
		if err != nil {
			return -1, err
		}
	}
}

// recvErr returns the real error of a stream whose Send failed: gRPC
// reports io.EOF from Send and the status from Recv.
func recvErr[Resp any](recv func() (*Resp, error), sendErr error) error {
	if sendErr != io.EOF {
		return sendErr
	}
	if _, err := recv(); err != nil && err != io.EOF {
		return err
	}
	return unexpectedEOF(sendErr, "stream")
}
