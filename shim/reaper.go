package shim

import (
	"errors"
	"fmt"
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
//
// It learns of exits without a thread of its own: each child it is told
// about (runc commands, logging binaries, the container's init and exec'd
// processes) has a pidfd in an epoll set, and the epoll fd waits in Go's
// poller. (signal.Notify(SIGCHLD) would keep an OS thread blocked for the
// signal forever, 48 kB of stacks in every shim.) A child the shim was not
// told about (a process reparented to it) is reaped with the next exit of
// one it was, or by reap. On a kernel without pidfd_open (before 5.3) the
// reaper falls back to SIGCHLD.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan runc.Exit // commands started through Start
	pidfds  map[int]int
	fds     map[int32]func() // other fds in the epoll set: called when readable
	// other receives every exit that is not a waiter's. It must not block
	// the reaper for long: the service queues exits itself.
	other func(exitInfo)

	epoll   *os.File // epoll set of the pidfds, in Go's poller
	sigchld bool     // no pidfds: woken by SIGCHLD
}

func newReaper(other func(exitInfo)) (*reaper, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	r := &reaper{
		waiters: make(map[int]chan runc.Exit),
		pidfds:  make(map[int]int),
		fds:     make(map[int32]func()),
		other:   other,
		epoll:   os.NewFile(uintptr(fd), "epoll"), // non-blocking: pollable
	}
	if pfd, err := unix.PidfdOpen(os.Getpid(), 0); err == nil {
		unix.Close(pfd)
	} else if errors.Is(err, unix.ENOSYS) {
		r.sigchld = true
	}
	return r, nil
}

// watch makes the exit of child pid wake the reaper. A pid that is already
// reaped (or not a child) is ignored.
func (r *reaper) watch(pid int) {
	if r.sigchld {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	rc, err := r.epoll.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(ep uintptr) {
			// Edge-triggered: one wake-up per exit (an exited child
			// stays readable until its pidfd is closed). A child that
			// has exited already is reported at once.
			err = unix.EpollCtl(int(ep), unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)})
		})
		err = errors.Join(err, cerr)
	}
	if err != nil {
		unix.Close(fd)
		return
	}
	r.mu.Lock()
	if old, ok := r.pidfds[pid]; ok {
		unix.Close(old)
	}
	r.pidfds[pid] = fd
	r.mu.Unlock()
	// Reaped between PidfdOpen and now: nothing will close it.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err == unix.ECHILD {
		r.forget(pid, fd)
	}
}

func (r *reaper) forget(pid, fd int) {
	r.mu.Lock()
	if r.pidfds[pid] == fd {
		delete(r.pidfds, pid)
		unix.Close(fd)
	}
	r.mu.Unlock()
}

// watchFD has fn called (by the reaper's goroutine) whenever fd is
// readable, until the returned function is called, which must happen
// before fd is closed. fn must read what makes fd readable (the fd is
// level-triggered) and cope with being called once after stop.
func (r *reaper) watchFD(fd int, fn func()) (stop func(), err error) {
	rc, err := r.epoll.SyscallConn()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.fds[int32(fd)] = fn
	r.mu.Unlock()
	ctl := func(op int) error {
		var err error
		cerr := rc.Control(func(ep uintptr) {
			err = unix.EpollCtl(int(ep), op, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
		})
		return errors.Join(err, cerr)
	}
	stop = func() {
		r.mu.Lock()
		delete(r.fds, int32(fd))
		r.mu.Unlock()
		_ = ctl(unix.EPOLL_CTL_DEL)
	}
	if err := ctl(unix.EPOLL_CTL_ADD); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// run collects exits (and serves watchFD's fds) until the process ends:
// the shim's one goroutine waiting for events of the container.
func (r *reaper) run() {
	rc, err := r.epoll.SyscallConn()
	if err != nil {
		logf("reaper: %v", err)
		return
	}
	if r.sigchld {
		go func() {
			ch := make(chan os.Signal, 32)
			signal.Notify(ch, unix.SIGCHLD)
			r.reap() // children may have exited before Notify
			for range ch {
				r.reap()
			}
		}()
	}
	events := make([]unix.EpollEvent, 8)
	for {
		r.reap()
		var n int
		err := rc.Read(func(ep uintptr) bool {
			var err error
			n, err = unix.EpollWait(int(ep), events, 0)
			return n > 0 || (err != nil && err != unix.EINTR)
		})
		if err != nil {
			logf("reaper: %v", err)
			return
		}
		for _, e := range events[:max(n, 0)] {
			r.mu.Lock()
			fn := r.fds[e.Fd]
			r.mu.Unlock()
			if fn != nil {
				fn()
			}
		}
	}
}

// reap collects every child that has exited.
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
		if fd, ok := r.pidfds[pid]; ok {
			delete(r.pidfds, pid)
			unix.Close(fd)
		}
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
	if err := c.Start(); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	r.waiters[c.Process.Pid] = ec
	r.mu.Unlock()
	r.watch(c.Process.Pid)
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
