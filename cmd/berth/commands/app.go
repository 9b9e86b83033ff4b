// Package commands holds berth's CLI commands. Each command is a constructor
// that returns a *cli.Command: its action parses the flags into one typed
// request, makes the client call(s) the flow needs, and prints. The command
// tree itself is assembled in cmd/berth/main.go.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// DefaultHost is berthd's socket when neither --host nor BERTH_HOST is set.
const DefaultHost = "unix:///run/berth/berth.sock"

// Env is what commands get from the outside world: the caller's streams,
// environment, clock and a way to reach berthd. Tests build their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads the caller's environment (os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// Now is the clock used for relative times (time.Now).
	Now func() time.Time
	// Connect dials berthd at address (e.g. unix:///run/berth/berth.sock).
	Connect func(ctx context.Context, address string) (Client, error)
	// Version is the CLI's own version string.
	Version string
	// Exec replaces the process with another program (syscall.Exec):
	// `berth compose` runs berth-compose this way. Nil in tests.
	Exec func(path string, argv, env []string) error
}

func (e *Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

func (e *Env) lookupEnv(k string) (string, bool) {
	if e.LookupEnv == nil {
		return os.LookupEnv(k)
	}
	return e.LookupEnv(k)
}

// NewApp returns the berth application with its global flags and the given
// commands. Usage errors of every command exit 125, like Docker's.
func NewApp(env *Env, cmds ...*cli.Command) *cli.App {
	app := &cli.App{
		Name:                      "berth",
		Usage:                     "run and manage containers with berthd",
		UsageText:                 "berth [OPTIONS] COMMAND [ARG...]",
		Description:               "berth talks to the berthd daemon over its gRPC socket. Run `berth COMMAND --help` for a command's options.\n\nExamples:\n   berth run --rm busybox echo hello\n   berth run -d --name web busybox httpd -f\n   berth ps -a",
		Version:                   env.Version,
		HideVersion:               true,
		Reader:                    env.Stdin,
		Writer:                    env.Stdout,
		ErrWriter:                 env.Stderr,
		EnableBashCompletion:      true,
		UseShortOptionHandling:    true,
		DisableSliceFlagSeparator: true,
		Suggest:                   true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "host", Aliases: []string{"H"}, EnvVars: []string{"BERTH_HOST"},
				Value: DefaultHost, Usage: "berthd's address (unix:///path or a socket path)",
			},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"D"}, Usage: "print error details"},
		},
		Commands: cmds,
		// berth decides exit codes itself (see Main); urfave must not os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
		CommandNotFound: func(c *cli.Context, name string) {
			// Recorded and reported by Main.
			c.App.Metadata["notFound"] = name
		},
		Metadata: map[string]any{},
		Before: func(c *cli.Context) error {
			c.App.Metadata["debug"] = c.Bool("debug")
			return nil
		},
	}
	var walk func([]*cli.Command)
	walk = func(cs []*cli.Command) {
		for _, c := range cs {
			if c.OnUsageError == nil {
				c.OnUsageError = usageError
			}
			walk(c.Subcommands)
		}
	}
	walk(cmds)
	return app
}

// Main runs app with args (os.Args) and returns the process exit code,
// printing errors as "berth: <message>" on stderr.
func Main(ctx context.Context, app *cli.App, args []string) int {
	if completeFlags(app, args) {
		return 0
	}
	err := app.RunContext(ctx, args)
	if name, ok := app.Metadata["notFound"].(string); ok {
		fmt.Fprintf(app.ErrWriter, "berth: '%s' is not a berth command.\nSee 'berth --help'.\n", name)
		return 1
	}
	if err == nil {
		return 0
	}
	debug, _ := app.Metadata["debug"].(bool)
	return report(app.ErrWriter, err, debug)
}

func usageError(c *cli.Context, err error, _ bool) error {
	name := commandPath(c)
	return &ExitError{Code: 125, Err: fmt.Errorf("%w.\nSee '%s --help'", err, name)}
}

// usagef is the error for wrong arguments: exit 125 with a pointer to --help.
func usagef(c *cli.Context, format string, a ...any) error {
	name := commandPath(c)
	return &ExitError{Code: 125, Err: fmt.Errorf("\"%s\" %s.\nSee '%s --help'", name, fmt.Sprintf(format, a...), name)}
}

// commandPath is "berth container stop" for the running command.
func commandPath(c *cli.Context) string {
	var parts []string
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != "" && x.Command.Name != "berth" {
			parts = append([]string{x.Command.Name}, parts...)
		}
	}
	return strings.Join(append([]string{"berth"}, parts...), " ")
}

