package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Image is the reference every engine has the busybox test image under.
const Image = "docker.io/library/busybox:latest"

// Engine is one container engine under test, with its own private root,
// sockets and network names. Scenarios drive it through its CLI; the
// argument builders translate a scenario's intent into that CLI's words.
type Engine struct {
	Name    string            // berth, docker, podman, ctr
	Version string            // shown in the report
	Notes   []string          // how it was set up (for the report)
	Extra   map[string]string // versions of its parts

	// Networks run --rm supports: "bridge", "none", "host".
	Networks []string

	// cli returns the engine's CLI command with its private address set.
	cli func(ctx context.Context, args ...string) *exec.Cmd
	// compose, when set, returns the engine's compose command (berth
	// compose, docker compose) with its private address set.
	compose func(ctx context.Context, args ...string) *exec.Cmd
	// runRm: `run --rm IMAGE true` on a network (name is a unique id,
	// for CLIs that need one).
	runRm func(network, name string) []string
	// runDetached: `run -d --name NAME IMAGE sleep 3600`.
	runDetached func(name string) []string
	// removeAll: the commands that remove the named running containers
	// (one command where the CLI can).
	removeAll func(names []string) [][]string
	// daemons: the engine's long-lived processes (name -> pid), without
	// any container.
	daemons func() map[string]int
	// perContainer: the processes the engine keeps per running container
	// (shims, conmon, loggers), one group per container.
	perContainer func() [][]int
	// shared: processes the engine keeps for its containers as a whole
	// (berth's spare shim); their memory is shared out among the
	// containers' figures.
	shared func() []int

	mu      sync.Mutex
	counter int
}

// Supports reports whether run --rm on network is measured for e.
func (e *Engine) Supports(network string) bool {
	for _, n := range e.Networks {
		if n == network {
			return true
		}
	}
	return false
}

// uniq returns a name unique to this engine instance.
func (e *Engine) uniq(prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counter++
	return fmt.Sprintf("%s%d", prefix, e.counter)
}

// Exec runs the engine's CLI with args and returns its wall-clock time
// (fork to exit). A non-zero exit is an error carrying the output.
func (e *Engine) Exec(ctx context.Context, args ...string) (time.Duration, error) {
	cmd := e.cli(ctx, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return d, ctx.Err()
		}
		return d, fmt.Errorf("%s %s: %v: %s", e.Name, strings.Join(args, " "), err, strings.TrimSpace(tail(out.String(), 800)))
	}
	return d, nil
}

// Output runs the CLI and returns its stdout.
func (e *Engine) Output(ctx context.Context, args ...string) (string, error) {
	cmd := e.cli(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", e.Name, strings.Join(args, " "), err, tail(errb.String(), 800))
	}
	return out.String(), nil
}

// RunRm times one `run --rm IMAGE true` on network.
func (e *Engine) RunRm(ctx context.Context, network string) (time.Duration, error) {
	return e.Exec(ctx, e.runRm(network, e.uniq("rr"))...)
}

// RunDetached times one `run -d --name name IMAGE sleep 3600`.
func (e *Engine) RunDetached(ctx context.Context, name string) (time.Duration, error) {
	return e.Exec(ctx, e.runDetached(name)...)
}

// RemoveAll times removing the named running containers.
func (e *Engine) RemoveAll(ctx context.Context, names []string) (time.Duration, error) {
	var total time.Duration
	for _, args := range e.removeAll(names) {
		d, err := e.Exec(ctx, args...)
		total += d
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// version runs a command and returns the first line of its output.
func version(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}
