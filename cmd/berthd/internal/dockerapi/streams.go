package dockerapi

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/common"
	dcontainer "github.com/moby/moby/api/types/container"
	"golang.org/x/net/websocket"

	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/container"
)

// Stream media types (moby's api/types/types.go).
const (
	mediaRaw         = "application/vnd.docker.raw-stream"
	mediaMultiplexed = "application/vnd.docker.multiplexed-stream"
)

// stdcopy stream numbers.
const (
	streamStdout = 1
	streamStderr = 2
	streamSystem = 3
)

// muxWriter frames what is written with Docker's stdcopy header: one byte
// of stream number, three zero bytes, the payload's length (big endian).
// The writers of one muxWriter share a lock: a frame is never interleaved.
type muxWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (m *muxWriter) stream(n byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		if len(p) == 0 {
			return 0, nil
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		var hdr [8]byte
		hdr[0] = n
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
		if _, err := m.w.Write(hdr[:]); err != nil {
			return 0, err
		}
		if _, err := m.w.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

// lockedWriter serialises raw writes (a tty stream) and flushes each.
type lockedWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func() error
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	if err == nil && l.flush != nil {
		err = l.flush()
	}
	return n, err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// hijacked is a connection taken over from net/http for attach and exec:
// the status line is written by hand, then raw bytes flow both ways.
type hijacked struct {
	conn net.Conn
	rw   *bufio.ReadWriter
}

// hijack takes r's connection and answers it: 101 UPGRADED when the client
// asked for an upgrade (the Go client demands exactly that), a plain 200
// otherwise (dockerode's exec start), both with contentType.
func hijack(w http.ResponseWriter, r *http.Request, contentType string) (*hijacked, error) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("cannot hijack the connection: %v: %w", err, errdefs.ErrInternal)
	}
	_ = conn.SetDeadline(time.Time{})
	if isUpgrade(r) {
		fmt.Fprintf(rw, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", contentType)
	} else {
		fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", contentType)
	}
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	return &hijacked{conn: conn, rw: rw}, nil
}

// output is the container's stdout and stderr on the connection: raw for
// a tty, stdcopy frames otherwise.
func (h *hijacked) output(tty bool) (stdout, stderr io.Writer) {
	if tty {
		l := &lockedWriter{w: h.conn}
		return l, l
	}
	m := &muxWriter{w: h.conn}
	return m.stream(streamStdout), m.stream(streamStderr)
}

// stdin returns the client's stdin: what it sends on the connection (the
// bytes net/http had buffered first). EOF is the client's half-close.
func (h *hijacked) stdin() io.Reader {
	return io.MultiReader(h.rw.Reader, h.conn)
}

// close ends the stream: the write side first, so that the client reads
// everything before EOF.
func (h *hijacked) close() {
	if cw, ok := h.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	h.conn.Close()
}

// systemError writes an error as a stream-3 frame (multiplexed streams)
// or as text (tty), where the client shows it.
func (h *hijacked) systemError(tty bool, err error) {
	msg := errorMessage(err) + "\n"
	if tty {
		_, _ = io.WriteString(h.conn, msg)
		return
	}
	m := &muxWriter{w: h.conn}
	_, _ = m.stream(streamSystem).Write([]byte(msg))
}

// streamType is the Content-Type of an attach, exec or logs stream.
func streamType(r *http.Request, tty bool) string {
	if !tty && docker.CompareVersions(apiVersion(r), "1.42") >= 0 {
		return mediaMultiplexed
	}
	return mediaRaw
}

// containerAttach attaches the client to a container's stdio. The engine
// registers the attachment before the answer goes out, so a client that
// attaches, then starts (docker run), sees all the output.
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	c, err := s.b.Containers.Inspect(r.Context(), v["name"])
	if err != nil {
		return err
	}
	tty := c.Config.Tty
	wantStdin := boolValue(r, "stdin") && c.Config.OpenStdin

	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	ready := make(chan struct{})
	var stdin *io.PipeReader
	var stdinW *io.PipeWriter
	if wantStdin {
		stdin, stdinW = io.Pipe()
	}
	outR, outW := io.Pipe() // the engine's output, copied to the connection once it is answered
	errR, errW := io.Pipe()
	streams := container.Streams{}
	if boolValue(r, "stdout") {
		streams.Stdout = outW
	}
	if boolValue(r, "stderr") {
		streams.Stderr = errW
	}
	if stdin != nil {
		streams.Stdin = stdin
	}
	done := make(chan error, 1)
	go func() {
		var err error
		switch {
		case boolValue(r, "stream"):
			err = s.b.Containers.Attach(ctx, c.ID, container.AttachOptions{Streams: streams, Logs: boolValue(r, "logs"), Ready: ready})
		case boolValue(r, "logs"):
			closeStdin(stdin)
			close(ready)
			err = s.logsOnly(ctx, c.ID, streams)
		default:
			// Neither: dockerd answers (101 and the stream type) and
			// sends nothing (moby's TestAttach reads only the type).
			closeStdin(stdin)
			close(ready)
		}
		outW.Close()
		errW.Close()
		done <- err
	}()
	if ok, err := registered(ready, done); !ok {
		return err
	}
	h, err := hijack(w, r, streamType(r, tty))
	if err != nil {
		cancel()
		return err
	}
	defer h.close()
	stdout, stderr := h.output(tty)
	if stdinW != nil {
		go func() {
			_, err := io.Copy(stdinW, h.stdin())
			stdinW.CloseWithError(err) // EOF: the client closed its stdin
		}()
	}
	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); copyOrCancel(stdout, outR, cancel) }()
	go func() { defer copies.Done(); copyOrCancel(stderr, errR, cancel) }()
	err = <-done
	copies.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		h.systemError(tty, err)
	}
	if !boolValue(r, "stream") && !boolValue(r, "logs") {
		// Nothing to send: as dockerd, the connection stays open, its
		// write side closed, until the client closes it (moby's
		// TestAttachDisconnectLeak counts the goroutine that waits).
		if cw, ok := h.conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, h.stdin())
	}
	return nil
}

