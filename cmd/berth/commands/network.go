package commands

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	dnetwork "github.com/moby/moby/api/types/network"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/internal/formatter"
	"github.com/berthproject/berth/cmd/berth/opts"
	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
)

// withNetworks is withArgs for the network commands.
func withNetworks(env *Env, min, max int, fn func(ctx context.Context, c *cli.Context, api api.Networks) error) cli.ActionFunc {
	return withArgs(env, min, max, func(ctx context.Context, c *cli.Context, cl Client) error {
		return fn(ctx, c, cl.Networks())
	})
}

// NetworkCommand is `berth network` and its subcommands.
func NetworkCommand(env *Env) *cli.Command {
	return Group("network", "Manage networks",
		NetworkCreate(env), NetworkLs(env), NetworkInspect(env), NetworkRm(env),
		NetworkPrune(env), NetworkConnect(env), NetworkDisconnect(env))
}

// NetworkCreate is `berth network create`.
func NetworkCreate(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "Create a network",
		UsageText: "berth network create [OPTIONS] NETWORK",
		Description: `Creates a network and prints its ID. Containers on a user-defined bridge
network reach each other by name. Without --subnet a free subnet is picked.

Examples:
   berth network create app
   berth network create --subnet 10.30.0.0/24 --gateway 10.30.0.1 app
   berth network create --internal backend
   berth network create --ipv6 app6   (dual-stack: an IPv6 /64 from the host's ULA pool)
   berth network create --ipv6 --subnet 10.31.0.0/24 --subnet fd00:31::/64 app6
   berth network create --subnet 10.30.0.0/24 --aux-address router=10.30.0.2 lan
   berth network create -d macvlan -o parent=eth1 --subnet 192.168.1.0/24 lan
   berth network create -d overlay --attachable backbone   (a node of a cluster)`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "bridge", Usage: "driver: bridge, macvlan or overlay (a cluster's)"},
			&cli.StringSliceFlag{Name: "subnet", Usage: "subnet in CIDR form (10.30.0.0/24); with --ipv6 an IPv6 one too (fd00:30::/64)"},
			&cli.StringSliceFlag{Name: "gateway", Usage: "gateway address of a subnet (default: its first address); one per family"},
			&cli.BoolFlag{Name: "ipv6", Usage: "enable IPv6 (dual-stack): containers get an IPv6 address too"},
			&cli.StringFlag{Name: "ip-range", Usage: "hand out container addresses from this CIDR only"},
			&cli.BoolFlag{Name: "internal", Usage: "no access to the outside: no route out, no masquerade"},
			&cli.BoolFlag{Name: "attachable", Usage: "overlay: containers started with run/create may join"},
			&cli.StringSliceFlag{Name: "aux-address", Usage: "reserve an address of the subnet for another host (NAME=IP): never given to a container; repeatable"},
			&cli.StringSliceFlag{Name: "ipam-opt", Usage: "IPAM driver option (KEY=VALUE), kept as given"},
			newSliceFlag("opt", "o", "driver option (KEY=VALUE): parent, macvlan_mode, com.docker.network.bridge.name, mtu"),
			&cli.StringSliceFlag{Name: "label", Usage: "set a label (KEY=VALUE)"},
		},
		Action: withNetworks(env, 1, 1, func(ctx context.Context, c *cli.Context, api api.Networks) error {
			o := network.CreateOptions{Name: c.Args().First(), Driver: c.String("driver"), Internal: c.Bool("internal"), Attachable: c.Bool("attachable")}
			var err error
			o.EnableIPv6 = c.Bool("ipv6")
			if err := subnetFlags(c, &o); err != nil {
				return err
			}
			if o.IPRange, err = cidrFlag(c, "ip-range"); err != nil {
				return err
			}
			if o.Options, err = keyValues("--opt", c.StringSlice("opt")); err != nil {
				return err
			}
			if o.Labels, err = opts.Labels(c.StringSlice("label")); err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if o.IPAMOptions, err = keyValues("--ipam-opt", c.StringSlice("ipam-opt")); err != nil {
				return err
			}
			if o.AuxAddresses, err = auxAddresses(c.StringSlice("aux-address")); err != nil {
				return err
			}
			n, err := api.Create(ctx, o)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, n.ID)
			return nil
		}),
	}
}

