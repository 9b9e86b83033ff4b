// Package compose is berth-compose: the Compose Specification (parsed by
// compose-spec/compose-go, as docker compose does) turned into calls on
// berthd's gRPC API. Every service field compose-go parses is either
// translated into the container berthd creates or refused by name
// (check.go); containers, networks and volumes carry docker compose's names
// and labels, so `docker compose` through berth's Docker API sees the same
// projects.
package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/client"
)

// Env is the outside world of the command: its streams and version.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Version        string
}

// app holds the global flags and the connection to berthd.
type app struct {
	env      Env
	host     string
	files    []string
	envFiles []string
	profiles []string
	name     string
	dir      string
	progress string
	cl       *client.Client
}

// exitError carries a process exit code (a container's, or docker
// compose's for a failed wait).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// Main runs berth-compose with args (os.Args) and returns the exit code.
func Main(ctx context.Context, env Env, args []string) int {
	a := &app{env: env}
	defer func() {
		if a.cl != nil {
			_ = a.cl.Close()
		}
	}()
	cliApp := a.cliApp()
	err := cliApp.RunContext(ctx, args)
	if name, ok := cliApp.Metadata["notFound"].(string); ok {
		fmt.Fprintf(env.Stderr, "unknown command: \"compose %s\"\nSee 'berth compose --help'.\n", name)
		return 1
	}
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(env.Stderr, ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(env.Stderr, err)
	return 1
}

func (a *app) cliApp() *cli.App {
	return &cli.App{
		Name:                   "berth compose",
		Usage:                  "define and run multi-container applications with berthd",
		UsageText:              "berth compose [OPTIONS] COMMAND",
		Version:                a.env.Version,
		HideVersion:            true,
		Reader:                 a.env.Stdin,
		Writer:                 a.env.Stdout,
		ErrWriter:              a.env.Stderr,
		UseShortOptionHandling: true,
		// Commas are part of values (labels, environment): never split.
		DisableSliceFlagSeparator: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "host", Aliases: []string{"H"}, EnvVars: []string{client.HostEnv},
				Value: client.DefaultAddress, Usage: "berthd's address (unix:///path or a socket path)", Destination: &a.host},
			&cli.StringSliceFlag{Name: "file", Aliases: []string{"f"}, Usage: "compose configuration files"},
			&cli.StringFlag{Name: "project-name", Aliases: []string{"p"}, Usage: "project name", Destination: &a.name},
			&cli.StringFlag{Name: "project-directory", Usage: "alternate working directory (default: the first file's directory)", Destination: &a.dir},
			&cli.StringSliceFlag{Name: "env-file", Usage: "alternate environment files"},
			&cli.StringSliceFlag{Name: "profile", Usage: "profiles to enable"},
			&cli.StringFlag{Name: "progress", Value: "auto", Usage: "progress output: auto, tty, plain, quiet", Destination: &a.progress},
			&cli.StringFlag{Name: "ansi", Value: "auto", Usage: "control characters: never, always, auto"},
		},
		Before: func(c *cli.Context) error {
			a.files = c.StringSlice("file")
			a.envFiles = c.StringSlice("env-file")
			a.profiles = c.StringSlice("profile")
			switch c.String("ansi") {
			case "never":
				a.progress = "plain"
			case "always":
				a.progress = "tty"
			}
			return nil
		},
		Commands: []*cli.Command{
			a.cmdConfig(),
			a.cmdUp(), a.cmdDown(), a.cmdCreate(),
			a.cmdPs(), a.cmdLs(), a.cmdLogs(),
			a.cmdStart(), a.cmdStop(), a.cmdRestart(), a.cmdKill(), a.cmdRm(),
			a.cmdPause(), a.cmdUnpause(),
			a.cmdExec(), a.cmdRun(), a.cmdTop(), a.cmdImages(), a.cmdPort(),
			a.cmdEvents(), a.cmdCp(), a.cmdWait(), a.cmdPull(), a.cmdPush(), a.cmdBuild(),
			a.cmdVersion(), a.cmdStack(),
		},
		CommandNotFound: func(c *cli.Context, name string) { c.App.Metadata["notFound"] = name },
		Metadata:        map[string]any{},
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &exitError{code: 1, err: err}
		},
	}
}

// client connects to berthd once.
func (a *app) client(ctx context.Context) (*client.Client, error) {
	if a.cl != nil {
		return a.cl, nil
	}
	host := a.host
	if strings.HasPrefix(host, "/") {
		host = "unix://" + host
	}
	cl, err := client.New(ctx, host)
	if err != nil {
		if errdefs.IsUnavailable(err) {
			return nil, fmt.Errorf("%v\nStart berthd, or point --host/%s at its socket", err, client.HostEnv)
		}
		return nil, err
	}
	a.cl = cl
	return cl, nil
}

func (a *app) cmdVersion() *cli.Command {
	return &cli.Command{
		Name: "version", Usage: "show the berth compose version",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "short"}},
		Action: func(c *cli.Context) error {
			if c.Bool("short") {
				fmt.Fprintln(a.env.Stdout, a.env.Version)
				return nil
			}
			fmt.Fprintf(a.env.Stdout, "berth compose version %s\n", a.env.Version)
			return nil
		},
	}
}

// usage is an argument error, as docker compose reports it (exit 1).
func usage(format string, args ...any) error {
	return &exitError{code: 1, err: fmt.Errorf(format, args...)}
}

// stdoutIsTTY reports whether progress may redraw lines.
func (a *app) ttyOut() bool {
	switch a.progress {
	case "tty":
		return true
	case "plain", "quiet":
		return false
	}
	f, ok := a.env.Stdout.(*os.File)
	if !ok {
		return false
	}
	return isTerminal(f)
}
