package commands

import (
	"bufio"
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/pkg/atomicfile"
	"github.com/berthproject/berth/pkg/types/container"
)

// Commit is `berth commit`.
func Commit(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "commit",
		BashComplete: completeContainers(env, true),
		Usage:        "Create a new image from a container's changes",
		UsageText:    "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Description: `Makes an image of the container: its image with one more layer holding the
container's changes to its file system (not its volumes), and its
configuration (command, environment, labels, ports...). --change applies
Dockerfile instructions to that configuration: CMD, ENTRYPOINT, ENV, EXPOSE,
HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. A running
container is paused meanwhile unless --pause=false. Prints the image's ID.

Examples:
   berth commit web web:snapshot
   berth commit -c 'CMD ["httpd", "-f"]' -c 'ENV MODE=prod' -m "tuned" -a "Ann <ann@example.com>" web web:v2`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: `author (e.g. "Ann <ann@example.com>")`},
			newSliceFlag("change", "c", "apply a Dockerfile instruction to the image's configuration (repeatable)"),
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message"},
			&cli.BoolFlag{Name: "pause", Aliases: []string{"p"}, Value: true, Usage: "pause the container during the commit"},
		},
		Action: withArgs(env, 1, 2, func(ctx context.Context, c *cli.Context, cl Client) error {
			id, err := cl.Commit(ctx, c.Args().Get(0), container.CommitOptions{
				Ref:     c.Args().Get(1),
				Comment: c.String("message"),
				Author:  c.String("author"),
				Changes: c.StringSlice("change"),
				NoPause: !c.Bool("pause"),
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, id)
			return nil
		}),
	}
}

// Diff is `berth diff`.
func Diff(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "diff",
		BashComplete: completeContainers(env, true),
		Usage:        "Inspect changes to files or directories on a container's filesystem",
		UsageText:    "berth diff CONTAINER",
		Description: `Lists the paths of the container's file system that differ from its image:
A added, C changed, D deleted. Volumes and binds are not part of it.

Example:
   berth diff web`,
		Action: withArgs(env, 1, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			list, err := cl.Changes(ctx, c.Args().First())
			if err != nil {
				return err
			}
			w := bufio.NewWriter(env.Stdout)
			for _, ch := range list {
				fmt.Fprintf(w, "%s %s\n", ch.Kind, ch.Path)
			}
			return w.Flush()
		}),
	}
}

// Export is `berth export`.
func Export(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "export",
		BashComplete: completeContainers(env, true),
		Usage:        "Export a container's filesystem as a tar archive",
		UsageText:    "berth export [OPTIONS] CONTAINER",
		Description: `Writes a tar of the container's root file system (its image with its
changes; not its volumes or binds) to stdout or to a file. 'berth import'
makes an image of it.

Examples:
   berth export web > web.tar
   berth export -o web.tar web`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to a file instead of stdout"},
		},
		Action: withArgs(env, 1, 1, func(ctx context.Context, c *cli.Context, cl Client) error {
			out := c.String("output")
			if out == "" {
				if term.IsTerminal(env.Stdout) {
					return &ExitError{Code: 1, Err: fmt.Errorf("refusing to write an archive to a terminal; use -o FILE or redirect stdout")}
				}
				w := bufio.NewWriterSize(env.Stdout, 1<<20)
				if err := cl.Export(ctx, c.Args().First(), w); err != nil {
					return err
				}
				return w.Flush()
			}
			tmp, err := atomicfile.Create(out, 0o600)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			defer tmp.Abort()
			w := bufio.NewWriterSize(tmp, 1<<20)
			if err := cl.Export(ctx, c.Args().First(), w); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return tmp.Commit()
		}),
	}
}
