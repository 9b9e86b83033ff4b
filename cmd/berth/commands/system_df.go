package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/pkg/types/system"
)

// SystemCommand is `berth system` (df; info and events also live here, as in Docker).
func SystemCommand(env *Env) *cli.Command {
	return Group("system", "Manage berth", SystemDF(env), Info(env), Events(env), SystemPrune(env))
}

// SystemDF is `berth system df`.
func SystemDF(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "df",
		Usage:     "Show berth's disk usage: images, containers' writable layers, volumes",
		UsageText: "berth system df [OPTIONS]",
		Description: `RECLAIMABLE is what removing unused images, stopped containers and unused
volumes would free. Sizes come from berth's snapshotter, which keeps them up
to date instead of walking every layer.

Examples:
   berth system df
   berth system df -v
   berth system df --format '{{.Type}}: {{.Size}}'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show every image, container and volume"},
			&cli.StringFlag{Name: "format", Usage: "Go template over each summary row (Type, TotalCount, Active, Size, Reclaimable), or json"},
		},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			du, err := cl.DiskUsage(ctx)
			if err != nil {
				return err
			}
			if c.Bool("verbose") {
				return writeDiskUsageVerbose(env, du)
			}
			f, err := formatter.Parse(c.String("format"), "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}")
			if err != nil {
				return &ExitError{Code: ExitBerthFailed, Err: err}
			}
			rows := dfSummary(du)
			items := make([]any, len(rows))
			for i := range rows {
				items[i] = rows[i]
			}
			return f.Write(env.Stdout, map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}, items)
		}),
	}
}

// dfRow is one line of `system df`.
type dfRow struct {
	Type        string
	TotalCount  int
	Active      int
	Size        string
	Reclaimable string
}

func dfSummary(du *system.DiskUsage) []dfRow {
	reclaim := func(r, total int64) string {
		if total == 0 {
			return formatter.HumanSize(r)
		}
		return fmt.Sprintf("%s (%d%%)", formatter.HumanSize(r), r*100/total)
	}
	var imgSize, imgFree int64
	imgActive := 0
	for _, i := range du.Images {
		imgSize += i.Size
		if i.Containers > 0 {
			imgActive++
		} else {
			imgFree += i.Size
		}
	}
	var ctrSize, ctrFree int64
	ctrActive := 0
	for _, c := range du.Containers {
		ctrSize += c.Size
		if c.State == "running" || c.State == "paused" || c.State == "restarting" {
			ctrActive++
		} else {
			ctrFree += c.Size
		}
	}
	var volSize, volFree int64
	volActive := 0
	for _, v := range du.Volumes {
		volSize += v.Size
		if v.Links > 0 {
			volActive++
		} else {
			volFree += v.Size
		}
	}
	return []dfRow{
		{"Images", len(du.Images), imgActive, formatter.HumanSize(imgSize), reclaim(imgFree, imgSize)},
		{"Containers", len(du.Containers), ctrActive, formatter.HumanSize(ctrSize), reclaim(ctrFree, ctrSize)},
		{"Local Volumes", len(du.Volumes), volActive, formatter.HumanSize(volSize), reclaim(volFree, volSize)},
		buildCacheRow(du.BuildCache, reclaim),
	}
}

func writeDiskUsageVerbose(env *Env, du *system.DiskUsage) error {
	w := env.Stdout
	fmt.Fprintln(w, "Images space usage:")
	fmt.Fprintln(w)
	f, _ := formatter.Parse("", "table {{.Repository}}\t{{.ID}}\t{{.Size}}\t{{.Containers}}")
	var rows []any
	for _, i := range du.Images {
		repo := "<none>"
		if len(i.RepoTags) > 0 {
			repo = strings.Join(i.RepoTags, ", ")
		}
		rows = append(rows, map[string]any{"Repository": repo, "ID": formatter.TruncateID(i.ID), "Size": formatter.HumanSize(i.Size), "Containers": i.Containers})
	}
	if err := f.Write(w, map[string]string{"Repository": "REPOSITORY", "ID": "IMAGE ID", "Size": "SIZE", "Containers": "CONTAINERS"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nContainers space usage:")
	fmt.Fprintln(w)
	f, _ = formatter.Parse("", "table {{.ID}}\t{{.Image}}\t{{.Size}}\t{{.State}}\t{{.Name}}")
	rows = nil
	for _, c := range du.Containers {
		rows = append(rows, map[string]any{"ID": formatter.TruncateID(c.ID), "Image": c.Image, "Size": formatter.HumanSize(c.Size), "State": c.State, "Name": strings.TrimPrefix(c.Name, "/")})
	}
	if err := f.Write(w, map[string]string{"ID": "CONTAINER ID", "Image": "IMAGE", "Size": "SIZE", "State": "STATE", "Name": "NAMES"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nLocal Volumes space usage:")
	fmt.Fprintln(w)
	f, _ = formatter.Parse("", "table {{.Name}}\t{{.Links}}\t{{.Size}}")
	rows = nil
	for _, v := range du.Volumes {
		rows = append(rows, map[string]any{"Name": v.Name, "Links": v.Links, "Size": formatter.HumanSize(v.Size)})
	}
	return f.Write(w, map[string]string{"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}, rows)
}

// buildCacheRow is Docker's: reclaimable is what no running build uses.
func buildCacheRow(recs []system.BuildCacheUsage, reclaim func(r, total int64) string) dfRow {
	var size, free int64
	active := 0
	for _, r := range recs {
		size += r.Size
		if r.InUse {
			active++
		} else {
			free += r.Size
		}
	}
	return dfRow{"Build Cache", len(recs), active, formatter.HumanSize(size), reclaim(free, size)}
}
