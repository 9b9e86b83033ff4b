package shim

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berthproject/berth/pkg/containerio"
	"github.com/containerd/console"
	"github.com/containerd/fifo"
	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// stdio is what containerd asked for a process: fifo paths or URIs.
type stdio struct {
	stdin, stdout, stderr string
	terminal              bool
}

func (s stdio) null() bool { return s.stdin == "" && s.stdout == "" && s.stderr == "" }

// outDst consumes one output stream until EOF and then releases its
// destination.
type outDst func(r io.Reader)

// procIO connects one container process to its destinations. Output goes
// through pipes (or the console) that the shim copies: into containerd's
// fifos, a file, a logging binary, or berth's own log sink in-process.
type procIO struct {
	s stdio

	rio            runc.IO   // pipes handed to runc; nil with a terminal
	stdinSrc       io.Reader // fifo or attach input; nil = no stdin
	stdinHold      io.Closer // the shim's own writer on the stdin fifo
	stdout, stderr outDst
	sink           *containerio.Sink
	logger         *loggerProc
	closers        []io.Closer

	console     console.Console // pty master (terminal)
	consoleFile *os.File        // the same, through Go's poller

	logged    func(int)     // called with the size of logged output
	copies    atomic.Int32  // output copies running (+1 while starting them)
	drained   chan struct{} // closed when the output copies are done
	closeOnce sync.Once
	stdinOnce sync.Once
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func copyBuf(w io.Writer, r io.Reader) error {
	b := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(b)
	_, err := io.CopyBuffer(w, r, *b)
	return err
}

// newProcIO prepares the destinations of a process's IO before runc runs it.
func newProcIO(id, ns string, s stdio, r *reaper, logged func(int)) (_ *procIO, err error) {
	p := &procIO{s: s, drained: make(chan struct{}), logged: logged}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if s.null() {
		if !s.terminal {
			p.rio, err = runc.NewNullIO()
			return p, err
		}
		p.stdout = func(r io.Reader) { _ = copyBuf(io.Discard, r) }
		return p, nil
	}
	if err := p.outputs(id, ns, r); err != nil {
		return nil, err
	}
	if s.stdin != "" {
		// The shim's own writer keeps the fifo from reaching EOF until
		// CloseIO, and lets the reader's open complete at once.
		ctx := context.Background()
		hold, err := fifo.OpenFifo(ctx, s.stdin, unix.O_WRONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("open stdin %s: %w", s.stdin, err)
		}
		p.stdinHold = hold
		in, err := fifo.OpenFifo(ctx, s.stdin, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("open stdin %s: %w", s.stdin, err)
		}
		p.closers = append(p.closers, in)
		p.stdinSrc = in
	}
	if !s.terminal {
		p.rio, err = runc.NewPipeIO(0, 0, func(o *runc.IOOption) {
			o.OpenStdin = p.stdinSrc != nil
			o.OpenStdout = p.stdout != nil
			o.OpenStderr = p.stderr != nil
		})
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// outputs sets stdout/stderr destinations from the stdout URI.
func (p *procIO) outputs(id, ns string, r *reaper) error {
	ref := p.s.stdout
	if ref == "" {
		ref = p.s.stderr
	}
	if ref == "" {
		if p.s.terminal {
			p.stdout = func(r io.Reader) { _ = copyBuf(io.Discard, r) }
		}
		return nil
	}
	u, err := url.Parse(ref)
	if err != nil {
		return fmt.Errorf("parse stdout %q: %w", ref, err)
	}
	switch u.Scheme {
	case "", "fifo":
		for _, o := range []struct {
			path string
			dst  *outDst
		}{{p.s.stdout, &p.stdout}, {p.s.stderr, &p.stderr}} {
			if o.path == "" || (p.s.terminal && o.dst == &p.stderr) {
				continue
			}
			d, err := fifoDst(strings.TrimPrefix(o.path, "fifo://"))
			if err != nil {
				return err
			}
			*o.dst = d
		}
	case "file":
		if err := os.MkdirAll(filepath.Dir(u.Path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(u.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		p.closers = append(p.closers, f)
		dst := func(r io.Reader) { _ = copyBuf(f, r) }
		p.stdout = dst
		if !p.s.terminal {
			p.stderr = dst
		}
	case "binary", "binary-v2":
		if containerio.IsBerthLogger(u) {
			return p.berthSink(u)
		}
		l, err := startLogger(u, id, ns, r)
		if err != nil {
			return err
		}
		p.logger = l
		p.stdout = writerDst(l.stdout)
		if !p.s.terminal {
			p.stderr = writerDst(l.stderr)
		} else {
			l.stderr.Close()
		}
	default:
		return fmt.Errorf("unknown stdio scheme %q", u.Scheme)
	}
	return nil
}

// berthSink runs berth's log sink in the shim instead of the berth-logger
// binary the URI names: same log file and attach socket, no extra process,
// and stdin (-i) from attach clients.
func (p *procIO) berthSink(u *url.URL) error {
	o, err := containerio.ParseLoggerURI(u)
	if err != nil {
		return err
	}
	sink, err := containerio.NewSink(o)
	if err != nil {
		return err
	}
	p.sink = sink
	// Logging allocates (the other destinations copy without garbage).
	p.stdout = func(r io.Reader) { _ = sink.CopyStdout(countingReader{r, p.logged}) }
	if !p.s.terminal {
		p.stderr = func(r io.Reader) { _ = sink.CopyStderr(countingReader{r, p.logged}) }
	}
	if in := sink.Stdin(); in != nil && p.s.stdin == "" {
		p.stdinSrc = in
	}
	return nil
}

func writerDst(w io.WriteCloser) outDst {
	return func(r io.Reader) {
		_ = copyBuf(w, r)
		w.Close()
	}
}

// fifoDst opens a containerd output fifo without blocking: the shim first
// holds a read end itself, so opening the write end returns at once, and a
// client that goes away and comes back (containerd restart, re-attach) does
// not break the pipe.
func fifoDst(path string) (outDst, error) {
	hold, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open fifo %s: %w", path, err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		unix.Close(hold)
		return nil, fmt.Errorf("open fifo %s: %w", path, err)
	}
	return func(r io.Reader) {
		_ = copyBuf(w, r)
		w.Close()
		unix.Close(hold)
	}, nil
}

// start begins copying after runc has started the process (and closed the
// child's ends of the pipes).
func (p *procIO) start() {
	if p.s.terminal {
		return // see attachConsole
	}
	if p.rio == nil || p.stdout == nil && p.stderr == nil && p.stdinSrc == nil {
		close(p.drained)
		return
	}
	p.copies.Add(1)
	defer p.copyDone()
	if p.stdout != nil {
		p.goCopy(p.stdout, p.rio.Stdout())
	}
	if p.stderr != nil {
		p.goCopy(p.stderr, p.rio.Stderr())
	}
	if p.stdinSrc != nil {
		go func() {
			_ = copyBuf(p.rio.Stdin(), p.stdinSrc)
			p.rio.Stdin().Close()
		}()
	}
}

func (p *procIO) goCopy(dst outDst, r io.Reader) {
	p.copies.Add(1)
	go func() {
		defer p.copyDone()
		dst(r)
	}()
}

// copyDone is called when an output copy ends; the last one finishes the
// output (no goroutine waits for them).
func (p *procIO) copyDone() {
	if p.copies.Add(-1) == 0 {
		p.finish()
	}
}

// finish closes the sink once both copies are done.
func (p *procIO) finish() {
	if p.sink != nil {
		_ = p.sink.Close()
	}
	close(p.drained)
}

// attachConsole starts copying between the pty master runc sent and the
// destinations. The master is read through Go's poller (no thread per tty).
func (p *procIO) attachConsole(c console.Console) error {
	p.console = c
	fd, err := unix.Dup(int(c.Fd()))
	if err != nil {
		return err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	p.consoleFile = os.NewFile(uintptr(fd), "console")
	out := p.stdout
	if out == nil {
		out = func(r io.Reader) { _ = copyBuf(io.Discard, r) }
	}
	// EIO when the last process holding the tty exits ends the copy.
	p.copies.Add(1)
	defer p.copyDone()
	p.goCopy(out, p.consoleFile)
	if p.stdinSrc != nil {
		go func() { _ = copyBuf(p.consoleFile, p.stdinSrc) }()
	}
	return nil
}

// waitDrained waits until the output is copied, at most d (a process that
// leaves a child holding its stdout must not hold its exit back forever).
func (p *procIO) waitDrained(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.drained:
	case <-t.C:
		logf("output of a process not drained after %s; reporting its exit anyway", d)
	}
}

// closeStdin gives the process EOF on stdin (CloseIO). With a stdin fifo,
// the shim's own writer is closed: the process sees EOF once the client has
// closed its end too, after everything written was delivered.
func (p *procIO) closeStdin() {
	p.stdinOnce.Do(func() {
		if p.stdinHold != nil {
			p.stdinHold.Close()
			return
		}
		if p.rio != nil && p.rio.Stdin() != nil {
			p.rio.Stdin().Close()
		}
	})
}

// resize sets the terminal size. A process without a terminal ignores it,
// as under containerd's runc shim (dockerd resizes any exec it is asked to).
func (p *procIO) resize(width, height uint32) error {
	if p.console == nil {
		return nil
	}
	return p.console.Resize(console.WinSize{Width: uint16(width), Height: uint16(height)})
}

// close releases everything. Safe to call more than once.
func (p *procIO) close() {
	p.closeOnce.Do(func() {
		if p.stdinHold != nil {
			p.stdinHold.Close()
		}
		for _, c := range p.closers {
			c.Close()
		}
		if p.rio != nil {
			p.rio.Close()
		}
		if p.consoleFile != nil {
			p.consoleFile.Close()
		}
		if p.console != nil {
			p.console.Close()
		}
		if p.sink != nil {
			_ = p.sink.Close()
		}
		if p.logger != nil {
			p.logger.stop()
		}
	})
}

// loggerProc is a logging binary started per containerd's protocol: stdout
// on fd 3, stderr on fd 4, fd 5 closed when it is ready.
type loggerProc struct {
	cmd            *exec.Cmd
	exited         chan runc.Exit
	stdout, stderr *os.File // the shim's write ends
}

const loggerStopTimeout = 12 * time.Second

func startLogger(u *url.URL, id, ns string, r *reaper) (_ *loggerProc, err error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	files = append(files, outR)
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return nil, err
	}
	files = append(files, errR)
	readyR, readyW, err := os.Pipe()
	if err != nil {
		outW.Close()
		errW.Close()
		return nil, err
	}
	files = append(files, readyR, readyW)
	l := &loggerProc{stdout: outW, stderr: errW}
	defer func() {
		if err != nil {
			outW.Close()
			errW.Close()
		}
	}()

	var args []string
	for k, vs := range u.Query() {
		args = append(args, k)
		if len(vs) > 0 {
			args = append(args, vs[0])
		}
	}
	l.cmd = exec.Command(u.Path, args...)
	l.cmd.Env = []string{"CONTAINER_ID=" + id, "CONTAINER_NAMESPACE=" + ns}
	l.cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if l.exited, err = r.Start(l.cmd); err != nil {
		return nil, fmt.Errorf("start logging binary %s: %w", u.Path, err)
	}
	readyW.Close()
	files = files[:3]
	b := make([]byte, 1)
	n, rerr := readyR.Read(b)
	if rerr != nil && rerr != io.EOF {
		l.stop()
		return nil, fmt.Errorf("logging binary %s: %w", u.Path, rerr)
	}
	if u.Scheme == "binary-v2" && n == 0 {
		l.stop()
		return nil, fmt.Errorf("logging binary %s exited before it was ready", u.Path)
	}
	return l, nil
}

// stop lets the logger flush (SIGTERM) and waits for it, killing it if it
// takes too long.
func (l *loggerProc) stop() {
	l.stdout.Close()
	l.stderr.Close()
	select {
	case <-l.exited:
		return
	default:
	}
	_ = l.cmd.Process.Signal(unix.SIGTERM)
	t := time.NewTimer(loggerStopTimeout)
	defer t.Stop()
	select {
	case <-l.exited:
	case <-t.C:
		_ = l.cmd.Process.Kill()
		<-l.exited
	}
}
