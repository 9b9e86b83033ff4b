package commands

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/container"
)

const defaultPsFormat = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}`

// containerRow is what a `ps --format` template sees: Docker's field names.
type containerRow struct {
	s     container.Summary
	trunc bool
	now   time.Time
	// size is Docker's SIZE column with --size: the writable layer and,
	// in parentheses, with the image ("0B (virtual 4.2MB)").
	size string
}

var containerHeaders = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "ImageID": "IMAGE ID", "Command": "COMMAND",
	"CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
	"Status": "STATUS", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
	"Networks": "NETWORKS", "Size": "SIZE", "ExitCode": "EXIT CODE",
}

func (r containerRow) ID() string {
	if r.trunc {
		return formatter.TruncateID(r.s.ID)
	}
	return r.s.ID
}

func (r containerRow) Image() string { return r.s.Image }

func (r containerRow) ImageID() string {
	if r.trunc {
		return formatter.TruncateID(r.s.ImageID)
	}
	return r.s.ImageID
}

// Command is quoted, and cut to 20 characters unless --no-trunc, as Docker.
func (r containerRow) Command() string {
	cmd := r.s.Command
	if r.trunc {
		cmd = formatter.Ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

func (r containerRow) CreatedAt() string {
	return r.s.Created.Local().Format("2006-01-02 15:04:05 -0700 MST")
}
func (r containerRow) RunningFor() string {
	return formatter.Ago(r.s.Created, r.now)
}
func (r containerRow) Ports() string    { return opts.FormatPorts(r.s.Ports) }
func (r containerRow) Mounts() string   { return "" }
func (r containerRow) Networks() string { return strings.Join(r.s.Networks, ",") }
func (r containerRow) Size() string     { return r.size }
func (r containerRow) State() string    { return r.s.State }
func (r containerRow) ExitCode() int    { return r.s.ExitCode }

func (r containerRow) Status() string {
	if r.s.Status != "" {
		return r.s.Status
	}
	return formatter.ContainerStatus(r.s.State, r.s.ExitCode, r.s.StartedAt, r.s.FinishedAt, r.now)
}

// Names are the container's names; truncated (without --no-trunc), only
// its own, not those it has as the target of legacy links
// (PARENT/ALIAS), as the docker CLI shows them.
func (r containerRow) Names() string {
	names := make([]string, len(r.s.Names))
	for i, n := range r.s.Names {
		names[i] = strings.TrimPrefix(n, "/")
	}
	if r.trunc {
		for _, n := range names {
			if !strings.Contains(n, "/") {
				return n
			}
		}
	}
	return strings.Join(names, ",")
}

// Labels is "k=v,k2=v2" sorted by key.
func (r containerRow) Labels() string { return joinLabels(r.s.Labels) }

// Label returns one label's value: {{.Label "com.example.x"}}.
func (r containerRow) Label(name string) string { return r.s.Labels[name] }

// MarshalJSON makes {{json .}} print the row as Docker does: strings only.
func (r containerRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{
		"ID": r.ID(), "Image": r.Image(), "Command": r.Command(), "CreatedAt": r.CreatedAt(),
		"RunningFor": r.RunningFor(), "Ports": r.Ports(), "State": r.State(), "Status": r.Status(),
		"Names": r.Names(), "Labels": r.Labels(), "Mounts": r.Mounts(), "Networks": r.Networks(), "Size": r.Size(),
	})
}

func joinLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// Ps is `berth ps`.
func Ps(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "ps",
		Aliases:   []string{"ls", "list"},
		Usage:     "List containers",
		UsageText: "berth ps [OPTIONS]",
		Description: `Shows running containers (all with -a). Filters: id, name, label (key or
key=value), status (created, running, paused, exited), exited (code), ancestor
(image), before and since (container).

Format fields: .ID .Image .Command .CreatedAt .RunningFor .Status .State
.Names .Labels (.Label "key") .Ports .ExitCode .Size (with -s: writable layer
(virtual: with the image))

Examples:
   berth ps -a
   berth ps -q --filter status=exited
   berth ps --format 'table {{.Names}}\t{{.Status}}'
   berth ps --format '{{json .}}'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers, not only running ones"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print container IDs"},
			&cli.IntFlag{Name: "last", Aliases: []string{"n"}, Value: -1, DefaultText: "no limit", Usage: "show the n last created containers (all states)"},
			&cli.BoolFlag{Name: "latest", Aliases: []string{"l"}, Usage: "show the last created container (all states)"},
			newSliceFlag("filter", "f", "filter output (key=value)"),
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs and commands; show the names containers have as targets of links too"},
			&cli.BoolFlag{Name: "size", Aliases: []string{"s"}, Usage: "show the size of each container's writable layer (and with its image)"},
		},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			filters, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			lo := container.ListOptions{All: c.Bool("all"), Filters: filters}
			if n := c.Int("last"); n > 0 {
				lo.Limit, lo.All = n, true
			}
			if c.Bool("latest") {
				lo.Limit, lo.All = 1, true
			}
			format := c.String("format")
			if c.Bool("quiet") {
				format = "{{.ID}}"
			}
			def := defaultPsFormat
			if c.Bool("size") {
				def += `\t{{.Size}}`
			}
			f, err := formatter.Parse(format, def)
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			// As Docker: a template that reads .Size asks for the sizes too.
			lo.Size = c.Bool("size") || strings.Contains(format, ".Size")
			list, err := cl.List(ctx, lo)
			if err != nil {
				return err
			}
			now := env.now()
			rows := make([]any, len(list))
			for i, s := range list {
				row := containerRow{s: s, trunc: !c.Bool("no-trunc"), now: now}
				if lo.Size {
					row.size = sizeColumn(s)
				}
				rows[i] = row
			}
			return f.Write(env.Stdout, containerHeaders, rows)
		}),
	}
}

// sizeColumn is Docker's SIZE text for a container: its writable layer,
// then the whole root filesystem with the image ("2B (virtual 4.3MB)").
func sizeColumn(s container.Summary) string {
	rw := formatter.HumanSize(s.SizeRw)
	if s.SizeRootFs > 0 {
		return rw + " (virtual " + formatter.HumanSize(s.SizeRootFs) + ")"
	}
	return rw
}
