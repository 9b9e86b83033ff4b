package compose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/urfave/cli/v2"
)

func (a *app) cmdConfig() *cli.Command {
	return &cli.Command{
		Name: "config", Aliases: []string{"convert"}, Usage: "parse, resolve and render the compose file in canonical format",
		ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "yaml", Usage: "yaml or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only validate the configuration"},
			&cli.BoolFlag{Name: "services", Usage: "print the service names, one per line"},
			&cli.BoolFlag{Name: "volumes", Usage: "print the volume names, one per line"},
			&cli.BoolFlag{Name: "networks", Usage: "print the network names, one per line"},
			&cli.BoolFlag{Name: "profiles", Usage: "print the profile names, one per line"},
			&cli.BoolFlag{Name: "images", Usage: "print the image names, one per line"},
			&cli.StringFlag{Name: "hash", Usage: `print the config hash of these services ("*" for all), as up labels them`},
			&cli.BoolFlag{Name: "check", Usage: "also check that berth compose honours every field (as up does)"},
		},
		Action: func(c *cli.Context) error {
			p, err := a.load(c.Context, c.Args().Slice()...)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				if p, err = p.WithSelectedServices(c.Args().Slice()); err != nil {
					return err
				}
			}
			if c.Bool("check") {
				if err := check(p); err != nil {
					return err
				}
			}
			lines := func(names []string) error {
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintln(a.env.Stdout, n)
				}
				return nil
			}
			if h := c.String("hash"); h != "" {
				names := p.ServiceNames()
				if h != "*" {
					names = strings.Split(h, ",")
				}
				for _, n := range names {
					s, err := p.GetService(n)
					if err != nil {
						return usage("no such service: %s", n)
					}
					sum, err := serviceHash(s)
					if err != nil {
						return err
					}
					fmt.Fprintf(a.env.Stdout, "%s %s\n", n, sum)
				}
				return nil
			}
			switch {
			case c.Bool("quiet"):
				return nil
			case c.Bool("services"):
				return lines(p.ServiceNames())
			case c.Bool("volumes"):
				return lines(p.VolumeNames())
			case c.Bool("networks"):
				return lines(p.NetworkNames())
			case c.Bool("profiles"):
				return lines(allProfiles(p))
			case c.Bool("images"):
				var imgs []string
				for _, s := range p.Services {
					imgs = append(imgs, serviceImage(p, s))
				}
				return lines(imgs)
			}
			var out []byte
			switch c.String("format") {
			case "json":
				out, err = p.MarshalJSON()
			case "yaml", "":
				out, err = p.MarshalYAML()
			default:
				return usage("unsupported format %q: want yaml or json", c.String("format"))
			}
			if err != nil {
				return err
			}
			_, err = a.env.Stdout.Write(out)
			return err
		},
	}
}

func allProfiles(p *types.Project) []string {
	seen := map[string]bool{}
	var out []string
	for _, ss := range []types.Services{p.Services, p.DisabledServices} {
		for _, s := range ss {
			for _, pr := range s.Profiles {
				if !seen[pr] {
					seen[pr] = true
					out = append(out, pr)
				}
			}
		}
	}
	return out
}
