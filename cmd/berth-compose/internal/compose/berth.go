package compose

import (
	"context"
	"encoding/json"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/commands"
	"github.com/berthproject/berth/pkg/client"
)

// berth runs one of the berth CLI's own commands in process (exec, cp,
// top, start -a, pull, push): their terminal handling, stream protocol and
// registry credentials are the CLI's, not written twice. It returns the
// command's exit code; stdout nil is the caller's stdout.
func (a *app) berth(ctx context.Context, stdout io.Writer, args ...string) int {
	return a.berthIn(ctx, nil, stdout, args...)
}

// berthIn is berth with stdin (nil: the caller's).
func (a *app) berthIn(ctx context.Context, stdin io.Reader, stdout io.Writer, args ...string) int {
	if stdout == nil {
		stdout = a.env.Stdout
	}
	if stdin == nil {
		stdin = a.env.Stdin
	}
	env := &commands.Env{
		Stdin: stdin, Stdout: stdout, Stderr: a.env.Stderr,
		LookupEnv: os.LookupEnv,
		Connect: func(ctx context.Context, address string) (commands.Client, error) {
			return client.New(ctx, address)
		},
		Version: a.env.Version,
	}
	app := commands.NewApp(env, berthCommands(env)...)
	return commands.Main(ctx, app, append([]string{"berth", "--host", a.host}, args...))
}

// berthCommands are the berth CLI commands berth compose runs.
func berthCommands(env *commands.Env) []*cli.Command {
	return []*cli.Command{
		commands.Exec(env), commands.Cp(env), commands.Top(env), commands.Start(env),
		commands.Pull(env, "pull"), commands.Push(env, "push"), commands.Build(env, "build"),
	}
}

// hasBuilder reports whether the berth CLI linked here can build images
// (berth build, over berthd's builder).
func (a *app) hasBuilder() bool {
	for _, c := range berthCommands(&commands.Env{}) {
		if c.Name == "build" {
			return true
		}
	}
	return false
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}
