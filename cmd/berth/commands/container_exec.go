package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/container"
)

// Exec is `berth exec`.
func Exec(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "exec",
		BashComplete: completeContainers(env, false),
		Usage:        "Run a command in a running container",
		UsageText:    "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Description: `berth exits with the command's exit code (126: cannot execute, 127: not
found). Options after CONTAINER belong to the command.

Examples:
   berth exec web ls /
   berth exec -it web sh
   berth exec -e DEBUG=1 -w /tmp -u nobody web env`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run the command in the background"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "attach stdin"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
			newSliceFlag("env", "e", "set an environment variable (KEY=VALUE)"),
			&cli.StringSliceFlag{Name: "env-file", Usage: "read environment variables from a file"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory for the command"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user name or UID (user[:group])"},
			detachKeysFlag(),
		},
		Action: func(c *cli.Context) error {
			cfg, err := execConfig(c, env)
			if err != nil {
				return err
			}
			keys, err := opts.DetachKeys(c.String("detach-keys"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			cl, err := env.dial(c)
			if err != nil {
				return failed(err)
			}
			defer cl.Close()
			return runExec(c.Context, env, cl, c.Args().First(), cfg, keys)
		},
	}
}

func execConfig(c *cli.Context, env *Env) (container.ExecConfig, error) {
	if err := needArgs(c, 2, -1); err != nil {
		return container.ExecConfig{}, err
	}
	cfg := container.ExecConfig{
		Cmd:        c.Args().Slice()[1:],
		WorkingDir: c.String("workdir"),
		User:       c.String("user"),
		Tty:        c.Bool("tty"),
		Detach:     c.Bool("detach"),
	}
	if sz, ok := term.GetSize(env.Stdout); ok && cfg.Tty {
		cfg.ConsoleSize = container.WindowSize{Width: sz.Width, Height: sz.Height}
	}
	for _, f := range c.StringSlice("env-file") {
		e, err := opts.EnvFile(f, env.lookupEnv)
		if err != nil {
			return cfg, &ExitError{Code: ExitBerthFailed, Err: fmt.Errorf("--env-file: %w", err)}
		}
		cfg.Env = append(cfg.Env, e...)
	}
	e, err := opts.Env(c.StringSlice("env"), env.lookupEnv)
	if err != nil {
		return cfg, &ExitError{Code: ExitBerthFailed, Err: err}
	}
	cfg.Env = append(cfg.Env, e...)
	if !cfg.Detach {
		cfg.AttachStdin = c.Bool("interactive")
		cfg.AttachStdout = true
		cfg.AttachStderr = !cfg.Tty
	}
	return cfg, nil
}

func runExec(ctx context.Context, env *Env, cl Client, ctr string, cfg container.ExecConfig, detachKeys []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	execID, err := cl.ExecCreate(ctx, ctr, cfg)
	if err != nil {
		return err
	}
	var streams container.Streams
	if !cfg.Detach {
		streams.Stdout = env.Stdout
		streams.Stderr = env.Stderr
		if cfg.AttachStdin {
			streams.Stdin = env.Stdin
		}
	}
	detached := make(chan struct{})
	// Detach keys only with -t, as Docker: piped input passes byte for byte.
	if streams.Stdin != nil && cfg.Tty && len(detachKeys) > 0 {
		streams.Stdin = &detachReader{r: env.Stdin, keys: detachKeys, done: ctx.Done(),
			detach: func() { close(detached); cancel() }}
	}
	if cfg.Tty && !cfg.Detach {
		if cfg.AttachStdin && term.IsTerminal(env.Stdin) {
			restore, err := term.MakeRaw(env.Stdin)
			if err != nil {
				return fmt.Errorf("cannot put the terminal in raw mode: %w", err)
			}
			defer restore()
			defer term.RestoreOnSignal(restore)()
		}
		streams.Resize = resizes(ctx, ttyOf(env))
	}
	code, err := cl.ExecStart(ctx, execID, streams)
	select {
	case <-detached:
		return nil
	default:
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
