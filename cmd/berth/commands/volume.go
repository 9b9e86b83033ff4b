package commands

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	dvolume "github.com/moby/moby/api/types/volume"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/internal/term"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/atomicfile"
	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/volume"
)

// withVolumes is withArgs for the volume commands.
func withVolumes(env *Env, min, max int, fn func(ctx context.Context, c *cli.Context, api api.Volumes) error) cli.ActionFunc {
	return withArgs(env, min, max, func(ctx context.Context, c *cli.Context, cl Client) error {
		return fn(ctx, c, cl.Volumes())
	})
}

// VolumeCommand is `berth volume` and its subcommands.
func VolumeCommand(env *Env) *cli.Command {
	return Group("volume", "Manage volumes",
		VolumeCreate(env), VolumeLs(env), VolumeInspect(env), VolumeRm(env), VolumePrune(env),
		VolumeExport(env), VolumeImport(env))
}

// VolumeCreate is `berth volume create`.
func VolumeCreate(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "Create a volume",
		UsageText: "berth volume create [OPTIONS] [VOLUME]",
		Description: `Creates a volume and prints its name (a random one when none is given).
Options of the local driver (-o), as Docker's:
   type=tmpfs [o=size=64m]       a tmpfs (each container gets its own; nothing on disk)
   o=bind device=/host/dir       the volume is that host directory

Examples:
   berth volume create data
   berth volume create --label app=web data
   berth volume create -o type=tmpfs -o o=size=64m scratch
   berth volume create -o o=bind -o device=/srv/data hostdata`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: volume.DriverLocal, Usage: "volume driver (only local)"},
			newSliceFlag("opt", "o", "driver option (KEY=VALUE): type, device, o"),
			&cli.StringSliceFlag{Name: "label", Usage: "set a label (KEY=VALUE)"},
			&cli.StringFlag{Name: "name", Usage: "the volume's name (instead of the argument)"},
		},
		Action: withVolumes(env, 0, 1, func(ctx context.Context, c *cli.Context, api api.Volumes) error {
			name := c.Args().First()
			if n := c.String("name"); n != "" {
				if name != "" && name != n {
					return &ExitError{Code: 1, Err: fmt.Errorf("conflicting options: either specify --name or provide positional arg, not both")}
				}
				name = n
			}
			o := volume.CreateOptions{Name: name, Driver: c.String("driver")}
			var err error
			if o.Options, err = keyValues("--opt", c.StringSlice("opt")); err != nil {
				return err
			}
			if o.Labels, err = opts.Labels(c.StringSlice("label")); err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			v, err := api.Create(ctx, o)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, v.Name)
			return nil
		}),
	}
}

const defaultVolumeFormat = `table {{.Driver}}\t{{.Name}}`

var volumeHeaders = map[string]string{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
	"Labels": "LABELS", "Links": "LINKS", "CreatedAt": "CREATED AT", "Anonymous": "ANONYMOUS",
}

// volumeRow is what a `volume ls --format` template sees: Docker's fields.
type volumeRow struct{ v *volume.Volume }

func (r volumeRow) Name() string               { return r.v.Name }
func (r volumeRow) Driver() string             { return r.v.Driver }
func (r volumeRow) Scope() string              { return "local" }
func (r volumeRow) Mountpoint() string         { return r.v.Mountpoint }
func (r volumeRow) Labels() string             { return joinLabels(r.v.Labels) }
func (r volumeRow) Label(k string) string      { return r.v.Labels[k] }
func (r volumeRow) Links() int                 { return len(r.v.UsedBy) }
func (r volumeRow) Anonymous() bool            { return r.v.Anonymous }
func (r volumeRow) Options() map[string]string { return r.v.Options }
func (r volumeRow) CreatedAt() string {
	return r.v.CreatedAt.Local().Format("2006-01-02 15:04:05 -0700 MST")
}
func (r volumeRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{
		"Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(), "Mountpoint": r.Mountpoint(),
		"Labels": r.Labels(), "Links": fmt.Sprint(r.Links()), "Size": "N/A", "Availability": "N/A", "Group": "N/A",
	})
}