// subnetFlags sorts the --subnet and --gateway values into o by family,
// as Docker takes one subnet of each.
func subnetFlags(c *cli.Context, o *network.CreateOptions) error {
	bad := func(format string, args ...any) error { return &ExitError{Code: 1, Err: fmt.Errorf(format, args...)} }
	for _, v := range c.StringSlice("subnet") {
		p, err := netip.ParsePrefix(v)
		if err != nil || p.Addr().Zone() != "" {
			return bad("invalid --subnet %q: want a CIDR such as 10.30.0.0/24 or fd00:30::/64", v)
		}
		if p.Addr().Is4() {
			if o.Subnet.IsValid() {
				return bad("--subnet %s: only one IPv4 subnet per network", v)
			}
			o.Subnet = p
			continue
		}
		if !o.EnableIPv6 {
			return bad("--subnet %s is an IPv6 subnet: add --ipv6 to create a dual-stack network", v)
		}
		if o.Subnet6.IsValid() {
			return bad("--subnet %s: only one IPv6 subnet per network", v)
		}
		o.Subnet6 = p
	}
	for _, g := range c.StringSlice("gateway") {
		a, err := netip.ParseAddr(g)
		if err != nil || a.Zone() != "" {
			return bad("invalid --gateway %q: want an IP address", g)
		}
		switch {
		case a.Is4() && !o.Gateway.IsValid():
			o.Gateway = a
		case a.Is6() && !o.Gateway6.IsValid():
			if !o.Subnet6.IsValid() {
				return bad("--gateway %s: an IPv6 gateway needs an IPv6 --subnet", g)
			}
			o.Gateway6 = a
		default:
			return bad("--gateway %s: only one gateway per family", g)
		}
	}
	return nil
}

func cidrFlag(c *cli.Context, name string) (netip.Prefix, error) {
	v := c.String(name)
	if v == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() {
		return p, &ExitError{Code: 1, Err: fmt.Errorf("invalid --%s %q: want an IPv4 CIDR such as 10.30.0.0/24", name, v)}
	}
	return p, nil
}

// auxAddresses parses --aux-address NAME=IP values.
func auxAddresses(values []string) (map[string]netip.Addr, error) {
	kv, err := keyValues("--aux-address", values)
	if err != nil || kv == nil {
		return nil, err
	}
	out := make(map[string]netip.Addr, len(kv))
	for name, v := range kv {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, &ExitError{Code: 1, Err: fmt.Errorf("invalid --aux-address %s=%q: want NAME=IP, e.g. router=10.30.0.2", name, v)}
		}
		out[name] = a
	}
	return out, nil
}

func keyValues(flag string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, &ExitError{Code: 1, Err: fmt.Errorf("invalid %s %q: want KEY=VALUE", flag, v)}
		}
		m[k] = val
	}
	return m, nil
}

const defaultNetworkFormat = `table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}`

var networkHeaders = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
	"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT", "Subnet": "SUBNET",
	"Gateway": "GATEWAY", "Containers": "CONTAINERS",
}

// networkRow is what a `network ls --format` template sees: Docker's fields.
type networkRow struct {
	n     *network.Network
	trunc bool
}

func (r networkRow) ID() string {
	if r.trunc {
		return formatter.TruncateID(r.n.ID)
	}
	return r.n.ID
}
func (r networkRow) Name() string   { return r.n.Name }
func (r networkRow) Driver() string { return r.n.Driver }
func (r networkRow) Scope() string  { return network.Scope(r.n) }
func (r networkRow) IPv6() bool     { return r.n.EnableIPv6 }
func (r networkRow) Internal() bool { return r.n.Internal }
func (r networkRow) Labels() string { return joinLabels(r.n.Labels) }
func (r networkRow) Label(k string) string {
	return r.n.Labels[k]
}
func (r networkRow) CreatedAt() string {
	return r.n.Created.Local().Format("2006-01-02 15:04:05.999999999 -0700 MST")
}
func (r networkRow) Subnet() string  { return prefixOrEmpty(r.n.Subnet) }
func (r networkRow) Gateway() string { return addrOrEmpty(r.n.Gateway) }
func (r networkRow) Containers() int { return len(r.n.Endpoints) }
func (r networkRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]string{
		"ID": r.ID(), "Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(), "IPv6": fmt.Sprint(r.IPv6()),
		"Internal": fmt.Sprint(r.Internal()), "Labels": r.Labels(), "CreatedAt": r.CreatedAt(),
	})
}

