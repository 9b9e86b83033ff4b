package shim

import (
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"time"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// exitInfo is one reaped child.
type exitInfo struct {
	pid    int
	status int // exit code, or 128+signal
	at     time.Time
}

// reaper is the only place in the shim that waits for children. The shim is a
// child subreaper, so container processes (whose runc parent exited) are
// reparented to it; every exit is collected here with wait4(-1) and routed
// either to a runc command started through the reaper (go-runc's Monitor) or
// to the task service. Nothing else may call wait on a child, or the two
// would race for the same exit.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan runc.Exit // commands started through Start
	// other receives every exit that is not a waiter's. It must not block
	// the reaper for long: the service queues exits itself.
	other func(exitInfo)
}

func newReaper(other func(exitInfo)) *reaper {
	return &reaper{waiters: make(map[int]chan runc.Exit), other: other}
}

// run collects exits on SIGCHLD until the process ends.
func (r *reaper) run() {
	ch := make(chan os.Signal, 32)
	signal.Notify(ch, unix.SIGCHLD)
	// Children may have exited before Notify.
	r.reap()
	for range ch {
		r.reap()
	}
}

func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		e := exitInfo{pid: pid, status: exitStatus(ws), at: time.Now()}
		r.mu.Lock()
		w, ok := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if ok {
			w <- runc.Exit{Pid: pid, Status: e.status, Timestamp: e.at}
			close(w)
			continue
		}
		r.other(e)
	}
}

func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Start implements runc.ProcessMonitor: the command's exit is delivered by
// the reaper. The lock is held across Start and registration so that an
// immediate exit cannot be dispatched before its waiter exists.
func (r *reaper) Start(c *exec.Cmd) (chan runc.Exit, error) {
	ec := make(chan runc.Exit, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := c.Start(); err != nil {
		return nil, err
	}
	r.waiters[c.Process.Pid] = ec
	return ec, nil
}

// StartLocked is Start on a locked OS thread (runc's Pdeathsig is tied to
// the thread that started it).
func (r *reaper) StartLocked(c *exec.Cmd) (chan runc.Exit, error) {
	type result struct {
		ec  chan runc.Exit
		err error
	}
	res := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		ec, err := r.Start(c)
		res <- result{ec, err}
		if err == nil {
			// Keep the thread (and so the parent-death signal) until the
			// command has exited; the thread is then discarded.
			<-done
		}
		runtime.UnlockOSThread()
	}()
	out := <-res
	if out.err != nil {
		return nil, out.err
	}
	// Forward the exit and release the locked thread.
	ec := make(chan runc.Exit, 1)
	go func() {
		e := <-out.ec
		close(done)
		ec <- e
		close(ec)
	}()
	return ec, nil
}

// Wait implements runc.ProcessMonitor.
func (r *reaper) Wait(c *exec.Cmd, ec chan runc.Exit) (int, error) {
	e := <-ec
	// The process is already reaped: Wait returns an error, but it also
	// waits for exec's own copy goroutines so the output buffers are full.
	_ = c.Wait()
	return e.Status, nil
}
