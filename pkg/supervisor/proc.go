package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procHandle refers to a process that is not our child, through a pidfd
// so that signals cannot reach a later process that reuses the PID.
type procHandle struct {
	pid   int
	pidfd int
}

func openProcess(pid int) (*procHandle, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, err
	}
	return &procHandle{pid: pid, pidfd: fd}, nil
}

func (h *procHandle) close() { unix.Close(h.pidfd) }

// runs reports whether the process runs binary path with identity in its
// command line. Checked after the pidfd is open, so a PID reused later
// cannot pass for it.
func (h *procHandle) runs(path, identity string) bool {
	return ProcessRuns(h.pid, path, identity) && !h.exited(0)
}

// ProcessRuns reports whether process pid executes the binary at path and,
// if identity is not empty, has it in its command line.
func ProcessRuns(pid int, path, identity string) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false
	}
	// A binary replaced on disk (an upgrade) shows as "<path> (deleted)".
	exe = strings.TrimSuffix(exe, " (deleted)")
	if !samePath(exe, path) {
		return false
	}
	if identity == "" {
		return true
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), identity)
}

// processArgs returns the arguments of process pid after argv[0].
func processArgs(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, err
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	if len(args) == 0 {
		return nil, fmt.Errorf("pid %d: empty command line", pid)
	}
	return args[1:], nil
}

func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	rb, err := filepath.EvalSymlinks(b)
	return err == nil && filepath.Clean(a) == rb
}

// exited polls the pidfd for up to timeout; true once the process is gone.
func (h *procHandle) exited(timeout time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(h.pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(timeout/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// instance turns the handle into a supervised instance: a goroutine closes
// exited when the process ends; release stops it and closes the pidfd.
func (h *procHandle) instance() *instance {
	quit := make(chan struct{})
	var done sync.WaitGroup
	inst := &instance{
		pid:     h.pid,
		adopted: true,
		started: time.Now(),
		exited:  make(chan struct{}),
		signal: func(s syscall.Signal) error {
			return unix.PidfdSendSignal(h.pidfd, s, nil, 0)
		},
	}
	done.Add(1)
	go func() {
		defer done.Done()
		for {
			select {
			case <-quit:
				return
			default:
			}
			if h.exited(200 * time.Millisecond) {
				inst.status = fmt.Sprintf("adopted process %d exited (status unknown: not our child)", h.pid)
				close(inst.exited)
				return
			}
		}
	}()
	var once sync.Once
	inst.release = func() {
		once.Do(func() {
			close(quit)
			done.Wait()
			h.close()
		})
	}
	return inst
}
