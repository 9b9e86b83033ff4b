package commands

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/types/build"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/volume"
)

// confirm prints Docker's prune warning and reads the answer from stdin.
func confirm(env *Env, warning string) bool {
	fmt.Fprintf(env.Stdout, "WARNING! This will remove:\n%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

// pruneFilters are prune's --filter values: label and label! (passed on,
// as Docker's label=KEY[=VALUE] and label!=KEY[=VALUE]) and until (a time or
// a duration before now).
type pruneFilters struct {
	label    []string
	notLabel []string
	until    time.Time
}

func parsePruneFilters(values []string, now time.Time) (pruneFilters, error) {
	var f pruneFilters
	m, err := opts.Filters(values)
	if err != nil {
		return f, err
	}
	for k, vs := range m {
		switch k {
		case "label":
			f.label = vs
		case "label!":
			f.notLabel = vs
		case "until":
			if len(vs) != 1 {
				return f, fmt.Errorf("give one until filter, not %d", len(vs))
			}
			if f.until, err = opts.Timestamp(vs[0], now); err != nil {
				return f, fmt.Errorf("invalid until filter: %w", err)
			}
		default:
			return f, fmt.Errorf("invalid filter %q: prune takes label=KEY[=VALUE], label!=KEY[=VALUE] and until=TIME", k)
		}
	}
	return f, nil
}

// labelFilters are f's label and label! filters, as the engine takes them.
func (f pruneFilters) labelFilters() map[string][]string {
	m := map[string][]string{}
	if len(f.label) > 0 {
		m["label"] = f.label
	}
	if len(f.notLabel) > 0 {
		m["label!"] = f.notLabel
	}
	return m
}

// imageFilters are f as the engine's image and container prune filters
// (until as an RFC 3339 time).
func (f pruneFilters) imageFilters() map[string][]string {
	m := f.labelFilters()
	if !f.until.IsZero() {
		m["until"] = []string{f.until.UTC().Format(time.RFC3339Nano)}
	}
	return m
}

// pruneContainers removes every container that is not running and matches
// f (the engine's container prune), and returns the removed IDs and the
// space their writable layers took.
func pruneContainers(ctx context.Context, cl Client, f pruneFilters) ([]string, uint64, error) {
	rep, err := cl.Prune(ctx, container.PruneOptions{Filters: f.imageFilters()})
	if err != nil {
		return nil, 0, err
	}
	return rep.ContainersDeleted, rep.SpaceReclaimed, nil
}

func printDeleted(w io.Writer, title string, ids []string) {
	if len(ids) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	for _, id := range ids {
		fmt.Fprintln(w, id)
	}
	fmt.Fprintln(w)
}

// ContainerPrune is `berth container prune`.
func ContainerPrune(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "Remove all stopped containers",
		UsageText: "berth container prune [OPTIONS]",
		Description: `Removes every container that is not running (created or exited).
Filters: label=KEY[=VALUE], label!=KEY[=VALUE], until=TIME (a timestamp or a
duration: 24h).

Examples:
   berth container prune -f
   berth container prune -f --filter until=1h
   berth container prune -f --filter label!=keep`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
			&cli.StringSliceFlag{Name: "filter", Usage: "only containers matching (label=KEY[=VALUE], label!=KEY[=VALUE], until=TIME)"},
		},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			f, err := parsePruneFilters(c.StringSlice("filter"), time.Now())
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if !c.Bool("force") && !confirm(env, "  - all stopped containers") {
				return nil
			}
			deleted, reclaimed, err := pruneContainers(ctx, cl, f)
			printDeleted(env.Stdout, "Deleted Containers:", deleted)
			fmt.Fprintf(env.Stdout, "Total reclaimed space: %s\n", formatter.HumanSize(int64(reclaimed)))
			return err
		}),
	}
}

// SystemPrune is `berth system prune`.
func SystemPrune(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "Remove unused data: stopped containers, unused networks, dangling images",
		UsageText: "berth system prune [OPTIONS]",
		Description: `As Docker: removes all stopped containers, all networks no container
uses, and dangling images; -a also every image no container uses;
--volumes also the anonymous volumes no container uses.
Filters: label=KEY[=VALUE], label!=KEY[=VALUE], until=TIME (containers,
networks and images; until is not applied to volumes).

Examples:
   berth system prune -f
   berth system prune -a --volumes -f`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all unused images, not just dangling ones"},
			&cli.BoolFlag{Name: "volumes", Usage: "also remove anonymous volumes no container uses"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
			&cli.StringSliceFlag{Name: "filter", Usage: "only objects matching (label=KEY[=VALUE], label!=KEY[=VALUE], until=TIME)"},
		},
		Action: withArgs(env, 0, 0, func(ctx context.Context, c *cli.Context, cl Client) error {
			f, err := parsePruneFilters(c.StringSlice("filter"), time.Now())
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if !c.Bool("force") {
				warning := "  - all stopped containers\n  - all networks not used by at least one container\n"
				if c.Bool("volumes") {
					warning += "  - all anonymous volumes not used by at least one container\n"
				}
				if c.Bool("all") {
					warning += "  - all images without at least one container associated to them\n"
				} else {
					warning += "  - all dangling images\n"
				}
				warning += "  - unused build cache\n"
				if !confirm(env, warning) {
					return nil
				}
			}
			deleted, reclaimed, err := pruneContainers(ctx, cl, f)
			printDeleted(env.Stdout, "Deleted Containers:", deleted)
			if err != nil {
				return err
			}
			netFilters := f.labelFilters()
			nets, err := cl.Networks().Prune(ctx, netFilters)
			sort.Strings(nets)
			printDeleted(env.Stdout, "Deleted Networks:", nets)
			if err != nil {
				return err
			}
			if c.Bool("volumes") {
				vols, space, err := cl.Volumes().Prune(ctx, volume.PruneOptions{Filters: netFilters})
				printDeleted(env.Stdout, "Deleted Volumes:", vols)
				reclaimed += space
				if err != nil {
					return err
				}
			}
			rep, err := cl.Images().Prune(ctx, image.PruneOptions{All: c.Bool("all"), Filters: f.imageFilters()})
			if rep != nil {
				var lines []string
				for _, d := range rep.Deleted {
					if d.Untagged != "" {
						lines = append(lines, "untagged: "+d.Untagged)
					}
					if d.Deleted != "" {
						lines = append(lines, "deleted: "+d.Deleted)
					}
				}
				printDeleted(env.Stdout, "Deleted Images:", lines)
				reclaimed += uint64(max(rep.SpaceReclaimed, 0))
			}
			if err != nil {
				return err
			}
			// As Docker: the build cache too (all of it with -a).
			brep, err := cl.Builds().Prune(ctx, build.PruneOptions{All: c.Bool("all")})
			if brep != nil {
				var ids []string
				for _, r := range brep.Deleted {
					ids = append(ids, r.ID)
				}
				printDeleted(env.Stdout, "Deleted build cache objects:", ids)
				reclaimed += uint64(max(brep.SpaceReclaimed, 0))
			}
			fmt.Fprintf(env.Stdout, "Total reclaimed space: %s\n", formatter.HumanSize(int64(reclaimed)))
			return err
		}),
	}
}