// needArgs checks the number of positional arguments (max < 0: no maximum).
func needArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	switch {
	case min == max && n != min:
		return usagef(c, "requires exactly %d %s", min, plural(min, "argument"))
	case n < min:
		return usagef(c, "requires at least %d %s", min, plural(min, "argument"))
	case max >= 0 && n > max:
		return usagef(c, "accepts at most %d %s", max, plural(max, "argument"))
	}
	return nil
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// withClient connects to berthd, runs fn and closes the connection.
func withClient(env *Env, fn func(ctx context.Context, c *cli.Context, cl Client) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		cl, err := env.dial(c)
		if err != nil {
			return err
		}
		defer cl.Close()
		return fn(c.Context, c, cl)
	}
}

// dial connects to berthd at --host; the caller closes the client.
func (e *Env) dial(c *cli.Context) (Client, error) {
	return connect(c.Context, e, c.String("host"))
}

func connect(ctx context.Context, env *Env, host string) (Client, error) {
	if env.Connect == nil {
		return nil, errors.New("no berthd client configured")
	}
	address := host
	if strings.HasPrefix(host, "/") {
		address = "unix://" + host
	}
	if u, err := url.Parse(address); err == nil && u.Scheme == "unix" {
		path := u.Path
		if path == "" {
			path = u.Opaque
		}
		if _, err := os.Stat(path); err != nil {
			return nil, &connectError{host: address, err: err}
		}
	}
	cl, err := env.Connect(ctx, address)
	if err != nil {
		return nil, &connectError{host: address, err: err}
	}
	return cl, nil
}

// connectError means berthd could not be reached at all.
type connectError struct {
	host string
	err  error
}

func (e *connectError) Error() string {
	return fmt.Sprintf("cannot connect to berthd at %s: %v\nIs berthd running? Start it with `berthd` (or `make up` in a berth checkout), or point --host/BERTH_HOST at its socket.", e.host, e.err)
}
func (e *connectError) Unwrap() error { return e.err }

// sliceFlag is a repeatable string flag with a short alias (-e/--env).
// urfave refuses "-e A --env B" on an aliased flag ("two forms of the same
// flag"); Docker accepts it. Both names share one value, so reporting only
// the long name to urfave's check keeps the values and lifts the refusal.
type sliceFlag struct{ *cli.StringSliceFlag }

func (f sliceFlag) Names() []string { return []string{f.Name} }

func newSliceFlag(name, alias, usage string) cli.Flag {
	return sliceFlag{&cli.StringSliceFlag{Name: name, Aliases: []string{alias}, Usage: usage}}
}

// Group is a noun command ("berth container") holding subcommands.
func Group(name, usage string, subs ...*cli.Command) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		UsageText:   "berth " + name + " COMMAND [ARG...]",
		Subcommands: subs,
	}
}

// completeFlags answers shell completion of a flag ("berth run --de<TAB>").
// urfave's own path fails on an unknown or partial flag when short-option
// handling is on (it parses the partial flag and errors), so berth lists
// the matching flags of the command itself.
func completeFlags(app *cli.App, args []string) bool {
	n := len(args)
	if n < 3 || args[n-1] != "--generate-bash-completion" || !strings.HasPrefix(args[n-2], "-") {
		return false
	}
	cur := args[n-2]
	flags, cmds := app.Flags, app.Commands
	skip := false
	for _, a := range args[1 : n-2] {
		if skip {
			skip = false
			continue
		}
		if strings.HasPrefix(a, "-") {
			skip = takesValue(flags, a)
			continue
		}
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				next = c
			}
		}
		if next == nil {
			break
		}
		flags, cmds = next.Flags, next.Subcommands
	}
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		for _, name := range f.Names() {
			opt := "--" + name
			if len(name) == 1 {
				opt = "-" + name
			}
			if strings.HasPrefix(opt, cur) {
				fmt.Fprintln(app.Writer, opt)
			}
		}
	}
	if strings.HasPrefix("--help", cur) {
		fmt.Fprintln(app.Writer, "--help")
	}
	return true
}

// takesValue reports whether arg ("-H", "--host") is a flag of flags that
// reads the next argument as its value.
func takesValue(flags []cli.Flag, arg string) bool {
	if strings.Contains(arg, "=") {
		return false
	}
	name := strings.TrimLeft(arg, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
		if sf, ok := f.(sliceFlag); ok {
			for _, n := range sf.StringSliceFlag.Names() {
				if n == name {
					return true
				}
			}
		}
	}
	return false
}
