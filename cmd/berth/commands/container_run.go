package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/engine/container"
	"github.com/berthproject/berth/pkg/term"
)

// Run is `berth run`.
func Run(env *Env) *cli.Command {
	groups := createFlagGroups()
	flags := append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the container ID"},
		&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "forward signals berth receives to the container (not with -t)"},
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
		Flags: flags,
		Action: func(c *cli.Context) error {
			cfg, err := parseConfig(c, env, groups)
			if err != nil {
				return err
			}
			keys, err := opts.DetachKeys(c.String("detach-keys"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			detach := c.Bool("detach")
			if detach && cfg.AutoRemove && cfg.RestartPolicy.Name != "" {
				return &ExitError{Code: ExitBerthFailed, Err: errors.New("conflicting options: --rm and --restart")}
			}
			cl, err := env.dial(c)
			if err != nil {
				return failed(err)
			}
			defer cl.Close()
			ctx := c.Context
			id, warnings, err := cl.Create(ctx, cfg)
			if err != nil {
				return failed(err)
			}
			printWarnings(env, warnings)
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
			})
		},
	}
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
	}
	exitCh, err := cl.Wait(ctx, id, cond)
	if err != nil {
		return f.fail(err)
	}

	streams := container.Streams{Stdout: env.Stdout, Stderr: env.Stderr}
	detached := make(chan struct{})
	if f.stdin {
		streams.Stdin = env.Stdin
		if len(f.detachKeys) > 0 {
			streams.Stdin = &detachReader{r: env.Stdin, keys: f.detachKeys, done: ctx.Done(),
				detach: func() { close(detached); cancel() }}
		}
	}
	restore := func() {}
	if f.tty {
		if f.stdin && term.IsTerminal(env.Stdin) {
			r, err := term.MakeRaw(env.Stdin)
			if err != nil {
				return f.fail(fmt.Errorf("cannot put the terminal in raw mode: %w", err))
			}
			restore = r
			defer restore()
		}
		streams.Resize = resizes(ctx, ttyOf(env))
	}

	ready := make(chan struct{})
	attached := make(chan error, 1)
	go func() {
		attached <- cl.Attach(ctx, id, container.AttachOptions{Streams: streams, Ready: ready})
	}()
	var attachErr error
	attachDone := false
	// On an early return the attachment is cancelled and waited for, so it
	// never writes to our streams after attachRun returned.
	defer func() {
		if !attachDone {
			cancel()
			<-attached
		}
	}()
	select {
	case <-ready:
	case attachErr = <-attached:
		attachDone = true
		if attachErr != nil {
			return f.fail(attachErr)
		}
	}

	if f.start {
		if err := cl.Start(ctx, id); err != nil {
			restore()
			return startFailed(ctx, cl, id, f.autoRemove, err)
		}
	}
	if f.tty {
		if s, ok := term.GetSize(ttyOf(env)); ok {
			_ = cl.Resize(ctx, id, container.WindowSize{Width: s.Width, Height: s.Height})
		}
	}
	if f.sigProxy {
		stop := proxySignals(ctx, cl, id)
		defer stop()
	}

	if !attachDone {
		attachErr = <-attached
		attachDone = true
	}
	select {
	case <-detached:
		// The container keeps running; berth ends as Docker does, with 0.
		return nil
	default:
	}
	st, ok := <-exitCh
	restore()
	if !ok {
		if attachErr != nil {
			return failed(attachErr)
		}
		return failed(errors.New("lost the connection to berthd before the container exited"))
	}
	if st.ExitCode < 0 || (st.Error != "" && st.ExitCode == 0) {
		return failed(errors.New(st.Error))
	}
	if st.ExitCode != 0 {
		return &ExitError{Code: st.ExitCode}
	}
	return nil
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

// proxySignals forwards the signals berth receives to the container with
// Kill until the returned stop is called.
func proxySignals(ctx context.Context, cl Client, id string) (stop func()) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, proxiedSignals...)
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
	return func() {
		signal.Stop(ch)
		cancel()
	}
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
