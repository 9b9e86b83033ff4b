package compose

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/graph"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
)

func inReverseOrder(ctx context.Context, p *types.Project, fn func(context.Context, string) error) error {
	return graph.InDependencyOrder(ctx, p, visitor(fn), graph.InReverseOrder)
}

// visitor adapts fn to compose-go's graph walk.
func visitor(fn func(context.Context, string) error) graph.VisitorFn[types.ServiceConfig] {
	return func(ctx context.Context, name string, _ types.ServiceConfig) error { return fn(ctx, name) }
}

// lifecycle is the shape of start, stop, restart, kill, pause, unpause and
// rm: one verb on the selected services' containers, services in
// dependency order (reverse order for the verbs that stop).
type lifecycle struct {
	name, usage string
	doing, done string
	reverse     bool
	flags       []cli.Flag
	skip        func(container.Summary) bool
	act         func(ctx context.Context, c *cli.Context, id string) error
	before      func(c *cli.Context, list []container.Summary) (bool, error)
}

func (a *app) lifecycleCmd(l lifecycle) *cli.Command {
	return &cli.Command{
		Name: l.name, Usage: l.usage, ArgsUsage: "[SERVICE...]", Flags: l.flags,
		Action: func(c *cli.Context) error {
			ctx := c.Context
			p, err := a.loadOrName(ctx)
			if err != nil {
				return err
			}
			svcs, err := serviceNames(p, c.Args().Slice())
			if err != nil {
				return err
			}
			list, err := a.containers(ctx, p.Name, l.name == "rm" || l.name == "kill" || l.name == "stop", c.Args().Slice()...)
			if err != nil {
				return err
			}
			var todo []container.Summary
			for _, ct := range list {
				if l.skip == nil || !l.skip(ct) {
					todo = append(todo, ct)
				}
			}
			if l.before != nil {
				ok, err := l.before(c, todo)
				if err != nil || !ok {
					return err
				}
			}
			groups := byService(todo)
			// The walk below visits independent services at once.
			var groupsMu sync.Mutex
			pr := a.newProgress(l.done)
			run := func(ctx context.Context, svc string) error {
				var wg sync.WaitGroup
				var mu sync.Mutex
				var first error
				groupsMu.Lock()
				cts := groups[svc]
				groupsMu.Unlock()
				for _, ct := range cts {
					wg.Add(1)
					go func() {
						defer wg.Done()
						pr.set("Container", name(ct), l.doing)
						if err := l.act(ctx, c, ct.ID); err != nil && !errdefs.IsNotFound(err) {
							pr.set("Container", name(ct), "Error")
							mu.Lock()
							if first == nil {
								first = err
							}
							mu.Unlock()
							return
						}
						pr.set("Container", name(ct), l.done)
					}()
				}
				wg.Wait()
				groupsMu.Lock()
				delete(groups, svc)
				groupsMu.Unlock()
				return first
			}
			want := map[string]bool{}
			for _, s := range svcs {
				want[s] = true
			}
			if len(p.Services) > 0 {
				walk := graph.InDependencyOrder
				var opts []func(*graph.Options)
				if l.reverse {
					opts = append(opts, graph.InReverseOrder)
				}
				err := walk(ctx, p, visitor(func(ctx context.Context, svc string) error {
					if !want[svc] {
						return nil
					}
					return run(ctx, svc)
				}), opts...)
				if err != nil {
					return err
				}
			}
			// Containers of services the file does not know (or a project
			// known by name only).
			for svc := range groups {
				if len(c.Args().Slice()) > 0 && !want[svc] {
					continue
				}
				if err := run(ctx, svc); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func timeoutFlag() cli.Flag {
	return &cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Usage: "shutdown timeout in seconds"}
}

func stopOpts(c *cli.Context) container.StopOptions {
	if !c.IsSet("timeout") {
		return container.StopOptions{}
	}
	t := time.Duration(c.Int("timeout")) * time.Second
	return container.StopOptions{Timeout: &t}
}

func (a *app) cmdStart() *cli.Command {
	return a.lifecycleCmd(lifecycle{name: "start", usage: "start services", doing: "Starting", done: "Started",
		skip: func(c container.Summary) bool { return c.State == container.StatusRunning },
		act: func(ctx context.Context, c *cli.Context, id string) error {
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			return cl.Start(ctx, id)
		}})
}

func (a *app) cmdStop() *cli.Command {
	return a.lifecycleCmd(lifecycle{name: "stop", usage: "stop services", doing: "Stopping", done: "Stopped", reverse: true,
		flags: []cli.Flag{timeoutFlag()},
		skip: func(c container.Summary) bool {
			return c.State != container.StatusRunning && c.State != container.StatusPaused && c.State != container.StatusRestarting
		},
		act: func(ctx context.Context, c *cli.Context, id string) error {
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			return cl.Stop(ctx, id, stopOpts(c))
		}})
}

func (a *app) cmdRestart() *cli.Command {
	return a.lifecycleCmd(lifecycle{name: "restart", usage: "restart service containers", doing: "Restarting", done: "Started",
		flags: []cli.Flag{timeoutFlag(), &cli.BoolFlag{Name: "no-deps", Usage: "don't restart dependent services"}},
		act: func(ctx context.Context, c *cli.Context, id string) error {
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			return cl.Restart(ctx, id, stopOpts(c))
		}})
}

func (a *app) cmdKill() *cli.Command {
	return a.lifecycleCmd(lifecycle{name: "kill", usage: "force stop service containers", doing: "Killing", done: "Killed", reverse: true,
		flags: []cli.Flag{
			&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "SIGKILL", Usage: "signal to send"},
			&cli.BoolFlag{Name: "remove-orphans", Usage: "not needed: kill reaches every container of the project"},
		},
		skip: func(c container.Summary) bool {
			return c.State != container.StatusRunning && c.State != container.StatusPaused
		},
		act: func(ctx context.Context, c *cli.Context, id string) error {
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			return cl.Kill(ctx, id, c.String("signal"))
		}})
}

func (a *app) cmdPause() *cli.Command {
	return a.lifecycleCmd(lifecycle{name: "pause", usage: "pause services", doing: "Pausing", done: "Paused",
		skip: func(c container.Summary) bool { return c.State != container.StatusRunning },
		act: func(ctx context.Context, c *cli.Context, id string) error {
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			return cl.Pause(ctx, id)
		}})
}

func (a *app) cmdUnpause() *cli.Command {
	return a.lifecycleCmd(lifecycle{name: "unpause", usage: "unpause services", doing: "Unpausing", done: "Unpaused",
		skip: func(c container.Summary) bool { return c.State != container.StatusPaused },
		act: func(ctx context.Context, c *cli.Context, id string) error {
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			return cl.Unpause(ctx, id)
		}})
}

func (a *app) cmdRm() *cli.Command {
	return a.lifecycleCmd(lifecycle{name: "rm", usage: "removes stopped service containers", doing: "Removing", done: "Removed", reverse: true,
		flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "don't ask to confirm removal"},
			&cli.BoolFlag{Name: "stop", Aliases: []string{"s"}, Usage: "stop the containers, if required, before removing"},
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove any anonymous volumes attached to containers"},
		},
		skip: nil,
		before: func(c *cli.Context, list []container.Summary) (bool, error) {
			if len(list) == 0 {
				fmt.Fprintln(a.env.Stderr, "No stopped containers")
				return false, nil
			}
			for _, ct := range list {
				if ct.State == container.StatusRunning && !c.Bool("stop") {
					return false, fmt.Errorf("container %s is running: stop it first, or use rm --stop", name(ct))
				}
			}
			if !c.Bool("force") {
				fmt.Fprintln(a.env.Stderr, "Going to remove", names(list))
				fmt.Fprint(a.env.Stderr, "? Are you sure? (y/N) ")
				var answer string
				_, _ = fmt.Fscanln(a.env.Stdin, &answer)
				if answer != "y" && answer != "Y" {
					return false, nil
				}
			}
			return true, nil
		},
		act: func(ctx context.Context, c *cli.Context, id string) error {
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			if c.Bool("stop") {
				if err := cl.Stop(ctx, id, container.StopOptions{}); err != nil {
					return err
				}
			}
			return cl.Remove(ctx, id, container.RemoveOptions{Volumes: c.Bool("volumes")})
		}})
}

func names(list []container.Summary) string {
	out := ""
	for i, c := range list {
		if i > 0 {
			out += ", "
		}
		out += name(c)
	}
	return out
}
