package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Result is what a command printed and how it exited.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// String shows the result in a test failure message.
func (r Result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
}

// Cmd returns the berth CLI command for this stack (with --host set) for
// interactive use: the caller wires its streams and runs it.
func (s *Stack) Cmd(args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(s.build, "berth"), append([]string{"--host", s.Host()}, args...)...)
}

// Berth runs the berth CLI against this stack and returns its result; a
// non-zero exit is not a test failure (see BerthOK).
func (s *Stack) Berth(args ...string) Result {
	s.t.Helper()
	return s.BerthIn("", args...)
}

// BerthIn is Berth with stdin.
func (s *Stack) BerthIn(stdin string, args ...string) Result {
	s.t.Helper()
	return s.run(filepath.Join(s.build, "berth"), stdin, append([]string{"--host", s.Host()}, args...))
}

// BerthOK runs berth and fails the test unless it exits 0; it returns the
// trimmed stdout.
func (s *Stack) BerthOK(args ...string) string {
	s.t.Helper()
	r := s.Berth(args...)
	if r.ExitCode != 0 {
		s.t.Fatalf("berth %s: %s", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// Ctr runs containerd's ctr against the stack's containerd and namespace.
func (s *Stack) Ctr(args ...string) Result {
	s.t.Helper()
	return s.run(filepath.Join(s.libexec, "ctr"), "",
		append([]string{"--address", s.ContainerdAddress(), "--namespace", s.opts.namespace}, args...))
}

func (s *Stack) run(bin, stdin string, args []string) Result {
	s.t.Helper()
	ctx, cancel := cmdContext()
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.ExitCode = exit.ExitCode()
		if ctx.Err() != nil {
			s.t.Errorf("harness: %s %s: killed after a timeout", filepath.Base(bin), strings.Join(args, " "))
		}
	default:
		s.t.Fatalf("harness: run %s: %v", bin, err)
	}
	return r
}
