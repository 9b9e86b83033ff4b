package commands

import (
	"context"
	"fmt"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/container"
)

// forEachParallel bounds how many names forEach works on at once.
const forEachParallel = 8

// forEach runs fn on every name, several at a time (as Docker's CLI does),
// then prints, in the order given, each name that succeeded and the error
// of each that failed. Any failure ends berth with exit 1 after all names
// were tried.
func forEach(c *cli.Context, env *Env, names []string, fn func(name string) error) error {
	errs := make([]error, len(names))
	sem := make(chan struct{}, forEachParallel)
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(n)
		}()
	}
	wg.Wait()
	failedAny := false
	for i, n := range names {
		if errs[i] != nil {
			printErr(c, env, errs[i])
			failedAny = true
			continue
		}
		fmt.Fprintln(env.Stdout, n)
	}
	if failedAny {
		return &ExitError{Code: 1}
	}
	return nil
}

// Start is `berth start`.
func Start(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "start",
		BashComplete: completeContainers(env, true),
		Usage:        "Start one or more stopped containers",
		UsageText:    "berth start [OPTIONS] CONTAINER [CONTAINER...]",
		Description: `With -a, berth streams the container's output and exits with its exit code.

Examples:
   berth start web
   berth start -a -i shell`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "attach stdout/stderr and wait for the exit"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "attach stdin"},
			detachKeysFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			attach := c.Bool("attach") || c.Bool("interactive")
			if attach && c.NArg() > 1 {
				return usagef(c, "attaches to one container only; got %d", c.NArg())
			}
			keys, err := opts.DetachKeys(c.String("detach-keys"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			cl, err := env.dial(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := c.Context
			if !attach {
				return forEach(c, env, c.Args().Slice(), func(n string) error { return cl.Start(ctx, n) })
			}
			ctr, err := cl.Inspect(ctx, c.Args().First())
			if err != nil {
				return err
			}
			if ctr.State.Running {
				return fmt.Errorf("container %s is already running; use `berth attach %s`", c.Args().First(), c.Args().First())
			}
			return attachRun(ctx, env, cl, ctr.ID, attachFlow{
				tty:        ctr.Config.Tty,
				stdin:      c.Bool("interactive") && ctr.Config.OpenStdin,
				start:      true,
				sigProxy:   !ctr.Config.Tty,
				detachKeys: keys,
			})
		},
	}
}

func stopFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "time", Aliases: []string{"t", "timeout"}, Usage: "seconds to wait before killing", DefaultText: "the container's stop timeout, 10"},
		&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Usage: "signal to send", DefaultText: "the container's stop signal, SIGTERM"},
	}
}

func stopOptions(c *cli.Context) container.StopOptions {
	return container.StopOptions{
		Timeout: opts.StopTimeout(c.Int("time"), c.IsSet("time")),
		Signal:  c.String("signal"),
	}
}

// Stop is `berth stop`.
func Stop(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "stop",
		BashComplete: completeContainers(env, false),
		Usage:        "Stop one or more running containers",
		UsageText:    "berth stop [OPTIONS] CONTAINER [CONTAINER...]",
		Description: `Sends the stop signal, then SIGKILL after the timeout.

Examples:
   berth stop web
   berth stop -t 2 -s SIGINT web db`,
		Flags: stopFlags(),
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			o := stopOptions(c)
			return forEach(c, env, c.Args().Slice(), func(n string) error { return cl.Stop(ctx, n, o) })
		}),
	}
}

// Restart is `berth restart`.
func Restart(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "restart",
		BashComplete: completeContainers(env, true),
		Usage:        "Restart one or more containers",
		UsageText:    "berth restart [OPTIONS] CONTAINER [CONTAINER...]",
		Description: `Stops (as 'berth stop') and starts each container.

Example:
   berth restart -t 1 web`,
		Flags: stopFlags(),
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			o := stopOptions(c)
			return forEach(c, env, c.Args().Slice(), func(n string) error { return cl.Restart(ctx, n, o) })
		}),
	}
}

