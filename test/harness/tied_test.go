package harness

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The main goroutine keeps the process's main thread: Go never ends that
// thread (it parks it instead), so a locked goroutine landing there would
// not show a thread's end.
func init() { runtime.LockOSThread() }

// startFromExitingThread starts a sleep from a goroutine locked to its
// thread that then exits, as containerd's mountAt leaves one, and reports
// whether the child died within two seconds of that.
func startFromExitingThread(t *testing.T, start func(*exec.Cmd) error) (died bool) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	errc := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: Go ends the thread with the goroutine
		errc <- start(cmd)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	select {
	case <-exited:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}

// TestStartTiedOutlivesThread: a child started with StartTied lives on
// when the thread of its caller ends; one started with Pdeathsig from that
// thread does not (what killed engine/image's private containerd midway).
func TestStartTiedOutlivesThread(t *testing.T) {
	plain := func(cmd *exec.Cmd) error {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		return cmd.Start()
	}
	if !startFromExitingThread(t, plain) {
		t.Fatal("a plain Pdeathsig child outlived the thread that started it: the check below would prove nothing")
	}
	if startFromExitingThread(t, StartTied) {
		t.Fatal("a child started with StartTied died when its caller's thread ended")
	}
}
