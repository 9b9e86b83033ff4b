package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// benchTB lets the test harness run inside this program: its log goes to
// stderr, an error is remembered, a fatal error or skip panics (recovered
// by the caller) and cleanups run when Cleanup is called.
type benchTB struct {
	testing.TB // nil: every method the harness uses is defined below

	mu       sync.Mutex
	failed   bool
	cleanups []func()
}

type tbAbort struct{ msg string }

func (t *benchTB) Helper()                         {}
func (t *benchTB) Name() string                    { return "bench" }
func (t *benchTB) Log(args ...any)                 { logf("harness: %s", fmt.Sprint(args...)) }
func (t *benchTB) Logf(format string, args ...any) { logf("harness: "+format, args...) }
func (t *benchTB) Error(args ...any)               { t.fail(); logf("harness error: %s", fmt.Sprint(args...)) }
func (t *benchTB) Errorf(format string, args ...any) {
	t.fail()
	logf("harness error: "+format, args...)
}
func (t *benchTB) Fatal(args ...any) { t.fail(); panic(tbAbort{fmt.Sprint(args...)}) }
func (t *benchTB) Fatalf(format string, args ...any) {
	t.fail()
	panic(tbAbort{fmt.Sprintf(format, args...)})
}
func (t *benchTB) FailNow()         { t.fail(); panic(tbAbort{"FailNow"}) }
func (t *benchTB) Fail()            { t.fail() }
func (t *benchTB) Skip(args ...any) { panic(tbAbort{"skip: " + fmt.Sprint(args...)}) }
func (t *benchTB) Skipf(format string, args ...any) {
	panic(tbAbort{"skip: " + fmt.Sprintf(format, args...)})
}
func (t *benchTB) SkipNow()                 { panic(tbAbort{"skip"}) }
func (t *benchTB) Skipped() bool            { return false }
func (t *benchTB) TempDir() string          { d, _ := os.MkdirTemp("/tmp", "bb"); return d }
func (t *benchTB) Output() io.Writer        { return os.Stderr }
func (t *benchTB) Context() context.Context { return context.Background() }
func (t *benchTB) Setenv(k, v string)       { _ = os.Setenv(k, v) } // fails only for an invalid name
func (t *benchTB) Failed() bool             { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }
func (t *benchTB) fail()                    { t.mu.Lock(); t.failed = true; t.mu.Unlock() }
func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

// runCleanups runs the registered cleanups, last first.
func (t *benchTB) runCleanups() (err error) {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("%v", r)
				}
			}()
			cs[i]()
		}()
	}
	return err
}

