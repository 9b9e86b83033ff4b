package compose

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
)

func (a *app) cmdDown() *cli.Command {
	return &cli.Command{
		Name: "down", Usage: "stop and remove containers, networks", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove named volumes declared in the volumes section and anonymous volumes attached to containers"},
			&cli.StringFlag{Name: "rmi", Usage: `remove images used by services: "local" (those without a custom tag) or "all"`},
			&cli.BoolFlag{Name: "remove-orphans", Usage: "remove containers of services not in the compose file"},
			&cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Usage: "shutdown timeout in seconds"},
		},
		Action: func(c *cli.Context) error {
			rmi := c.String("rmi")
			if rmi != "" && rmi != "local" && rmi != "all" {
				return usage("invalid --rmi option %q: want local or all", rmi)
			}
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			var timeout *time.Duration
			if c.IsSet("timeout") {
				t := time.Duration(c.Int("timeout")) * time.Second
				timeout = &t
			}
			return a.down(c.Context, p, c.Args().Slice(), c.Bool("volumes"), rmi, c.Bool("remove-orphans"), timeout)
		},
	}
}

// down stops and removes the project's containers in reverse dependency
// order, then its networks, and with -v its volumes, with --rmi its images.
func (a *app) down(ctx context.Context, p *types.Project, only []string, volumes bool, rmi string, removeOrphans bool, timeout *time.Duration) error {
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	list, err := a.containers(ctx, p.Name, true, only...)
	if err != nil {
		return err
	}
	pr := a.newProgress("Running")
	var orph []container.Summary
	if len(p.Services) > 0 {
		orph = orphans(p, list)
		if len(orph) > 0 && !removeOrphans && len(only) == 0 {
			var names []string
			for _, c := range orph {
				names = append(names, name(c))
			}
			fmt.Fprintf(a.env.Stderr, "Found orphan containers (%v) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n", names)
		}
	}
	isOrphan := map[string]bool{}
	for _, c := range orph {
		isOrphan[c.ID] = true
	}
	groups := byService(list)
	remove := func(ctx context.Context, cs []container.Summary) error {
		var wg sync.WaitGroup
		errs := make([]error, len(cs))
		for i, c := range cs {
			if isOrphan[c.ID] && !removeOrphans {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := name(c)
				if c.State == container.StatusRunning || c.State == container.StatusPaused || c.State == container.StatusRestarting {
					pr.set("Container", n, "Stopping")
					if err := cl.Stop(ctx, c.ID, container.StopOptions{Timeout: timeout}); err != nil && !errdefs.IsNotFound(err) {
						errs[i] = err
						return
					}
					pr.set("Container", n, "Stopped")
				}
				pr.set("Container", n, "Removing")
				if err := cl.Remove(ctx, c.ID, container.RemoveOptions{Force: true, Volumes: volumes}); err != nil && !errdefs.IsNotFound(err) {
					errs[i] = err
					return
				}
				pr.set("Container", n, "Removed")
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	// The project's services in reverse dependency order; then what the
	// compose file does not know (orphans, a project known by name only).
	known := map[string]bool{}
	if len(p.Services) > 0 {
		// The walk visits independent services at once.
		var mu sync.Mutex
		err := inReverseOrder(ctx, p, func(ctx context.Context, svc string) error {
			mu.Lock()
			known[svc] = true
			mu.Unlock()
			return remove(ctx, groups[svc])
		})
		if err != nil {
			return err
		}
	}
	var rest []container.Summary
	for svc, cs := range groups {
		if !known[svc] {
			rest = append(rest, cs...)
		}
	}
	if err := remove(ctx, rest); err != nil {
		return err
	}
	if len(only) > 0 {
		return nil
	}
	// Networks: those labelled with the project (never external ones).
	nets, err := cl.Networks().List(ctx, projectFilter(p.Name))
	if err != nil {
		return err
	}
	if len(list) == 0 && len(nets) == 0 && !volumes {
		fmt.Fprintf(a.env.Stderr, "Warning: No resource found to remove for project %q.\n", p.Name)
	}
	for _, n := range nets {
		pr.set("Network", n.Name, "Removing")
		if err := cl.Networks().Remove(ctx, n.Name); err != nil && !errdefs.IsNotFound(err) {
			pr.set("Network", n.Name, "Error")
			fmt.Fprintf(a.env.Stderr, "network %s: %v\n", n.Name, err)
			continue
		}
		pr.set("Network", n.Name, "Removed")
	}
	if volumes {
		vols, err := cl.Volumes().List(ctx, projectFilter(p.Name))
		if err != nil {
			return err
		}
		for _, v := range vols {
			pr.set("Volume", v.Name, "Removing")
			if err := cl.Volumes().Remove(ctx, v.Name, false); err != nil && !errdefs.IsNotFound(err) {
				pr.set("Volume", v.Name, "Error")
				fmt.Fprintf(a.env.Stderr, "volume %s: %v\n", v.Name, err)
				continue
			}
			pr.set("Volume", v.Name, "Removed")
		}
	}
	if rmi != "" {
		imgs := map[string]bool{}
		for _, s := range p.Services {
			if rmi == "all" || s.Image == "" {
				imgs[serviceImage(p, s)] = true
			}
		}
		for _, c := range list {
			if rmi == "all" {
				imgs[c.Image] = true
			}
		}
		names := make([]string, 0, len(imgs))
		for i := range imgs {
			names = append(names, i)
		}
		sort.Strings(names)
		for _, img := range names {
			pr.set("Image", img, "Removing")
			if _, err := cl.Images().Remove(ctx, []string{img}, image.RemoveOptions{}); err != nil {
				if errdefs.IsNotFound(err) {
					pr.set("Image", img, "Skipped")
					continue
				}
				pr.set("Image", img, "Error")
				fmt.Fprintf(a.env.Stderr, "image %s: %v\n", img, err)
				continue
			}
			pr.set("Image", img, "Removed")
		}
	}
	return nil
}