// registered waits until the engine has registered an attachment (ready
// closed, ok) or failed before that (done without ready: not ok, with the
// engine's error). An attachment that has nothing to send
// ends at once, and both can be true when the caller looks: the answer
// must still go out (dockerd answers 101 before any output), so ready
// wins, and done keeps the result for the caller to read.
func registered(ready <-chan struct{}, done chan error) (ok bool, err error) {
	select {
	case <-ready:
		return true, nil
	case err := <-done:
		select {
		case <-ready:
			done <- err
			return true, nil
		default:
			return false, err
		}
	}
}

// closeStdin ends the reading side of an attachment's stdin that nothing
// reads, so the copy from the client fails instead of blocking.
func closeStdin(r *io.PipeReader) {
	if r != nil {
		_ = r.Close()
	}
}

// copyOrCancel copies src to dst; when the client is gone (a write fails),
// cancel ends the attachment and src is drained so the engine never blocks.
func copyOrCancel(dst io.Writer, src io.Reader, cancel func()) {
	if _, err := io.Copy(dst, src); err != nil {
		cancel()
		_, _ = io.Copy(io.Discard, src)
	}
}

// logsOnly writes the container's past output (attach with logs=1 and no
// stream).
func (s *Server) logsOnly(ctx context.Context, id string, st container.Streams) error {
	return s.b.Containers.Logs(ctx, id, container.LogOptions{Tail: -1, Stdout: st.Stdout != nil, Stderr: st.Stderr != nil}, func(e container.LogEntry) error {
		w := st.Stdout
		if e.Stream == "stderr" {
			w = st.Stderr
		}
		if w == nil {
			return nil
		}
		_, err := w.Write(e.Line)
		return err
	})
}

