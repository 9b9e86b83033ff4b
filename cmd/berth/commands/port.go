package commands

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/opts"
)

// Port is `berth port`.
func Port(env *Env) *cli.Command {
	return &cli.Command{
		Name:         "port",
		BashComplete: completeContainers(env, false),
		Usage:        "List port mappings or a specific mapping for the container",
		UsageText:    "berth port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Description: `Prints each published port of a running container as
"80/tcp -> 0.0.0.0:32768"; with PRIVATE_PORT, only its host addresses.

Examples:
   berth port web
   berth port web 80`,
		Action: withArgs(env, 1, 2, func(ctx context.Context, c *cli.Context, cl Client) error {
			ctr, err := cl.Inspect(ctx, c.Args().First())
			if err != nil {
				return err
			}
			ports := append(ctr.NetworkSettings.Ports[:0:0], ctr.NetworkSettings.Ports...)
			sort.SliceStable(ports, func(i, j int) bool { return ports[i].ContainerPort < ports[j].ContainerPort })
			if c.NArg() == 1 {
				for _, p := range ports {
					fmt.Fprintf(env.Stdout, "%d/%s -> %s\n", p.ContainerPort, protoName(p.Proto), opts.HostAddr(p))
				}
				return nil
			}
			want := c.Args().Get(1)
			port, proto, _ := strings.Cut(want, "/")
			if proto == "" {
				proto = "tcp"
			}
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil || n == 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("invalid port %q: want PORT[/tcp|/udp]", want)}
			}
			found := false
			for _, p := range ports {
				if uint64(p.ContainerPort) == n && protoName(p.Proto) == proto {
					fmt.Fprintln(env.Stdout, opts.HostAddr(p))
					found = true
				}
			}
			if !found {
				return fmt.Errorf("no public port '%d/%s' published for %s: %w", n, proto, c.Args().First(), errdefs.ErrNotFound)
			}
			return nil
		}),
	}
}

func protoName(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}