// guard runs f, turning a harness abort into an error.
func guard(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if a, ok := r.(tbAbort); ok {
				err = fmt.Errorf("%s", a.msg)
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}

// newBerth starts a private berth stack (test/harness) on a private copy
// of the build dir, so a rebuild meanwhile does not change what is measured.
func (b *Bench) newBerth(archive string) (*Engine, error) {
	bin := filepath.Join(b.dir, "berth-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	for _, name := range []string{"berth", "berthd", "berth-logger", "berth-snapshotter", "containerd-shim-berth-v2", "berth-compose", "berth-buildkitd", "berth-etcd", "berth-cni-overlay"} {
		src := filepath.Join(b.repo, ".build", name)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if out, err := exec.Command("cp", "-p", src, filepath.Join(bin, name)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("copy %s: %v: %s", name, err, out)
		}
	}
	_ = os.Setenv(harness.EnvBuild, bin) // a valid name: cannot fail
	tb := &benchTB{}
	b.addCleanup("berth stack", func() error {
		err := tb.runCleanups()
		if err == nil && tb.Failed() {
			err = fmt.Errorf("the berth stack reported errors while stopping (see above)")
		}
		return err
	})
	var s *harness.Stack
	// A /22 for the default bridge: ports/cycle-200 runs 200 containers
	// on it, more than a /24 holds (its last quarter is kept for builds).
	opts := []harness.Option{harness.WithBridgeSubnetBits(22)}
	if b.flags.berthRuntime != "" {
		opts = append(opts, harness.WithRuntime(b.flags.berthRuntime))
	}
	if err := guard(func() { s = harness.Start(tb, opts...) }); err != nil {
		return nil, fmt.Errorf("start berth stack: %w", err)
	}
	if err := guard(func() { s.BerthOK("load", "-i", archive) }); err != nil {
		return nil, err
	}
	berth := filepath.Join(bin, "berth")
	ver := version(filepath.Join(bin, "berthd"), "--version")
	b.stack = s
	e := &Engine{
		Name:     "berth",
		Version:  strings.TrimPrefix(ver, "berthd version "),
		Networks: []string{"bridge", "none", "host"},
		cli: func(ctx context.Context, args ...string) *exec.Cmd {
			return exec.CommandContext(ctx, berth, append([]string{"--host", s.Host()}, args...)...)
		},
		compose: func(ctx context.Context, args ...string) *exec.Cmd {
			return exec.CommandContext(ctx, berth, append([]string{"--host", s.Host(), "compose"}, args...)...)
		},
		runRm: func(network, _ string) []string {
			return []string{"run", "--rm", "--network", network, "busybox", "true"}
		},
		runDetached: func(name string) []string {
			return []string{"run", "-d", "--name", name, "busybox", "sleep", "3600"}
		},
		removeAll: func(names []string) [][]string {
			return [][]string{append([]string{"rm", "-f"}, names...)}
		},
		daemons: func() map[string]int {
			m := map[string]int{"berthd": s.DaemonPID(), "containerd": s.ContainerdPID()}
			if p := s.SnapshotterPID(); p != 0 {
				m["berth-snapshotter"] = p
			}
			return m
		},
		perContainer: func() [][]int {
			return shimsOf(s.ContainerdAddress(), "berth-logger")
		},
		shared: func() []int { return sparesOf(s.ContainerdAddress()) },
	}
	e.Extra = map[string]string{
		"berthd":     version(filepath.Join(bin, "berthd"), "--version"),
		"containerd": version(filepath.Join(s.Libexec(), "containerd"), "--version"),
		"runc":       version(filepath.Join(s.Libexec(), "runc"), "--version"),
	}
	rt := b.flags.berthRuntime
	if rt == "" {
		rt = "berthd's default"
		if out, err := e.Output(b.ctx, "info", "--format", "{{.DefaultRuntime}}"); err == nil && strings.TrimSpace(out) != "" {
			rt = strings.TrimSpace(out)
		}
	}
	e.Notes = append(e.Notes, fmt.Sprintf("private stack (test/harness): berthd with its own containerd %s, runtime %s, bridge %s %s",
		e.Extra["containerd"], rt, s.Bridge(), s.BridgeSubnet()))
	e.Extra["runtime"] = rt
	return e, nil
}

// isSpare tells whether pid is berth's spare shim that no container took
// yet (its working directory is a bundle's once one did).
func isSpare(pid int) bool {
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return strings.HasSuffix(cmdline(pid), " spare") && cwd == "/"
}

// sparesOf lists berth's spare shims of the containerd at address.
func sparesOf(address string) []int {
	var out []int
	for _, pid := range allPIDs() {
		if strings.HasPrefix(exeName(pid), "containerd-shim") && strings.Contains(cmdline(pid)+" ", " "+address+" ") && isSpare(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// shimsOf lists the shim processes of the containerd at address (their
// command line names it), each with its children of the named kinds (e.g.
// berth-logger): one group per shim.
func shimsOf(address string, childKinds ...string) [][]int {
	idx := map[int]int{}
	var out [][]int
	pids := allPIDs()
	for _, pid := range pids {
		exe := exeName(pid)
		if strings.HasPrefix(exe, "containerd-shim") && strings.Contains(cmdline(pid)+" ", " "+address+" ") && !isSpare(pid) {
			idx[pid] = len(out)
			out = append(out, []int{pid})
		}
	}
	for _, pid := range pids {
		i, ok := idx[ppid(pid)]
		if !ok {
			continue
		}
		exe := exeName(pid)
		for _, k := range childKinds {
			if exe == k {
				out[i] = append(out[i], pid)
			}
		}
	}
	return out
}