// containerLogs streams a container's log: stdcopy frames unless the
// container has a tty, flushed as they come with follow.
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	q := r.URL.Query()
	o := container.LogOptions{Follow: boolValue(r, "follow"), Stdout: boolValue(r, "stdout"), Stderr: boolValue(r, "stderr"), Timestamps: boolValue(r, "timestamps"), Tail: -1}
	if !o.Stdout && !o.Stderr {
		return invalid("Bad parameters: you must choose at least one stream")
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := intValue(r, "tail", -1)
		if err != nil {
			return err
		}
		if n >= 0 {
			o.Tail = n
		}
	}
	now := time.Now()
	var err error
	if o.Since, err = parseTime(q.Get("since"), now); err != nil {
		return err
	}
	if o.Until, err = parseTime(q.Get("until"), now); err != nil {
		return err
	}
	c, err := s.b.Containers.Inspect(r.Context(), v["name"])
	if err != nil {
		return err
	}
	return serveLog(w, r, c.Config.Tty, o.Follow, func(ctx context.Context, emit func(string, []byte) error) error {
		return s.b.Containers.Logs(ctx, c.ID, o, func(e container.LogEntry) error {
			line := e.Line
			if o.Timestamps {
				line = append([]byte(e.Time.UTC().Format(time.RFC3339Nano)+" "), line...)
			}
			return emit(e.Stream, line)
		})
	})
}

// serveLog sends a log as dockerd does: stdcopy frames (raw with a tty),
// one per entry. read calls emit for each entry (its stream and the bytes
// to send); an error before the first entry is the response's.
//
// Frames go through a buffer that is flushed when the log has nothing more
// for now: at its end or, following, whenever the reader has caught up.
// (dockerd flushes every frame: for a log read from its start, a write to
// the socket per line.)
func serveLog(w http.ResponseWriter, r *http.Request, tty, follow bool, read func(ctx context.Context, emit func(stream string, line []byte) error) error) error {
	w.Header().Set("Content-Type", streamType(r, tty))
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 64<<10)
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	var stdout, stderr io.Writer = bw, bw
	if !tty {
		m := &muxWriter{w: bw}
		stdout, stderr = m.stream(streamStdout), m.stream(streamStderr)
	}
	write := func(f logFrame) error {
		out := stdout
		if f.stream == "stderr" {
			out = stderr
		}
		_, err := out.Write(f.line)
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if follow {
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		q := startIdleFlusher(cancel, write, flush)
		_ = read(ctx, q.add(ctx))
		_ = q.close()
		return nil
	}
	started := false
	err := read(ctx, func(stream string, line []byte) error {
		if !started {
			started = true
			w.WriteHeader(http.StatusOK)
		}
		return write(logFrame{stream, line})
	})
	if err != nil && !started {
		return err
	}
	if !started {
		w.WriteHeader(http.StatusOK)
	}
	_ = flush()
	return nil
}

// logFrame is a log entry as it goes out.
type logFrame struct {
	stream string
	line   []byte
}

// idleFlusher writes log frames in a goroutine of its own and flushes
// whenever it has written every frame handed to it so far: a follower sees
// a new line at once, a backlog goes out in large writes.
type idleFlusher struct {
	frames chan logFrame
	done   chan error
}

// startIdleFlusher starts the writer; a failed write or flush calls
// cancel (the reader stops) and is returned by close.
func startIdleFlusher(cancel func(), write func(logFrame) error, flush func() error) *idleFlusher {
	q := &idleFlusher{frames: make(chan logFrame, 256), done: make(chan error, 1)}
	go func() {
		var err error
		for f := range q.frames {
			if err != nil {
				continue // drain: the reader stops at its next entry
			}
			if err = write(f); err == nil && len(q.frames) == 0 {
				err = flush()
			}
			if err != nil {
				cancel()
			}
		}
		q.done <- err
	}()
	return q
}