// VolumeLs is `berth volume ls`.
func VolumeLs(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Aliases:   []string{"list"},
		Usage:     "List volumes",
		UsageText: "berth volume ls [OPTIONS]",
		Description: `Filters: name (substring), label (key or key=value), dangling (true: no
container uses it), driver.

Format fields: .Name .Driver .Scope .Mountpoint .Labels (.Label "key") .Links .CreatedAt .Anonymous

Examples:
   berth volume ls
   berth volume ls -q --filter dangling=true
   berth volume ls --format '{{.Name}} {{.Mountpoint}}'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print volume names"},
			newSliceFlag("filter", "f", "filter output (key=value)"),
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
		},
		Action: withVolumes(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Volumes) error {
			filters, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			format := c.String("format")
			if c.Bool("quiet") {
				format = "{{.Name}}"
			}
			f, err := formatter.Parse(format, defaultVolumeFormat)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			list, err := api.List(ctx, filters)
			if err != nil {
				return err
			}
			rows := make([]any, len(list))
			for i, v := range list {
				rows[i] = volumeRow{v}
			}
			return f.Write(env.Stdout, volumeHeaders, rows)
		}),
	}
}

// volumeView is `volume inspect`'s view: Docker's (the Docker API's own,
// pkg/docker), then berth's extra fields: whether the volume is anonymous
// and the containers that use it.
type volumeView struct {
	dvolume.Volume
	Anonymous bool     `json:"Anonymous"`
	UsedBy    []string `json:"UsedBy"`
}

func volumeViewOf(v *volume.Volume) volumeView {
	used := v.UsedBy
	if used == nil {
		used = []string{}
	}
	return volumeView{Volume: docker.Volume(v), Anonymous: v.Anonymous, UsedBy: used}
}

// VolumeInspect is `berth volume inspect`.
func VolumeInspect(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "Display detailed information on one or more volumes",
		UsageText: "berth volume inspect [OPTIONS] VOLUME [VOLUME...]",
		Description: `Prints a JSON array (Docker's fields), or each volume through --format.

Examples:
   berth volume inspect data
   berth volume inspect -f '{{.Mountpoint}}' data`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template applied to each volume"},
		},
		Action: withVolumes(env, 1, -1, func(ctx context.Context, c *cli.Context, api api.Volumes) error {
			// As Docker, templates see the JSON document ({{.Id}}), not the Go struct.
			return inspectEach(c, env, 1, true, func(name string) (any, error) {
				v, err := api.Inspect(ctx, name)
				if err != nil {
					return nil, err
				}
				return volumeViewOf(v), nil
			})
		}),
	}
}

// VolumeRm is `berth volume rm`.
func VolumeRm(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "Remove one or more volumes",
		UsageText: "berth volume rm [OPTIONS] VOLUME [VOLUME...]",
		Description: `Removes volumes and their data. A volume a container uses (running or not)
is never removed: remove the container first.

Example:
   berth volume rm data`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "no error for volumes that do not exist"},
		},
		Action: withVolumes(env, 1, -1, func(ctx context.Context, c *cli.Context, api api.Volumes) error {
			return forEach(c, env, c.Args().Slice(), func(n string) error { return api.Remove(ctx, n, c.Bool("force")) })
		}),
	}
}

// VolumePrune is `berth volume prune`.
func VolumePrune(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "Remove unused volumes",
		UsageText: "berth volume prune [OPTIONS]",
		Description: `Removes the anonymous volumes no container uses (with --all, named ones
too). Filters: label=KEY[=VALUE], label!=KEY[=VALUE].

Example:
   berth volume prune -f`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove unused named volumes too"},
			&cli.StringSliceFlag{Name: "filter", Usage: "only volumes matching (label=KEY[=VALUE], label!=…)"},
		},
		Action: withVolumes(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Volumes) error {
			filters, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if !c.Bool("force") {
				what := "anonymous local volumes"
				if c.Bool("all") {
					what = "local volumes"
				}
				fmt.Fprintf(env.Stdout, "WARNING! This will remove %s not used by at least one container.\nAre you sure you want to continue? [y/N] ", what)
				answer, _ := bufio.NewReader(env.Stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return nil
				}
			}
			deleted, size, err := api.Prune(ctx, volume.PruneOptions{All: c.Bool("all"), Filters: filters})
			if len(deleted) > 0 {
				fmt.Fprintln(env.Stdout, "Deleted Volumes:")
				for _, n := range deleted {
					fmt.Fprintln(env.Stdout, n)
				}
				fmt.Fprintln(env.Stdout)
			}
			fmt.Fprintf(env.Stdout, "Total reclaimed space: %s\n", formatter.HumanSize(int64(size)))
			return err
		}),
	}
}

// VolumeExport is `berth volume export`.
func VolumeExport(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "Write a volume's content as a tar archive",
		UsageText: "berth volume export [OPTIONS] VOLUME",
		Description: `Writes a tar of the volume's content to stdout or to a file (a backup;
restore it with 'berth volume import').

Examples:
   berth volume export data > data.tar
   berth volume export -o data.tar data`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to a file instead of stdout"},
		},
		Action: withVolumes(env, 1, 1, func(ctx context.Context, c *cli.Context, api api.Volumes) error {
			out := c.String("output")
			if out == "" {
				if term.IsTerminal(env.Stdout) {
					return &ExitError{Code: 1, Err: fmt.Errorf("refusing to write an archive to a terminal; use -o FILE or redirect stdout")}
				}
				return api.Export(ctx, c.Args().First(), env.Stdout)
			}
			tmp, err := atomicfile.Create(out, 0o600)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			defer tmp.Abort()
			w := bufio.NewWriterSize(tmp, 1<<20)
			if err := api.Export(ctx, c.Args().First(), w); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return tmp.Commit()
		}),
	}
}

// VolumeImport is `berth volume import`.
func VolumeImport(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "Restore a volume's content from a tar archive",
		UsageText: "berth volume import VOLUME FILE|-",
		Description: `Extracts a tar (from 'berth volume export' or any tar of a directory's
content) into the volume, creating the volume if it does not exist. Entries
that would land outside the volume ("..", absolute names, through symlinks)
fail the import.

Examples:
   berth volume import data data.tar
   berth volume import data - < data.tar`,
		Action: withVolumes(env, 2, 2, func(ctx context.Context, c *cli.Context, api api.Volumes) error {
			src := c.Args().Get(1)
			var r io.Reader = env.Stdin
			if src != "-" {
				f, err := os.Open(src)
				if err != nil {
					return &ExitError{Code: 1, Err: err}
				}
				defer f.Close()
				r = bufio.NewReaderSize(f, 1<<20)
			}
			return api.Import(ctx, c.Args().First(), r)
		}),
	}
}
