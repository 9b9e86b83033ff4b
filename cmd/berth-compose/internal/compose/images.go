package compose

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/image"
)

// errNoBuilder is what a service with build: gets from a berth without
// berth build.
func errNoBuilder(svc, img string) error {
	return fmt.Errorf("service %q has a build section, but this berth has no image builder (berth build): build the image %s with another tool and load it (berth load), or give the service an image present on this host", svc, img)
}

// ensureImages pulls what up needs, per --pull and each service's
// pull_policy (missing, by default), and refuses to build.
func (a *app) ensureImages(ctx context.Context, p *types.Project, pullFlag string, pr *progress) error {
	cl, err := a.client(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, svc := range p.ServiceNames() {
		s := p.Services[svc]
		img := serviceImage(p, s)
		if seen[img] {
			continue
		}
		seen[img] = true
		policy := pullFlag
		if policy == "policy" {
			// refresh (daily, weekly, every_N): berthd keeps no pull time,
			// so a present image is kept and a missing one pulled.
			policy, _, err = s.GetPullPolicy()
			if err != nil {
				return fmt.Errorf("service %q: %w", svc, err)
			}
			if policy == types.PullPolicyIfNotPresent || policy == types.PullPolicyRefresh {
				policy = types.PullPolicyMissing
			}
		}
		if s.Build != nil && policy != types.PullPolicyAlways {
			policy = types.PullPolicyBuild
		}
		_, err = cl.Images().Inspect(ctx, img)
		present := err == nil
		if err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		switch {
		case policy == types.PullPolicyBuild && present && s.Build != nil && s.PullPolicy != types.PullPolicyBuild:
			continue
		case policy == types.PullPolicyBuild && s.Build == nil:
			return fmt.Errorf("service %q: pull_policy is build, but the service has no build section", svc)
		case policy == types.PullPolicyBuild:
			pr.set("Image", img, "Building")
			if err := a.buildServices(ctx, p, []string{svc}, buildOptions{quiet: true}, io.Discard); err != nil {
				pr.set("Image", img, "Error")
				return err
			}
			pr.set("Image", img, "Built")
		case policy == types.PullPolicyNever && !present:
			return fmt.Errorf("service %q: image %s is not present and pull_policy is never: pull or load it first", svc, img)
		case policy == types.PullPolicyAlways || (policy == types.PullPolicyMissing && !present):
			pr.set("Image", img, "Pulling")
			if code := a.berth(ctx, io.Discard, "pull", "-q", img); code != 0 {
				pr.set("Image", img, "Error")
				return &exitError{code: 1, err: fmt.Errorf("service %q: pull %s failed", svc, img)}
			}
			pr.set("Image", img, "Pulled")
		}
	}
	return nil
}

func (a *app) cmdBuild() *cli.Command {
	return &cli.Command{
		Name: "build", Usage: "build or rebuild services", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "build-arg", Usage: "set build-time variables for services"},
			&cli.BoolFlag{Name: "no-cache", Usage: "do not use cache when building the image"},
			&cli.BoolFlag{Name: "pull", Usage: "always attempt to pull a newer version of the image"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "don't print anything to STDOUT"},
		},
		Action: func(c *cli.Context) error {
			p, err := a.load(c.Context, c.Args().Slice()...)
			if err != nil {
				return err
			}
			svcs, err := serviceNames(p, c.Args().Slice())
			if err != nil {
				return err
			}
			if err := check(p); err != nil {
				return err
			}
			out := a.env.Stdout
			if c.Bool("quiet") {
				out = io.Discard
			}
			return a.buildServices(c.Context, p, svcs, buildOptions{
				noCache: c.Bool("no-cache"), pull: c.Bool("pull"), quiet: c.Bool("quiet"), args: c.StringSlice("build-arg"),
			}, out)
		},
	}
}

func (a *app) cmdPull() *cli.Command {
	return a.imageCmd("pull", "pull service images", "Pulling", "Pulled", []cli.Flag{
		&cli.BoolFlag{Name: "ignore-buildable", Usage: "ignore images that can be built"},
	}, func(c *cli.Context, s types.ServiceConfig) bool {
		return s.Image != "" && !(c.Bool("ignore-buildable") && s.Build != nil)
	})
}

