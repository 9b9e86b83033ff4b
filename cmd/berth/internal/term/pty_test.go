package term

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a real pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

func setSize(t *testing.T, f *os.File, w, h uint16) {
	t.Helper()
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: w, Row: h}); err != nil {
		t.Fatal(err)
	}
}

func TestRawModeAndRestore(t *testing.T) {
	_, s := openPTY(t)
	if !IsTerminal(s) {
		t.Fatal("pty slave is not a terminal")
	}
	canonical := func() bool {
		st, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		return st.Lflag&unix.ICANON != 0 && st.Lflag&unix.ECHO != 0
	}
	if !canonical() {
		t.Fatal("a new pty is not in canonical mode")
	}
	restore, err := MakeRaw(s)
	if err != nil {
		t.Fatal(err)
	}
	if canonical() {
		t.Fatal("MakeRaw left canonical mode and echo on")
	}
	restore()
	restore() // twice is harmless
	if !canonical() {
		t.Fatal("restore did not bring canonical mode back")
	}
}

func TestSizeAndWatch(t *testing.T) {
	m, s := openPTY(t)
	setSize(t, m, 100, 40)
	if got, ok := GetSize(s); !ok || got != (Size{Width: 100, Height: 40}) {
		t.Fatalf("GetSize = %+v, %v", got, ok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sizes := WatchSize(ctx, s)
	if got := <-sizes; got != (Size{Width: 100, Height: 40}) {
		t.Fatalf("first size %+v", got)
	}
	setSize(t, m, 132, 50)
	// SIGWINCH is what the terminal sends on a resize; deliver it, and
	// repeat until seen (the watcher registers its handler asynchronously).
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seen := false; !seen; {
		select {
		case got := <-sizes:
			seen = got == Size{Width: 132, Height: 50}
		case <-tick.C:
			if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("new size not reported after SIGWINCH")
		}
	}
	cancel()
	for range sizes {
	}
}

// A raw terminal is restored when the process is terminated. The check runs
// in a child process (this test binary) that a signal then kills.
func TestRestoreOnSignal(t *testing.T) {
	if os.Getenv("BERTH_TERM_CHILD") == "1" {
		s := os.NewFile(3, "pty")
		restore, err := MakeRaw(s)
		if err != nil {
			os.Exit(2)
		}
		RestoreOnSignal(restore)
		os.Stdout.WriteString("raw\n")
		select {}
	}
	_, s := openPTY(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreOnSignal$")
	cmd.Env = append(os.Environ(), "BERTH_TERM_CHILD=1")
	cmd.ExtraFiles = []*os.File{s}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 4)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "raw\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	st, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lflag&unix.ICANON != 0 {
		t.Fatal("child did not make the terminal raw")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("child did not die of SIGTERM: %v", err)
	}
	if st, err = unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS); err != nil || st.Lflag&unix.ICANON == 0 {
		t.Fatalf("terminal left raw after SIGTERM (%v)", err)
	}
}
