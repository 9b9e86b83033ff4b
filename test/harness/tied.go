package harness

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// A child started with Pdeathsig is killed when the OS thread that started
// it exits, not when the process does. Go ends a thread whose goroutine
// exits while locked to it, which containerd's own mount code does for an
// overlay with many layers (core/mount's mountAt: LockOSThread, unshare
// CLONE_FS, never unlocked): a test's private containerd or registry
// started from such a thread died in the middle of the run ("connection
// refused"). StartTied starts every such child from one thread that stays
// locked for the life of the test process.
var (
	tiedOnce   sync.Once
	tiedStarts chan func()
)

// StartTied starts cmd with Pdeathsig SIGKILL from a thread that never
// exits before the process: the child dies with the test process, and only
// then.
func StartTied(cmd *exec.Cmd) error {
	tiedOnce.Do(func() {
		tiedStarts = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range tiedStarts {
				f()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	errc := make(chan error, 1)
	tiedStarts <- func() { errc <- cmd.Start() }
	return <-errc
}
