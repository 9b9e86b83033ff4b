package commands

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/pkg/types/container"
)

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
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: 120, Row: 33}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// ttyRecorder checks, while attached, what `run -it` did to the terminal.
type ttyRecorder struct {
	recorder
	rawDuringAttach bool
	firstSize       container.WindowSize
	resized         []container.WindowSize
}

func (r *ttyRecorder) Attach(ctx context.Context, id string, o container.AttachOptions) error {
	close(o.Ready)
	st, err := unix.IoctlGetTermios(int(o.Stdin.(*detachReader).r.(*os.File).Fd()), unix.TCGETS)
	r.rawDuringAttach = err == nil && st.Lflag&(unix.ICANON|unix.ECHO) == 0
	select {
	case r.firstSize = <-o.Resize:
	case <-time.After(10 * time.Second):
	}
	return nil
}

func (r *ttyRecorder) Resize(_ context.Context, _ string, s container.WindowSize) error {
	r.resized = append(r.resized, s)
	return nil
}

func TestRunInteractiveTerminal(t *testing.T) {
	_, tty := openPTY(t)
	sock := filepath.Join(t.TempDir(), "b.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := &ttyRecorder{recorder: recorder{exit: container.ExitStatus{ExitCode: 7}}}
	var errb bytes.Buffer
	env := &Env{
		Stdin: tty, Stdout: tty, Stderr: &errb,
		Connect: func(context.Context, string) (Client, error) { return r, nil },
	}
	code := Main(context.Background(), NewApp(env, Run(env)), []string{"berth", "-H", sock, "run", "-it", "busybox", "sh"})
	if code != 7 {
		t.Errorf("exit %d, want the shell's 7 (stderr %q)", code, errb.String())
	}
	if !r.rawDuringAttach {
		t.Error("the terminal was not in raw mode while attached")
	}
	want := container.WindowSize{Width: 120, Height: 33}
	if r.firstSize != want || len(r.resized) != 1 || r.resized[0] != want {
		t.Errorf("sizes: first %+v, resized %+v; want %+v", r.firstSize, r.resized, want)
	}
	st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil || st.Lflag&unix.ICANON == 0 || st.Lflag&unix.ECHO == 0 {
		t.Errorf("terminal not restored after run (%v)", err)
	}
}
