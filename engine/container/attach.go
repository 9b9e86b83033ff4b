package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/berthproject/berth/pkg/attach"
	"github.com/berthproject/berth/pkg/logfile"
	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// pendingAttach is an attachment waiting for the container's next start.
type pendingAttach struct {
	once sync.Once
	ch   chan attachResult
}

type attachResult struct {
	conn *attach.Conn
	err  error
}

func newPendingAttach() *pendingAttach {
	return &pendingAttach{ch: make(chan attachResult, 1)}
}

func (a *pendingAttach) deliver(conn *attach.Conn, err error) {
	delivered := false
	a.once.Do(func() {
		a.ch <- attachResult{conn, err}
		delivered = true
	})
	if !delivered && conn != nil {
		conn.Close()
	}
}

func (a *pendingAttach) cancel() {
	a.deliver(nil, fmt.Errorf("container removed: %w", errdefs.ErrNotFound))
}

func (r *record) failAttachers(err error) {
	r.mu.Lock()
	pending := r.attachers
	r.attachers = nil
	r.mu.Unlock()
	for _, a := range pending {
		a.deliver(nil, err)
	}
}

// Attach connects the caller's streams to the container's stdio. On a running
// container it attaches at once; otherwise it waits for the next start and is
// connected before the process runs. It returns when the output ends.
func (s *Service) Attach(ctx context.Context, ref string, opts containertypes.AttachOptions) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	if opts.Logs {
		err := s.Logs(ctx, r.id, containertypes.LogOptions{Tail: -1, Stdout: true, Stderr: true}, func(e containertypes.LogEntry) error {
			w := opts.Stdout
			if e.Stream == "stderr" && opts.Stderr != nil {
				w = opts.Stderr
			}
			if w != nil {
				_, err := w.Write(e.Line)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	conn, err := s.attachConn(ctx, r, opts.Ready)
	if err != nil {
		return err
	}
	defer conn.Close()
	if opts.Resize != nil {
		go func() {
			for size := range opts.Resize {
				_ = s.Resize(ctx, r.id, size)
			}
		}()
	}
	return pump(ctx, conn, opts.Streams)
}

// attachConn dials the running task's attach socket, or registers a pending
// attachment and waits for the next start. ready is closed once either is in
// place.
func (s *Service) attachConn(ctx context.Context, r *record, ready chan<- struct{}) (*attach.Conn, error) {
	signal := func() {
		if ready != nil {
			close(ready)
		}
	}
	// Holding op while checking the state and registering means a start cannot
	// slip between the two.
	r.op.Lock()
	resp, err := s.taskClient().Get(ctx, &tasks.GetRequest{ContainerID: r.id})
	if err != nil {
		err = errgrpc.ToNative(err)
		if !errdefs.IsNotFound(err) {
			r.op.Unlock()
			return nil, err
		}
	}
	if err == nil && (resp.Process.Status == tasktypes.Status_RUNNING || resp.Process.Status == tasktypes.Status_PAUSED) {
		conn, err := attach.Dial(ctx, s.attachSocket(r.id))
		r.op.Unlock()
		if err != nil {
			return nil, fmt.Errorf("attaching to container %s: %w", r.name, err)
		}
		signal()
		return conn, nil
	}
	a := newPendingAttach()
	r.mu.Lock()
	if r.phase == phaseRemoved {
		r.mu.Unlock()
		r.op.Unlock()
		return nil, fmt.Errorf("No such container: %s: %w", r.name, errdefs.ErrNotFound)
	}
	r.attachers = append(r.attachers, a)
	r.mu.Unlock()
	r.op.Unlock()
	signal()
	select {
	case res := <-a.ch:
		return res.conn, res.err
	case <-ctx.Done():
		a.deliver(nil, ctx.Err())
		r.mu.Lock()
		for i, p := range r.attachers {
			if p == a {
				r.attachers = append(r.attachers[:i], r.attachers[i+1:]...)
				break
			}
		}
		r.mu.Unlock()
		return nil, ctx.Err()
	}
}

// pump copies between an attach connection and the caller's streams until the
// container's output ends.
func pump(ctx context.Context, conn *attach.Conn, st containertypes.Streams) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if st.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := st.Stdin.Read(buf)
				if n > 0 {
					if werr := conn.WriteStdin(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					if errors.Is(err, io.EOF) {
						_ = conn.CloseStdin() // fails only when the attachment is gone: pump ends then
					}
					return
				}
			}
		}()
	}
	for {
		stream, p, err := conn.ReadFrame()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, attach.ErrDropped):
				return fmt.Errorf("attach ended: this client did not read the container's output fast enough and was disconnected; the whole output is in the log (berth logs): %w", errdefs.ErrUnavailable)
			case errors.Is(err, io.ErrUnexpectedEOF):
				return fmt.Errorf("attach ended: the container's output stream closed unexpectedly (its shim or logger stopped): %w", errdefs.ErrUnavailable)
			}
			return err
		}
		w := st.Stdout
		if stream == attach.Stderr && st.Stderr != nil {
			w = st.Stderr
		}
		if w == nil {
			continue
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
}

// Logs calls fn for the container's log entries selected by opts.
func (s *Service) Logs(ctx context.Context, ref string, opts containertypes.LogOptions, fn func(containertypes.LogEntry) error) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		opts.Stdout, opts.Stderr = true, true
	}
	if c, err := s.containerStore().Get(s.ctx(ctx), r.id); err == nil {
		if cfg, err := configOf(c); err == nil && cfg.LogConfig.Type == containertypes.LogDriverNone {
			// Docker's words: the container has no log to read.
			return fmt.Errorf("configured logging driver does not support reading: %w", errdefs.ErrNotImplemented)
		}
	}
	if opts.Follow {
		// As Docker: following a container that is not running prints what
		// there is and returns; a removal ends a follow.
		running, err := s.isRunning(s.ctx(ctx), r)
		if err != nil {
			return err
		}
		if running == "" && !r.is(phaseRestarting) {
			opts.Follow = false
		} else {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-r.gone:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
	}
	return logfile.Read(ctx, s.logPath(r.id), logfile.ReadOptions{
		Follow: opts.Follow, Tail: opts.Tail, Since: opts.Since, Until: opts.Until,
	}, func(e logfile.Entry) error {
		if (e.Stream == "stdout" && !opts.Stdout) || (e.Stream == "stderr" && !opts.Stderr) {
			return nil
		}
		return fn(containertypes.LogEntry{Stream: e.Stream, Time: e.Time, Line: e.Line})
	})
}