// Kill is `berth kill`.
func Kill(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "kill",
		BashComplete: completeContainers(env, false),
		Usage:        "Send a signal (SIGKILL by default) to one or more running containers",
		UsageText:    "berth kill [OPTIONS] CONTAINER [CONTAINER...]",
		Description: `Examples:
   berth kill web
   berth kill -s HUP web`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Usage: "signal name or number (KILL, SIGTERM, 15)"},
		},
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			sig := c.String("signal")
			return forEach(c, env, c.Args().Slice(), func(n string) error { return cl.Kill(ctx, n, sig) })
		}),
	}
}

// Pause is `berth pause`.
func Pause(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "pause",
		BashComplete: completeContainers(env, false),
		Usage:        "Freeze all processes of one or more containers",
		UsageText:    "berth pause CONTAINER [CONTAINER...]",
		Description:  "Example:\n   berth pause web",
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			return forEach(c, env, c.Args().Slice(), func(n string) error { return cl.Pause(ctx, n) })
		}),
	}
}

// Unpause is `berth unpause`.
func Unpause(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "unpause",
		BashComplete: completeContainers(env, false),
		Usage:        "Resume the processes of one or more paused containers",
		UsageText:    "berth unpause CONTAINER [CONTAINER...]",
		Description:  "Example:\n   berth unpause web",
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			return forEach(c, env, c.Args().Slice(), func(n string) error { return cl.Unpause(ctx, n) })
		}),
	}
}

// Remove is `berth rm`.
func Remove(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "rm",
		BashComplete: completeContainers(env, true),
		Aliases:      []string{"remove"},
		Usage:        "Remove one or more containers",
		UsageText:    "berth rm [OPTIONS] CONTAINER [CONTAINER...]",
		Description: `A running container is removed only with -f (it is killed first).

With --link, the argument is a legacy link (/CONTAINER/ALIAS) that is
removed; the containers stay.

Examples:
   berth rm web
   berth rm -f $(berth ps -aq)
   berth rm --link /web/db`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill and remove a running container"},
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove the container's anonymous volumes too"},
			&cli.BoolFlag{Name: "link", Aliases: []string{"l"}, Usage: "remove the legacy link /CONTAINER/ALIAS, not a container"},
		},
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			o := container.RemoveOptions{Force: c.Bool("force"), Volumes: c.Bool("volumes"), Link: c.Bool("link")}
			return forEach(c, env, c.Args().Slice(), func(n string) error { return cl.Remove(ctx, n, o) })
		}),
	}
}

// Rename is `berth rename`.
func Rename(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "rename",
		BashComplete: completeContainers(env, true),
		Usage:        "Rename a container",
		UsageText:    "berth rename CONTAINER NEW_NAME",
		Description:  "Example:\n   berth rename web web-old",
		Action: withArgs(env, 2, 2, func(ctx context.Context, c *cli.Context, cl Client) error {
			return cl.Rename(ctx, c.Args().Get(0), c.Args().Get(1))
		}),
	}
}

// Wait is `berth wait`.
func Wait(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "wait",
		BashComplete: completeContainers(env, true),
		Usage:        "Block until one or more containers stop, then print their exit codes",
		UsageText:    "berth wait CONTAINER [CONTAINER...]",
		Description: `Examples:
   berth wait web
   code=$(berth wait job)`,
		Action: withArgs(env, 1, -1, func(ctx context.Context, c *cli.Context, cl Client) error {
			failedAny := false
			for _, n := range c.Args().Slice() {
				ch, err := cl.Wait(ctx, n, container.WaitNotRunning)
				if err == nil {
					st, ok := <-ch
					if ok {
						fmt.Fprintln(env.Stdout, st.ExitCode)
						continue
					}
					err = fmt.Errorf("lost the connection to berthd while waiting for %s", n)
				}
				printErr(c, env, err)
				failedAny = true
			}
			if failedAny {
				return &ExitError{Code: 1}
			}
			return nil
		}),
	}
}

// withArgs checks the argument count before connecting, then runs fn.
func withArgs(env *Env, min, max int, fn func(ctx context.Context, c *cli.Context, cl Client) error) cli.ActionFunc {
	run := withClient(env, fn)
	return func(c *cli.Context) error {
		if err := needArgs(c, min, max); err != nil {
			return err
		}
		return run(c)
	}
}