// NetworkLs is `berth network ls`.
func NetworkLs(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Aliases:   []string{"list"},
		Usage:     "List networks",
		UsageText: "berth network ls [OPTIONS]",
		Description: `Filters: name (substring), id (prefix), driver, label (key or key=value),
type (custom or builtin), dangling (true: no container attached).

Format fields: .ID .Name .Driver .Scope .IPv6 .Internal .Labels (.Label "key")
.CreatedAt .Subnet .Gateway .Containers

Examples:
   berth network ls
   berth network ls -q --filter type=custom
   berth network ls --format '{{.Name}} {{.Subnet}}'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print network IDs"},
			newSliceFlag("filter", "f", "filter output (key=value)"),
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE', or 'json'"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs"},
		},
		Action: withNetworks(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Networks) error {
			filters, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			format := c.String("format")
			if c.Bool("quiet") {
				format = "{{.ID}}"
			}
			f, err := formatter.Parse(format, defaultNetworkFormat)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			list, err := api.List(ctx, filters)
			if err != nil {
				return err
			}
			rows := make([]any, len(list))
			for i, n := range list {
				rows[i] = networkRow{n: n, trunc: !c.Bool("no-trunc")}
			}
			return f.Write(env.Stdout, networkHeaders, rows)
		}),
	}
}

// networkView is `network inspect`'s view: Docker's (the Docker API's
// own, pkg/docker), then berth's two extra fields: the host interface
// (bridge or macvlan parent) and whether container names resolve.
type networkView struct {
	dnetwork.Inspect
	Interface string `json:"Interface"`
	DNS       bool   `json:"DNS"`
}

func networkViewOf(n *network.Network) networkView {
	return networkView{Inspect: docker.NetworkInspect(n), Interface: n.Interface, DNS: n.DNS}
}

func prefixOrEmpty(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// NetworkInspect is `berth network inspect`.
func NetworkInspect(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "Display detailed information on one or more networks",
		UsageText: "berth network inspect [OPTIONS] NETWORK [NETWORK...]",
		Description: `Prints a JSON array (Docker's fields), or each network through --format.

Examples:
   berth network inspect app
   berth network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' app`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template applied to each network"},
		},
		Action: withNetworks(env, 1, -1, func(ctx context.Context, c *cli.Context, api api.Networks) error {
			// As Docker, templates see the JSON document ({{.Id}}), not the Go struct.
			return inspectEach(c, env, 1, true, func(name string) (any, error) {
				n, err := api.Inspect(ctx, name)
				if err != nil {
					return nil, err
				}
				return networkViewOf(n), nil
			})
		}),
	}
}

// NetworkRm is `berth network rm`.
func NetworkRm(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "Remove one or more networks",
		UsageText: "berth network rm NETWORK [NETWORK...]",
		Description: `A network is removed only when no container is attached to it.

Example:
   berth network rm app`,
		Action: withNetworks(env, 1, -1, func(ctx context.Context, c *cli.Context, api api.Networks) error {
			return forEach(c, env, c.Args().Slice(), func(n string) error { return api.Remove(ctx, n) })
		}),
	}
}

