package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/container"
)

// Run is `berth run`.
func Run(env *Env) *cli.Command {
	groups := createFlagGroups()
	flags := append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the container ID"},
		&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "forward signals berth receives to the container (not with -t)"},
		&cli.StringSliceFlag{Name: "attach", Aliases: []string{"a"}, Usage: "attach only these streams: stdin, stdout, stderr (repeatable)"},
		detachKeysFlag(),
	}, flagsOf(groups)...)
	return &cli.Command{
		Name:      "run",
		Usage:     "Create and start a container, and attach to it",
		UsageText: "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Description: `Creates a container from IMAGE and starts it. Without -d, berth streams the
container's output and exits with the container's exit code; -it gives an
interactive terminal. Options after IMAGE belong to the container's command.
Exit codes: 125 berth failed, 126 command cannot run, 127 command not found.

Examples:
   berth run --rm busybox echo hello
   berth run -it --rm busybox sh
   berth run -d --name web --restart unless-stopped busybox httpd -f
   berth run -e A=1 --env-file ./env -l app=demo busybox env`,
		HideHelp: true,
		Flags:    append(flags, helpFlag()),
		Action: func(c *cli.Context) error {
			if shown, err := showHelpIf(c); shown {
				return err
			}
			cfg, err := parseConfig(c, env, groups)
			if err != nil {
				return err
			}
			if err := checkCIDFile(c.String("cidfile")); err != nil {
				return failed(err)
			}
			keys, err := opts.DetachKeys(c.String("detach-keys"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			detach := c.Bool("detach")
			streams, err := attachStreams(c.StringSlice("attach"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			if streams != nil && detach {
				return &ExitError{Code: ExitBerthFailed, Err: errors.New("conflicting options: -a and -d")}
			}
			if streams["stdin"] {
				cfg.OpenStdin = true
			}
			cl, err := env.dial(c)
			if err != nil {
				return failed(err)
			}
			defer cl.Close()
			ctx := c.Context
			id, warnings, err := createPulling(ctx, c, env, cl, cfg)
			if err != nil {
				return failed(createHint(err))
			}
			printWarnings(env, warnings)
			if err := writeCIDFile(c.String("cidfile"), id); err != nil {
				_ = cl.Remove(ctx, id, container.RemoveOptions{Force: true})
				return failed(err)
			}
			if detach {
				if err := cl.Start(ctx, id); err != nil {
					return startFailed(ctx, cl, id, cfg.AutoRemove, err)
				}
				fmt.Fprintln(env.Stdout, id)
				return nil
			}
			return attachRun(ctx, env, cl, id, attachFlow{
				tty:        cfg.Tty,
				stdin:      cfg.OpenStdin,
				start:      true,
				sigProxy:   c.Bool("sig-proxy") && !cfg.Tty,
				autoRemove: cfg.AutoRemove,
				detachKeys: keys,
				streams:    streams,
			})
		},
	}
}

// attachStreams parses run's -a values (nil: attach the default streams).
func attachStreams(values []string) (map[string]bool, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]bool{}
	for _, v := range values {
		switch v = strings.ToLower(v); v {
		case "stdin", "stdout", "stderr":
			out[v] = true
		default:
			return nil, fmt.Errorf("invalid argument %q for -a: valid streams are STDIN, STDOUT and STDERR", v)
		}
	}
	return out, nil
}

// attachFlow says how attachRun connects the caller to a container.
type attachFlow struct {
	tty      bool // the container has a terminal: raw mode and resizes
	stdin    bool // send our stdin to the container
	start    bool // start the container once attached (run, start -a)
	sigProxy bool // forward our signals with Kill
	// autoRemove: the container is --rm; remove it if it cannot start.
	autoRemove bool
	// detachKeys, typed on stdin, leave the container running and end berth.
	detachKeys []byte
	// cond is the wait condition; next-exit when starting.
	cond container.WaitCondition
	// streams, if set, are the only ones attached (run -a).
	streams map[string]bool
}

// attachRun is the foreground flow of run, start -a and attach: register the
// wait first (so no exit is missed, even with --rm), attach and wait until
// berthd confirms the attachment, start the container if asked, stream until
// its output ends, and return its exit code as an *ExitError (nil for 0).
func attachRun(ctx context.Context, env *Env, cl Client, id string, f attachFlow) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	cond := f.cond
	if cond == "" {
		cond = container.WaitNextExit
		if f.autoRemove && f.start {
			// As Docker: run --rm returns once the container is gone, so
			// nothing of it is left when the command ends.
			cond = container.WaitRemoved
		}
	}
	exitCh, err := cl.Wait(ctx, id, cond)
	if err != nil {
		return f.fail(err)
	}
	stdio, err := newStdio(ctx, env, f, cancel)
	if err != nil {
		return f.fail(err)
	}
	defer stdio.restore()

	att := startAttach(ctx, cl, id, stdio.streams)
	// On any return the attachment is over, so it never writes to our
	// streams after attachRun returned.
	defer att.stop(cancel)
	if err := att.waitReady(); err != nil {
		// berthd went away before it confirmed the attachment: an attach to
		// a running container carries on as it would a moment later. (A run
		// has not started its container yet: it fails.)
		if !f.start && lostBerthd(ctx, cl, id, container.ExitStatus{ExitCode: -1}, false, err) {
			return reattach(ctx, env, cl, id, stdio)
		}
		return f.fail(err)
	}
	// Signals are caught before the container starts (they wait in the
	// channel), so none can end berth instead of reaching the container.
	var sigs chan os.Signal
	if f.sigProxy {
		sigs = catchSignals()
		defer signal.Stop(sigs)
	}
	if f.start {
		if err := cl.Start(ctx, id); err != nil {
			stdio.restore()
			return startFailed(ctx, cl, id, f.autoRemove, err)
		}
	}
	if f.tty {
		if s, ok := term.GetSize(ttyOf(env)); ok {
			_ = cl.Resize(ctx, id, container.WindowSize{Width: s.Width, Height: s.Height})
		}
	}
	if sigs != nil {
		stop := forwardSignals(ctx, cl, id, sigs)
		defer stop()
	}

	attachErr := att.wait()
	if stdio.isDetached() {
		// The container keeps running; berth ends as Docker does, with 0.
		return nil
	}
	st, ok := <-exitCh
	if lostBerthd(ctx, cl, id, st, ok, attachErr) {
		return reattach(ctx, env, cl, id, stdio)
	}
	stdio.restore()
	return exitResult(st, ok, attachErr)
}

// lostBerthd reports whether the attachment or the wait ended because
// berthd went away (stopped, restarted), not because the container exited.
func lostBerthd(ctx context.Context, cl Client, id string, st container.ExitStatus, ok bool, attachErr error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errdefs.IsUnavailable(attachErr) {
		return true
	}
	if ok && st.ExitCode >= 0 {
		return false
	}
	_, err := cl.Inspect(ctx, id)
	return errdefs.IsUnavailable(err)
}

// reattach carries a foreground run or attach over a berthd restart: the
// container does not depend on berthd (live restore), so berth waits for
// berthd to answer again and attaches anew, as `logs -f` follows on. Input
// read while berthd was away may be lost (one chunk at most).
func reattach(ctx context.Context, env *Env, cl Client, id string, stdio *stdio) error {
	for {
		fmt.Fprintf(env.Stderr, "berth: lost the connection to berthd (stopped or restarted); container %s keeps running. Waiting for berthd to come back...\n", shortID(id))
		ctr, err := waitBerthd(ctx, cl, id)
		if err != nil {
			stdio.restore()
			if errdefs.IsNotFound(err) {
				return failed(fmt.Errorf("container %s was removed while berthd was away; its exit code is unknown", shortID(id)))
			}
			return failed(err)
		}
		if !ctr.State.Running {
			stdio.restore()
			return exitResult(container.ExitStatus{ExitCode: ctr.State.ExitCode}, true, nil)
		}
		exitCh, err := cl.Wait(ctx, id, container.WaitNotRunning)
		if err != nil {
			stdio.restore()
			return failed(err)
		}
		att := startAttach(ctx, cl, id, stdio.streams)
		if err := att.waitReady(); err != nil && !errdefs.IsUnavailable(err) {
			stdio.restore()
			return failed(err)
		}
		fmt.Fprintf(env.Stderr, "berth: berthd is back; attached to container %s again\n", shortID(id))
		attachErr := att.wait()
		if stdio.isDetached() {
			return nil
		}
		st, ok := <-exitCh
		if !lostBerthd(ctx, cl, id, st, ok, attachErr) {
			stdio.restore()
			return exitResult(st, ok, attachErr)
		}
	}
}

// waitBerthd polls until berthd answers for container id again, for at most
// reconnectTimeout.
func waitBerthd(ctx context.Context, cl Client, id string) (*container.Container, error) {
	deadline := time.Now().Add(reconnectTimeout)
	for {
		ctr, err := cl.Inspect(ctx, id)
		if err == nil || !errdefs.IsUnavailable(err) {
			return ctr, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("berthd did not come back within %s; container %s may still be running: `berth attach %s` once berthd is up again", reconnectTimeout, shortID(id), shortID(id))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// exitResult turns the container's exit into berth's result.
func exitResult(st container.ExitStatus, ok bool, attachErr error) error {
	switch {
	case !ok && attachErr != nil:
		return failed(attachErr)
	case !ok:
		return failed(errors.New("lost the connection to berthd before the container exited"))
	case st.ExitCode < 0 || (st.Error != "" && st.ExitCode == 0):
		return failed(errors.New(st.Error))
	case st.ExitCode != 0:
		return &ExitError{Code: st.ExitCode}
	}
	return nil
}

// stdio is the caller's side of an attachment: the streams, the terminal
// state to restore, and whether the user typed the detach keys.
type stdio struct {
	streams  container.Streams
	restore  func()
	detached chan struct{}
}

func newStdio(ctx context.Context, env *Env, f attachFlow, cancel func()) (*stdio, error) {
	s := &stdio{
		streams:  container.Streams{Stdout: env.Stdout, Stderr: env.Stderr},
		restore:  func() {},
		detached: make(chan struct{}),
	}
	if f.streams != nil {
		if !f.streams["stdout"] {
			s.streams.Stdout = nil
		}
		if !f.streams["stderr"] {
			s.streams.Stderr = nil
		}
		f.stdin = f.stdin && f.streams["stdin"]
	}
	if f.stdin {
		s.streams.Stdin = env.Stdin
		// As Docker, the detach keys are read only from a terminal: piped
		// input is data and passes byte for byte.
		if f.tty && len(f.detachKeys) > 0 {
			s.streams.Stdin = &detachReader{r: env.Stdin, keys: f.detachKeys, done: ctx.Done(),
				detach: func() { close(s.detached); cancel() }}
		}
	}
	if f.tty {
		if f.stdin && term.IsTerminal(env.Stdin) {
			restore, err := term.MakeRaw(env.Stdin)
			if err != nil {
				return nil, fmt.Errorf("cannot put the terminal in raw mode: %w", err)
			}
			stop := term.RestoreOnSignal(restore)
			s.restore = func() { stop(); restore() }
		}
		s.streams.Resize = resizes(ctx, ttyOf(env))
	}
	return s, nil
}

func (s *stdio) isDetached() bool {
	select {
	case <-s.detached:
		return true
	default:
		return false
	}
}

// attachment is a running Attach call.
type attachment struct {
	ready chan struct{}
	done  chan error
	ended bool
	err   error
}

func startAttach(ctx context.Context, cl Client, id string, streams container.Streams) *attachment {
	a := &attachment{ready: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		a.done <- cl.Attach(ctx, id, container.AttachOptions{Streams: streams, Ready: a.ready})
	}()
	return a
}

// waitReady returns once berthd confirmed the attachment, or its error.
func (a *attachment) waitReady() error {
	select {
	case <-a.ready:
		return nil
	case a.err = <-a.done:
		a.ended = true
		return a.err
	}
}

// wait returns when the container's output ended.
func (a *attachment) wait() error {
	if !a.ended {
		a.err = <-a.done
		a.ended = true
	}
	return a.err
}

// stop cancels the attachment if it is still running and waits for it.
func (a *attachment) stop(cancel func()) {
	if !a.ended {
		cancel()
		_ = a.wait()
	}
}

func (f attachFlow) fail(err error) error {
	if f.start {
		return failed(err)
	}
	return err
}

// ttyOf is the caller's terminal for sizes: stdout if it is one, else stdin.
func ttyOf(env *Env) any {
	if term.IsTerminal(env.Stdout) {
		return env.Stdout
	}
	return env.Stdin
}

// resizes turns the terminal's size changes into the engine's type.
func resizes(ctx context.Context, tty any) <-chan container.WindowSize {
	out := make(chan container.WindowSize, 1)
	if !term.IsTerminal(tty) {
		close(out)
		return out
	}
	sizes := term.WatchSize(ctx, tty)
	go func() {
		defer close(out)
		for s := range sizes {
			select {
			case <-out:
			default:
			}
			out <- container.WindowSize{Width: s.Width, Height: s.Height}
		}
	}()
	return out
}

// proxiedSignals are forwarded to a foreground container, as Docker does.
var proxiedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}

// catchSignals starts catching the signals a foreground run forwards.
func catchSignals() chan os.Signal {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, proxiedSignals...)
	return ch
}

// forwardSignals sends the caught signals to the container with Kill until
// the returned stop is called.
func forwardSignals(ctx context.Context, cl Client, id string, ch chan os.Signal) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-ch:
				sig, ok := s.(syscall.Signal)
				if !ok {
					continue
				}
				_ = cl.Kill(ctx, id, unix.SignalName(sig))
			}
		}
	}()
	return cancel
}

// startFailed handles a container that could not start: a --rm container
// never ran, so no exit will remove it; remove it here, as Docker does.
func startFailed(ctx context.Context, cl Client, id string, autoRemove bool, err error) error {
	if autoRemove {
		if rerr := cl.Remove(context.WithoutCancel(ctx), id, container.RemoveOptions{Force: true}); rerr != nil && !errdefs.IsNotFound(rerr) {
			err = fmt.Errorf("%w (and removing the --rm container failed: %v)", err, rerr)
		}
	}
	return failed(err)
}

// shortID is the 12-character form of a container ID, as ps prints it.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
