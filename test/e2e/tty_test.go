package e2e

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
)

// berthRuntime is berth's own shim, which carries stdin and the tty.
const berthRuntime = "io.containerd.berth.v2"

// interactiveArgs adds --runtime when berthd's default runtime cannot run
// interactive containers.
func interactiveArgs(c cli) []string {
	if rt := c.ok("info", "--format", "{{.DefaultRuntime}}"); rt != berthRuntime {
		return []string{"--runtime", berthRuntime}
	}
	return nil
}

// terminal is a berth command whose stdin, stdout and stderr are the slave
// of a pseudo-terminal (its controlling terminal), driven from the master.
type terminal struct {
	t      *testing.T
	pty    console.Console
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	exited chan struct{}
	err    error
}

func (c cli) startTerminal(size console.WinSize, args ...string) *terminal {
	c.t.Helper()
	pty, slavePath, err := console.NewPty()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := pty.Resize(size); err != nil {
		c.t.Fatal(err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	tm := &terminal{t: c.t, pty: pty, cmd: c.cmd(args...), exited: make(chan struct{})}
	tm.cmd.Stdin, tm.cmd.Stdout, tm.cmd.Stderr = slave, slave, slave
	// A session of its own with the pty as controlling terminal: window
	// size changes send it SIGWINCH, as in a real terminal.
	tm.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := tm.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	slave.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return // EIO once every slave fd is closed
			}
		}
	}()
	go func() { tm.err = tm.cmd.Wait(); close(tm.exited) }()
	c.t.Cleanup(func() {
		select {
		case <-tm.exited:
		default:
			_ = tm.cmd.Process.Kill()
			<-tm.exited
		}
		pty.Close()
	})
	return tm
}

func (tm *terminal) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

func (tm *terminal) typeIn(s string) {
	tm.t.Helper()
	if _, err := tm.pty.Write([]byte(s)); err != nil {
		tm.t.Fatalf("write to the pty: %v", err)
	}
}

// waitFor polls until the output after offset from contains s; it returns
// the end of the match.
func (tm *terminal) waitFor(from int, s string) int {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if i := strings.Index(tm.output()[from:], s); i >= 0 {
			return from + i + len(s)
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out waiting for %q on the terminal; output so far:\n%q", s, tm.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tm *terminal) wait() int {
	tm.t.Helper()
	select {
	case <-tm.exited:
	case <-time.After(30 * time.Second):
		tm.t.Fatalf("berth did not exit; terminal output:\n%q", tm.output())
	}
	var exit *exec.ExitError
	if errors.As(tm.err, &exit) {
		return exit.ExitCode()
	}
	if tm.err != nil {
		tm.t.Fatal(tm.err)
	}
	return 0
}

// testTTY: `berth run -it busybox sh` on a real pseudo-terminal: commands,
// its size, a resize, and exit's code.
func testTTY(t *testing.T, c cli) {
	n := c.name("tty")
	args := append(append([]string{"run", "-it", "--rm", "--name", n}, interactiveArgs(c)...), "busybox", "sh")
	tm := c.startTerminal(console.WinSize{Height: 30, Width: 100}, args...)

	tm.typeIn("echo $((40+2))\r")
	off := tm.waitFor(0, "42\r\n")
	tm.typeIn("stty size\r")
	off = tm.waitFor(off, "30 100\r\n")
	if got := c.inspect(n, "{{.Config.Tty}} {{.Config.OpenStdin}}"); got != "true true" {
		t.Errorf("Config Tty OpenStdin = %q", got)
	}

	if err := tm.pty.Resize(console.WinSize{Height: 40, Width: 120}); err != nil {
		t.Fatal(err)
	}
	// The resize travels asynchronously (SIGWINCH, then berthd): ask, read
	// the answer, ask again until it shows the new size.
	sizeRE := regexp.MustCompile(`(?m)^(\d+ \d+)\r\n`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		tm.typeIn("stty size\r")
		var m []int
		eventually(t, 30*time.Second, "an answer of stty size", func() bool {
			m = sizeRE.FindStringSubmatchIndex(tm.output()[off:])
			return m != nil
		})
		got := tm.output()[off+m[2] : off+m[3]]
		off += m[1]
		if got == "40 120" {
			break
		}
		if got != "30 100" || time.Now().After(deadline) {
			t.Fatalf("stty size after a resize to 40x120: %q", got)
		}
	}

	tm.typeIn("exit 5\r")
	if code := tm.wait(); code != 5 {
		t.Errorf("berth run -it exited %d after `exit 5`; output:\n%q", code, tm.output())
	}
	eventually(t, 30*time.Second, "the --rm tty container to be removed", func() bool { return !c.exists(n) })
}

// testTTYEOF: Ctrl-D ends a cat session on a tty.
func testTTYEOF(t *testing.T, c cli) {
	n := c.name("tty-eof")
	args := append(append([]string{"run", "-it", "--name", n}, interactiveArgs(c)...), "busybox", "cat")
	tm := c.startTerminal(console.WinSize{Height: 24, Width: 80}, args...)
	tm.typeIn("hello tty\r")
	// The tty echoes the line, then cat prints it: twice.
	eventually(t, 30*time.Second, "cat's echo", func() bool {
		return strings.Count(tm.output(), "hello tty\r\n") >= 2
	})
	tm.typeIn("\x04")
	if code := tm.wait(); code != 0 {
		t.Errorf("berth run -it cat exited %d after Ctrl-D; output:\n%q", code, tm.output())
	}
	if got := c.inspect(n, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 0" {
		t.Errorf("after Ctrl-D: %q", got)
	}
	if out := c.ok("logs", n); !strings.Contains(out, "hello tty") {
		t.Errorf("logs of the tty container: %q", out)
	}

	// -i without -t: stdin piped, EOF ends it.
	m := c.name("stdin")
	r := c.runIn(strings.NewReader("piped 1\npiped 2\n"),
		append(append([]string{"run", "-i", "--name", m}, interactiveArgs(c)...), "busybox", "sh", "-c", "cat; echo eof")...)
	if r.code != 0 || r.stdout != "piped 1\npiped 2\neof\n" {
		t.Errorf("run -i with piped stdin: %s", r)
	}
}

// testExecTTY: `berth exec -it` on a real pseudo-terminal: a tty of its
// own, its size, and the exit code.
func testExecTTY(t *testing.T, c cli) {
	n := c.name("exec-tty")
	c.ok("run", "-d", "--name", n, "busybox", "sleep", "1000")
	tm := c.startTerminal(console.WinSize{Height: 33, Width: 77}, "exec", "-it", n, "sh")
	tm.typeIn("tty; stty size\r")
	off := tm.waitFor(0, "/dev/pts/")
	tm.waitFor(off, "33 77\r\n")
	tm.typeIn("exit 3\r")
	if code := tm.wait(); code != 3 {
		t.Errorf("berth exec -it exited %d after `exit 3`; output:\n%q", code, tm.output())
	}
	if got := c.status(n); got != "running" {
		t.Errorf("container after exec -it: %q", got)
	}
}