// NetworkPrune is `berth network prune`.
func NetworkPrune(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "Remove all unused networks",
		UsageText: "berth network prune [OPTIONS]",
		Description: `Removes every user-defined network no container is attached to.
Filters: label=KEY[=VALUE], label!=KEY[=VALUE] (spares those with it).

Example:
   berth network prune -f`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
			&cli.StringSliceFlag{Name: "filter", Usage: "only networks matching (label=KEY[=VALUE], label!=KEY[=VALUE])"},
		},
		Action: withNetworks(env, 0, 0, func(ctx context.Context, c *cli.Context, api api.Networks) error {
			filters, err := opts.Filters(c.StringSlice("filter"))
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if !c.Bool("force") {
				fmt.Fprint(env.Stdout, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ")
				answer, _ := bufio.NewReader(env.Stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return nil
				}
			}
			deleted, err := api.Prune(ctx, filters)
			if len(deleted) > 0 {
				sort.Strings(deleted)
				fmt.Fprintln(env.Stdout, "Deleted Networks:")
				for _, n := range deleted {
					fmt.Fprintln(env.Stdout, n)
				}
				fmt.Fprintln(env.Stdout)
			}
			return err
		}),
	}
}

// NetworkConnect is `berth network connect`.
func NetworkConnect(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "connect",
		Usage:     "Connect a container to a network",
		UsageText: "berth network connect [OPTIONS] NETWORK CONTAINER",
		Description: `A running container gets a new interface at once; a stopped one is
attached when it starts. On user-defined networks its name and aliases resolve.

Examples:
   berth network connect app web
   berth network connect --ip 10.30.0.50 --alias db app web
   berth network connect --ip6 fd00:30::50 app6 web
   berth network connect --gw-priority 100 app web
   berth network connect --driver-opt com.docker.network.endpoint.ifname=app0 app web`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ip", Usage: "IPv4 address on the network"},
			&cli.StringFlag{Name: "ip6", Usage: "IPv6 address on the network (a network created with --ipv6)"},
			&cli.StringSliceFlag{Name: "alias", Usage: "network-scoped alias of the container"},
			&cli.IntFlag{Name: "gw-priority", Usage: "priority of the network for the container's default route: the highest of its networks gives it"},
			&cli.StringSliceFlag{Name: "driver-opt", Usage: "endpoint driver option: com.docker.network.endpoint.ifname=NAME names the container's interface"},
		},
		Action: withNetworks(env, 2, 2, func(ctx context.Context, c *cli.Context, api api.Networks) error {
			if ip := c.String("ip"); ip != "" {
				if a, err := netip.ParseAddr(ip); err != nil || !a.Is4() {
					return &ExitError{Code: 1, Err: fmt.Errorf("invalid --ip %q: want an IPv4 address", ip)}
				}
			}
			if ip := c.String("ip6"); ip != "" {
				if a, err := netip.ParseAddr(ip); err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
					return &ExitError{Code: 1, Err: fmt.Errorf("invalid --ip6 %q: want an IPv6 address", ip)}
				}
			}
			att := container.NetworkAttachment{Network: c.Args().Get(0), IPv4: c.String("ip"), IPv6: c.String("ip6"), Aliases: c.StringSlice("alias"), GwPriority: c.Int("gw-priority")}
			for _, o := range c.StringSlice("driver-opt") {
				if err := opts.ApplyDriverOpt(&att, o); err != nil {
					return &ExitError{Code: 1, Err: err}
				}
			}
			return api.Connect(ctx, c.Args().Get(1), att)
		}),
	}
}

// NetworkDisconnect is `berth network disconnect`.
func NetworkDisconnect(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "disconnect",
		Usage:     "Disconnect a container from a network",
		UsageText: "berth network disconnect [OPTIONS] NETWORK CONTAINER",
		Description: `Example:
   berth network disconnect app web`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "disconnect even if the network is gone"},
		},
		Action: withNetworks(env, 2, 2, func(ctx context.Context, c *cli.Context, api api.Networks) error {
			return api.Disconnect(ctx, c.Args().Get(0), c.Args().Get(1), c.Bool("force"))
		}),
	}
}

// jsonDocument is v as its JSON form decoded into maps and slices.
func jsonDocument(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	// Numbers stay as written (json.Number): a float64 would print 64 MiB
	// as 6.7108864e+07.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	err = dec.Decode(&doc)
	return doc, err
}
