package commands

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/container"
)

// configFlags is one group of the flags shared by `create` and `run`, with
// the function that puts their values into the container.Config. Networking,
// volumes and resource limits add their own group to createFlagGroups.
type configFlags struct {
	flags []cli.Flag
	apply func(c *cli.Context, env *Env, cfg *container.Config) error
}

func createFlagGroups() []configFlags {
	return []configFlags{pullFlags(), processFlags(), metadataFlags(), lifecycleFlags(), runtimeFlags(), networkFlags(), volumeFlags(), resourceFlags(), storageFlags(), namespaceFlags(), healthFlags()}
}

// pullFlags: --quiet (no pull progress), --platform (what a pull picks).
func pullFlags() configFlags {
	return configFlags{
		flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "do not print the pull's progress"},
			&cli.StringFlag{Name: "platform", Usage: "platform the image must be for, and the one a pull picks (os/arch[/variant]; only one this host runs)"},
		},
		apply: func(*cli.Context, *Env, *container.Config) error { return nil },
	}
}

// namespaceFlags: --init, --pid, --ipc, --uts, --userns, --domainname,
// --annotation.
func namespaceFlags() configFlags {
	return configFlags{
		flags: []cli.Flag{
			&cli.BoolFlag{Name: "init", Usage: "run an init (tini) as PID 1 that reaps zombies and forwards signals"},
			&cli.StringFlag{Name: "pid", Usage: "PID namespace: host or container:NAME"},
			&cli.StringFlag{Name: "ipc", Usage: "IPC namespace: private (a /dev/shm of its own), none (no /dev/shm), shareable (a /dev/shm others may join), host or container:NAME (a shareable one)"},
			&cli.StringFlag{Name: "uts", Usage: "UTS namespace: host"},
			&cli.StringFlag{Name: "userns", Usage: "user namespace: host (berth's only mode: it remaps no users)"},
			&cli.StringFlag{Name: "domainname", Usage: "container NIS domain name"},
			&cli.StringSliceFlag{Name: "annotation", Usage: "add an OCI annotation to the container (KEY=VALUE)"},
		},
		apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
			cfg.Init = c.Bool("init")
			if u := c.String("userns"); u != "" && u != "host" {
				return fmt.Errorf("invalid --userns %q: berth runs every container in the host's user namespace (it remaps no users), so --userns takes only host", u)
			}
			cfg.PidMode, cfg.IpcMode, cfg.UTSMode = c.String("pid"), c.String("ipc"), c.String("uts")
			cfg.Domainname = c.String("domainname")
			for _, a := range c.StringSlice("annotation") {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return fmt.Errorf("invalid --annotation %q: want KEY=VALUE", a)
				}
				if cfg.Annotations == nil {
					cfg.Annotations = map[string]string{}
				}
				cfg.Annotations[k] = v
			}
			return nil
		},
	}
}

// helpFlag is run/create's help: --help only, since -h is --hostname there,
// as in Docker.
func helpFlag() cli.Flag { return &cli.BoolFlag{Name: "help", Usage: "show help"} }

// showHelpIf prints the command's help when --help was given.
func showHelpIf(c *cli.Context) (bool, error) {
	if !c.Bool("help") {
		return false, nil
	}
	return true, cli.ShowCommandHelp(c.Lineage()[1], c.Command.Name)
}

// checkCIDFile refuses an existing --cidfile before anything is created.
func checkCIDFile(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
	}
	return nil
}

// writeCIDFile writes id to --cidfile's file, which must not exist yet
// (Docker refuses to overwrite one: another container may own it).
func writeCIDFile(path, id string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if os.IsExist(err) {
			return fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
		}
		return fmt.Errorf("--cidfile: %w", err)
	}
	_, err = f.WriteString(id)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// storageFlags: --storage-opt (cmd/berth/opts/storage.go).
func storageFlags() configFlags {
	return configFlags{flags: opts.StorageFlags(), apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
		return opts.ApplyStorage(c, cfg)
	}}
}

// networkFlags: -p, -P, --expose, --network, --ip, --dns... (cmd/berth/opts/network.go).
func networkFlags() configFlags {
	return configFlags{flags: opts.NetworkFlags(), apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
		return opts.ApplyNetwork(c, cfg)
	}}
}

func flagsOf(groups []configFlags) []cli.Flag {
	var fs []cli.Flag
	for _, g := range groups {
		fs = append(fs, g.flags...)
	}
	return fs
}

// parseConfig turns `[OPTIONS] IMAGE [COMMAND] [ARG...]` into a Config.
// Everything after IMAGE belongs to the container's command: the flag
// parser stops at the first positional argument.
func parseConfig(c *cli.Context, env *Env, groups []configFlags) (container.Config, error) {
	if err := needArgs(c, 1, -1); err != nil {
		return container.Config{}, err
	}
	cfg := container.Config{Image: c.Args().First()}
	if c.NArg() > 1 {
		cfg.Cmd = c.Args().Slice()[1:]
	}
	for _, g := range groups {
		if err := g.apply(c, env, &cfg); err != nil {
			return container.Config{}, &ExitError{Code: ExitBerthFailed, Err: err}
		}
	}
	return cfg, nil
}

