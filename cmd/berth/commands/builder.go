package commands

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/build"
)

// BuilderCommand is `berth builder`: build, prune and du of the build cache.
func BuilderCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "builder",
		Usage:     "Manage builds",
		UsageText: "berth builder COMMAND [ARG...]",
		Subcommands: []*cli.Command{
			Build(env, "build"),
			BuilderPrune(env),
			BuilderDu(env),
		},
	}
}

// BuilderPrune is `berth builder prune`.
func BuilderPrune(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "Remove build cache",
		UsageText: "berth builder prune [OPTIONS]",
		Description: `Removes the build cache no image or build uses; with -a, all of it.

Examples:
   berth builder prune -f
   berth builder prune -a -f --filter until=24h
   berth builder prune -f --keep-storage 2gb`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all build cache, not just the unreferenced records"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
			&cli.StringSliceFlag{Name: "filter", Usage: "until=DURATION: only cache not used for this long"},
			&cli.StringFlag{Name: "keep-storage", Usage: "keep this much cache (e.g. 2gb)"},
		},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			var po build.PruneOptions
			po.All = c.Bool("all")
			m, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return err
			}
			for k, vs := range m {
				if k != "until" || len(vs) != 1 {
					return fmt.Errorf("invalid filter %q: builder prune takes one until=DURATION", k)
				}
				if po.Until, err = time.ParseDuration(vs[0]); err != nil || po.Until <= 0 {
					return fmt.Errorf("invalid until filter %q: a duration such as 24h", vs[0])
				}
			}
			if s := c.String("keep-storage"); s != "" {
				if po.KeepStorage, err = units.RAMInBytes(s); err != nil || po.KeepStorage < 0 {
					return fmt.Errorf("invalid --keep-storage %q: a size such as 2gb", s)
				}
			}
			if !c.Bool("force") && !confirm(env, "  - all build cache"+map[bool]string{true: "", false: " no image or build uses"}[po.All]) {
				return nil
			}
			rep, err := cl.Builds().Prune(ctx, po)
			if err != nil {
				return err
			}
			if len(rep.Deleted) > 0 {
				fmt.Fprintln(env.Stdout, "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED")
				tw := tabwriter.NewWriter(env.Stdout, 0, 8, 3, ' ', 0)
				for _, r := range rep.Deleted {
					fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", r.ID, true, formatter.HumanSize(r.Size), lastUsed(r))
				}
				_ = tw.Flush()
			}
			fmt.Fprintf(env.Stdout, "Total:\t%s\n", formatter.HumanSize(rep.SpaceReclaimed))
			return nil
		}),
	}
}

// BuilderDu is `berth builder du`: the build cache's records.
func BuilderDu(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "du",
		Usage:     "Show the build cache's disk usage",
		UsageText: "berth builder du",
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			recs, err := cl.Builds().DiskUsage(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED")
			var total, reclaimable int64
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", r.ID, !r.InUse, formatter.HumanSize(r.Size), lastUsed(r))
				total += r.Size
				if !r.InUse {
					reclaimable += r.Size
				}
			}
			_ = tw.Flush()
			fmt.Fprintf(env.Stdout, "Reclaimable:\t%s\nTotal:\t\t%s\n", formatter.HumanSize(reclaimable), formatter.HumanSize(total))
			return nil
		}),
	}
}

func lastUsed(r build.CacheRecord) string {
	if r.LastUsedAt == nil {
		return ""
	}
	return formatter.Ago(*r.LastUsedAt, time.Now())
}