func (a *app) cmdPush() *cli.Command {
	// docker compose pushes the images of services with a build section
	// and an image name: the images the project makes.
	return a.imageCmd("push", "push service images", "Pushing", "Pushed", nil,
		func(_ *cli.Context, s types.ServiceConfig) bool { return s.Image != "" && s.Build != nil })
}

// imageCmd is pull and push: the verb on the selected services' images.
func (a *app) imageCmd(verb, usageText, doing, done string, flags []cli.Flag, want func(*cli.Context, types.ServiceConfig) bool) *cli.Command {
	return &cli.Command{
		Name: verb, Usage: usageText, ArgsUsage: "[SERVICE...]",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: verb + " without printing progress"},
			&cli.BoolFlag{Name: "ignore-" + verb + "-failures", Usage: verb + " what it can and ignore images with failures"},
			&cli.BoolFlag{Name: "include-deps", Usage: "also " + verb + " the images of services declared as dependencies"},
		}, flags...),
		Action: func(c *cli.Context) error {
			p, err := a.load(c.Context, c.Args().Slice()...)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				dep := types.IgnoreDependencies
				if c.Bool("include-deps") {
					dep = types.IncludeDependencies
				}
				if p, err = p.WithSelectedServices(c.Args().Slice(), dep); err != nil {
					return err
				}
			}
			return a.eachImage(c.Context, p, verb, doing, done, func(s types.ServiceConfig) bool { return want(c, s) },
				c.Bool("ignore-"+verb+"-failures"))
		},
	}
}

// eachImage runs `berth pull|push -q IMAGE` for each selected service's
// image, in parallel, with the registry credentials the berth CLI keeps.
func (a *app) eachImage(ctx context.Context, p *types.Project, verb, doing, done string, want func(types.ServiceConfig) bool, ignore bool) error {
	pr := a.newProgress(done)
	seen := map[string]bool{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for _, svc := range p.ServiceNames() {
		s := p.Services[svc]
		if !want(s) || seen[s.Image] {
			if !want(s) {
				pr.set("Image", serviceImage(p, s), "Skipped")
			}
			continue
		}
		seen[s.Image] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr.set("Image", s.Image, doing)
			if code := a.berth(ctx, io.Discard, verb, "-q", s.Image); code != 0 {
				pr.set("Image", s.Image, "Error")
				mu.Lock()
				failed = append(failed, s.Image)
				mu.Unlock()
				return
			}
			pr.set("Image", s.Image, done)
		}()
	}
	wg.Wait()
	if len(failed) > 0 && !ignore {
		sort.Strings(failed)
		return &exitError{code: 1, err: fmt.Errorf("%s failed for %s", verb, strings.Join(failed, ", "))}
	}
	return nil
}

func (a *app) cmdImages() *cli.Command {
	return &cli.Command{
		Name: "images", Usage: "list images used by the created containers", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display IDs"},
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
		},
		Action: func(c *cli.Context) error {
			p, err := a.loadOrName(c.Context)
			if err != nil {
				return err
			}
			cl, err := a.client(c.Context)
			if err != nil {
				return err
			}
			list, err := a.containers(c.Context, p.Name, true, c.Args().Slice()...)
			if err != nil {
				return err
			}
			type row struct {
				ContainerName, Repository, Tag, ID string
				Size                               int64
			}
			var rows []row
			seen := map[string]bool{}
			for _, ct := range list {
				img, err := cl.Images().Inspect(c.Context, ct.ImageID)
				if err != nil {
					img = &image.Image{ID: ct.ImageID}
				}
				repo, tag := splitRef(ct.Image)
				id := strings.TrimPrefix(img.ID, "sha256:")
				if len(id) > 12 {
					id = id[:12]
				}
				if c.Bool("quiet") {
					if !seen[img.ID] {
						seen[img.ID] = true
						fmt.Fprintln(a.env.Stdout, id)
					}
					continue
				}
				rows = append(rows, row{name(ct), repo, tag, id, img.Size})
			}
			if c.Bool("quiet") {
				return nil
			}
			if c.String("format") == "json" {
				return writeJSON(a.env.Stdout, rows)
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ContainerName, r.Repository, r.Tag, r.ID, humanSize(r.Size))
			}
			return tw.Flush()
		},
	}
}

// splitRef splits an image reference into repository and tag.
func splitRef(ref string) (string, string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], "<none>"
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }
