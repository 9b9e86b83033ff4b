// Command berth is the berth CLI: it talks to berthd over its gRPC socket.
// The whole command tree is assembled here; each command lives in
// cmd/berth/commands.
package main

import (
	"context"
	"os"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/commands"
	"github.com/berthproject/berth/pkg/client"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	env := &commands.Env{
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		LookupEnv: os.LookupEnv,
		Connect: func(ctx context.Context, address string) (commands.Client, error) {
			return client.New(ctx, address)
		},
		Version: version,
		Exec:    syscall.Exec,
	}
	os.Exit(commands.Main(context.Background(), newApp(env), os.Args))
}

// newApp builds berth's command tree. Container commands exist at the top
// level (berth run) and under their noun (berth container run), as in Docker.
func newApp(env *commands.Env) *cli.App {
	cmds := containerCommands(env)
	cmds = append(cmds,
		commands.Group("container", "Manage containers", append(containerCommands(env), commands.ContainerPrune(env))...),
		// Images.
		commands.Images(env, "images"),
		commands.ImageCommand(env),
		commands.ImportImage(env, "import"),
		commands.Load(env, "load"),
		commands.Save(env, "save"),
		commands.Tag(env, "tag"),
		commands.Rmi(env, "rmi"),
		commands.Pull(env, "pull"),
		commands.Push(env, "push"),
		commands.Login(env),
		commands.Logout(env),
		commands.History(env, "history"),
		commands.Build(env, "build"),
		commands.BuilderCommand(env),
		// Networks.
		commands.NetworkCommand(env),
		// Volumes.
		commands.VolumeCommand(env),
		// Cluster.
		commands.ClusterCommand(env),
		commands.NodeCommand(env),
		commands.ServiceCommand(env),
		// System.
		commands.Version(env),
		commands.Info(env),
		commands.Events(env),
		commands.UI(env),
		commands.SystemCommand(env),
		commands.Compose(env),
		commands.Stack(env),
		commands.Completion(env),
	)
	return commands.NewApp(env, cmds...)
}

func containerCommands(env *commands.Env) []*cli.Command {
	return []*cli.Command{
		commands.Run(env),
		commands.Create(env),
		commands.Start(env),
		commands.Stop(env),
		commands.Restart(env),
		commands.Kill(env),
		commands.Pause(env),
		commands.Unpause(env),
		commands.Remove(env),
		commands.Ps(env),
		commands.Logs(env),
		commands.Exec(env),
		commands.Attach(env),
		commands.Wait(env),
		commands.Top(env),
		commands.Update(env),
		commands.Stats(env),
		commands.Rename(env),
		commands.Inspect(env),
		commands.Port(env),
		commands.Cp(env),
		commands.Commit(env),
		commands.Diff(env),
		commands.Export(env),
	}
}