// add returns the reader's emit: it hands a frame to the writer.
func (q *idleFlusher) add(ctx context.Context) func(string, []byte) error {
	return func(stream string, line []byte) error {
		select {
		case q.frames <- logFrame{stream, line}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close waits until every frame handed over is written and flushed.
func (q *idleFlusher) close() error {
	close(q.frames)
	return <-q.done
}

// execCreateRequest is the exec create body; Detach is sent by clients of
// older API versions and still honoured.
type execCreateRequest struct {
	dcontainer.ExecCreateRequest
	Detach bool
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var req execCreateRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return invalid("No exec command specified")
	}
	if req.Privileged {
		return unsupported("privileged exec")
	}
	cfg := container.ExecConfig{
		Cmd: req.Cmd, Env: req.Env, WorkingDir: req.WorkingDir, User: req.User, Tty: req.Tty,
		AttachStdin: req.AttachStdin, AttachStdout: req.AttachStdout, AttachStderr: req.AttachStderr, Detach: req.Detach,
	}
	if req.ConsoleSize != nil {
		cfg.ConsoleSize = container.WindowSize{Height: uint16(req.ConsoleSize[0]), Width: uint16(req.ConsoleSize[1])}
	}
	id, err := s.b.Containers.ExecCreate(r.Context(), v["name"], cfg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, common.IDResponse{ID: id})
}

// execStart runs an exec process with the client's streams on the
// hijacked connection (or detached, answering at once).
func (s *Server) execStart(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var req dcontainer.ExecStartRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	e, err := s.b.Containers.ExecInspect(r.Context(), v["id"])
	if err != nil {
		return err
	}
	if e.Running || e.Pid != 0 {
		return fmt.Errorf("exec %s has already been started: %w", v["id"], errdefs.ErrConflict)
	}
	switch {
	case e.Config.Detach:
		// Created detached (exec -d): the engine returns once it started.
		if _, err := s.b.Containers.ExecStart(r.Context(), v["id"], container.Streams{}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	case req.Detach:
		// Detached only at start: the process runs on without the client.
		go func() {
			if _, err := s.b.Containers.ExecStart(context.WithoutCancel(r.Context()), v["id"], container.Streams{}); err != nil {
				s.log.Warn("detached exec", "exec", v["id"], "error", err)
			}
		}()
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// The start request's Tty, not the exec's, says whether the stream is
	// raw, as dockerd has it: a terminal's output sent to a start without
	// Tty comes in stdout frames.
	tty := req.Tty
	h, err := hijack(w, r, streamType(r, tty))
	if err != nil {
		return err
	}
	defer h.close()
	stdout, stderr := h.output(tty)
	streams := container.Streams{}
	if e.Config.AttachStdout {
		streams.Stdout = stdout
	}
	if e.Config.AttachStderr {
		streams.Stderr = stderr
	}
	if e.Config.AttachStdin {
		streams.Stdin = h.stdin()
	}
	if req.ConsoleSize != nil {
		sizes := make(chan container.WindowSize, 1)
		sizes <- container.WindowSize{Height: uint16(req.ConsoleSize[0]), Width: uint16(req.ConsoleSize[1])}
		close(sizes)
		streams.Resize = sizes
	}
	if _, err := s.b.Containers.ExecStart(context.WithoutCancel(r.Context()), v["id"], streams); err != nil {
		// On stdout, as dockerd: the exit code (127 for a command not
		// found) is the exec's, in its inspect.
		_, _ = fmt.Fprintf(stdout, "%s\r\n", errorMessage(err))
	}
	return nil
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	size, err := windowSize(r)
	if err != nil {
		return err
	}
	if err := s.b.Containers.ExecResize(r.Context(), v["id"], size); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	e, err := s.b.Containers.ExecInspect(r.Context(), v["id"])
	if err != nil {
		return err
	}
	out := dcontainer.ExecInspectResponse{
		ID: e.ID, Running: e.Running, ContainerID: e.ContainerID, Pid: e.Pid,
		OpenStdin: e.Config.AttachStdin, OpenStdout: e.Config.AttachStdout, OpenStderr: e.Config.AttachStderr,
		ProcessConfig: &dcontainer.ExecProcessConfig{Tty: e.Config.Tty, User: e.Config.User},
		DetachKeys:    []byte{},
	}
	if len(e.Config.Cmd) > 0 {
		out.ProcessConfig.Entrypoint = e.Config.Cmd[0]
		out.ProcessConfig.Arguments = e.Config.Cmd[1:]
	}
	if !e.Running && (e.Pid != 0 || e.ExitCode != 0) { // ran, or could not (127, 126)
		code := e.ExitCode
		out.ExitCode = &code
	}
	return writeJSON(w, http.StatusOK, out)
}

// trimSlash drops the leading "/" some clients put before a name.
func trimSlash(s string) string { return strings.TrimPrefix(s, "/") }

// containerAttachWS is attach over a websocket (GET
// /containers/{id}/attach/ws, what browser consoles use): stdin arrives
// in the client's messages, stdout and stderr leave raw in binary
// messages (text below API 1.28), never multiplexed, as dockerd. From API
// 1.42 the stdin, stdout and stderr parameters choose the streams, before
// it all three are attached. The client closing the websocket ends the
// attachment.
func (s *Server) containerAttachWS(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	c, err := s.b.Containers.Inspect(r.Context(), v["name"])
	if err != nil {
		return err
	}
	stream, logs := boolValue(r, "stream"), boolValue(r, "logs")
	if !stream && !logs {
		return invalid("attach needs stream=1 or logs=1")
	}
	version := apiVersion(r)
	useStdin, useStdout, useStderr := true, true, true
	if docker.CompareVersions(version, "1.42") >= 0 {
		useStdin, useStdout, useStderr = boolValue(r, "stdin"), boolValue(r, "stdout"), boolValue(r, "stderr")
	}
	useStdin = useStdin && c.Config.OpenStdin
	srv := websocket.Server{
		Handshake: func(*websocket.Config, *http.Request) error { return nil }, // any origin, as dockerd
		Handler: func(ws *websocket.Conn) {
			_ = ws.SetDeadline(time.Time{})
			if docker.CompareVersions(version, "1.28") >= 0 {
				ws.PayloadType = websocket.BinaryFrame
			}
			s.attachWS(ws, c.ID, stream, logs, useStdin, useStdout, useStderr)
		},
	}
	srv.ServeHTTP(w, r)
	return nil
}

func (s *Server) attachWS(ws *websocket.Conn, id string, stream, logs, useStdin, useStdout, useStderr bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedWriter{w: ws}
	outR, outW := io.Pipe()
	streams := container.Streams{}
	if useStdout {
		streams.Stdout = outW
	}
	if useStderr {
		streams.Stderr = outW
	}
	var stdinW *io.PipeWriter
	if useStdin && stream {
		var stdin *io.PipeReader
		stdin, stdinW = io.Pipe()
		streams.Stdin = stdin
	}
	// The client's messages: stdin, or nothing; their end is the client
	// leaving.
	go func() {
		if stdinW != nil {
			_, err := io.Copy(stdinW, ws)
			stdinW.CloseWithError(err)
		} else {
			_, _ = io.Copy(io.Discard, ws)
		}
		cancel()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyOrCancel(out, outR, cancel)
	}()
	var err error
	if stream {
		err = s.b.Containers.Attach(ctx, id, container.AttachOptions{Streams: streams, Logs: logs, Ready: make(chan struct{})})
	} else {
		err = s.logsOnly(ctx, id, streams)
	}
	outW.Close()
	<-done
	if err != nil && !errors.Is(err, context.Canceled) {
		_, _ = io.WriteString(out, errorMessage(err)+"\n")
	}
}