func processFlags() configFlags {
	return configFlags{
		flags: []cli.Flag{
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep STDIN open and attach it"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
			newSliceFlag("env", "e", "set an environment variable (KEY=VALUE, or KEY to copy it from here)"),
			&cli.StringSliceFlag{Name: "env-file", Usage: "read environment variables from a file (KEY=VALUE lines)"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user name or UID, optionally with group (user[:group])"},
			&cli.StringFlag{Name: "entrypoint", Usage: "override the image's ENTRYPOINT (\"\" clears it)"},
			pullFlag(),
		},
		apply: func(c *cli.Context, env *Env, cfg *container.Config) error {
			cfg.OpenStdin = c.Bool("interactive")
			cfg.Tty = c.Bool("tty")
			if sz, ok := term.GetSize(env.Stdout); ok && cfg.Tty {
				cfg.ConsoleSize = container.WindowSize{Width: sz.Width, Height: sz.Height}
			}
			for _, f := range c.StringSlice("env-file") {
				e, err := opts.EnvFile(f, env.lookupEnv)
				if err != nil {
					return fmt.Errorf("--env-file: %w", err)
				}
				cfg.Env = append(cfg.Env, e...)
			}
			e, err := opts.Env(c.StringSlice("env"), env.lookupEnv)
			if err != nil {
				return err
			}
			cfg.Env = append(cfg.Env, e...)
			cfg.WorkingDir = c.String("workdir")
			cfg.User = c.String("user")
			if c.IsSet("entrypoint") {
				cfg.EntrypointSet = true
				if ep := c.String("entrypoint"); ep != "" {
					cfg.Entrypoint = []string{ep}
				}
			}
			return nil
		},
	}
}

func metadataFlags() configFlags {
	return configFlags{
		flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "assign a name to the container"},
			newSliceFlag("label", "l", "set a label (KEY=VALUE)"),
			&cli.StringSliceFlag{Name: "label-file", Usage: "read labels from a file (KEY=VALUE lines)"},
			&cli.StringFlag{Name: "hostname", Aliases: []string{"h"}, Usage: "container host name"},
			&cli.StringFlag{Name: "cidfile", Usage: "write the container ID to this file (which must not exist)"},
		},
		apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
			cfg.Name = c.String("name")
			cfg.Hostname = c.String("hostname")
			var all []string
			for _, f := range c.StringSlice("label-file") {
				l, err := opts.LabelFile(f)
				if err != nil {
					return fmt.Errorf("--label-file: %w", err)
				}
				all = append(all, l...)
			}
			labels, err := opts.Labels(append(all, c.StringSlice("label")...))
			if err != nil {
				return err
			}
			cfg.Labels = labels
			return nil
		},
	}
}

func lifecycleFlags() configFlags {
	return configFlags{
		flags: []cli.Flag{
			&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
			&cli.StringFlag{Name: "restart", Value: "no", Usage: "restart policy: no, on-failure[:max-retries], always, unless-stopped"},
			&cli.StringFlag{Name: "stop-signal", Usage: "signal that stops the container (default SIGTERM or the image's)"},
			&cli.IntFlag{Name: "stop-timeout", Usage: "seconds to wait after the stop signal before killing", DefaultText: "10"},
		},
		apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
			cfg.AutoRemove = c.Bool("rm")
			p, err := opts.RestartPolicy(c.String("restart"))
			if err != nil {
				return err
			}
			if p.Name == "no" {
				p.Name = ""
			}
			if cfg.AutoRemove && p.Name != "" {
				return fmt.Errorf("conflicting options: --restart %s and --rm", p.Name)
			}
			cfg.RestartPolicy = p
			cfg.StopSignal = c.String("stop-signal")
			if c.IsSet("stop-timeout") {
				t := c.Int("stop-timeout")
				cfg.StopTimeout = &t
			}
			return nil
		},
	}
}

func runtimeFlags() configFlags {
	return configFlags{
		flags: []cli.Flag{
			&cli.StringFlag{Name: "log-driver", Usage: "json-file or local (berth's log file, the default) or none (no log: logs refuses)"},
			&cli.StringSliceFlag{Name: "log-opt", Usage: "log rotation option: max-size=10m, max-file=3"},
			&cli.StringFlag{Name: "runtime", Usage: "containerd runtime (default: berthd's, io.containerd.berth.v2)"},
		},
		apply: func(c *cli.Context, _ *Env, cfg *container.Config) error {
			lc, err := opts.LogConfig(c.StringSlice("log-opt"))
			if err != nil {
				return err
			}
			cfg.LogConfig = lc
			cfg.LogConfig.Type = c.String("log-driver")
			cfg.Runtime = c.String("runtime")
			return nil
		},
	}
}

// Create is `berth create`.
func Create(env *Env) *cli.Command {
	groups := createFlagGroups()
	return &cli.Command{
		Name:      "create",
		Usage:     "Create a container without starting it",
		UsageText: "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Description: `Creates a container and prints its full ID. Start it with 'berth start'.

Examples:
   berth create --name web busybox httpd -f -p 8080
   berth start -a $(berth create busybox echo hello)`,
		HideHelp: true,
		Flags:    append(flagsOf(groups), helpFlag()),
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
			cl, err := env.dial(c)
			if err != nil {
				return failed(err)
			}
			defer cl.Close()
			id, warnings, err := createPulling(c.Context, c, env, cl, cfg)
			if err != nil {
				return failed(createHint(err))
			}
			printWarnings(env, warnings)
			if err := writeCIDFile(c.String("cidfile"), id); err != nil {
				_ = cl.Remove(c.Context, id, container.RemoveOptions{Force: true})
				return failed(err)
			}
			fmt.Fprintln(env.Stdout, id)
			return nil
		},
	}
}

func printWarnings(env *Env, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(env.Stderr, "WARNING: %s\n", w)
	}
}
