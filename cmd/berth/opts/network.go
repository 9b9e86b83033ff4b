package opts

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
)

// repeatable is a string slice flag that may be given under its short and
// long names in one command line (-p A --publish B), as Docker allows.
type repeatable struct{ *cli.StringSliceFlag }

func (f repeatable) Names() []string { return []string{f.Name} }

// NetworkFlags are the networking flags of `run` and `create`. Apply them
// with ApplyNetwork.
func NetworkFlags() []cli.Flag {
	return []cli.Flag{
		repeatable{&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a container port on the host: [ip:][hostPort:]containerPort[/tcp|/udp] (ranges: 8000-8001:80-81)"}},
		&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish every exposed port on a free host port"},
		&cli.StringSliceFlag{Name: "expose", Usage: "expose a port or a range (80, 80/udp, 8000-8010) for -P"},
		&cli.StringSliceFlag{Name: "network", Aliases: []string{"net"}, Usage: "connect to a network: bridge, host, none, container:NAME|ID, or a network's name; repeat for more networks; name=NET[,alias=A][,ip=IP][,ip6=IP6][,mac-address=MAC][,gw-priority=N][,driver-opt=com.docker.network.endpoint.ifname=NAME] sets per-network options"},
		&cli.StringFlag{Name: "ip", Usage: "IPv4 address on the network (user-defined networks)"},
		&cli.StringFlag{Name: "ip6", Usage: "IPv6 address on the network (user-defined networks created with --ipv6)"},
		&cli.StringSliceFlag{Name: "network-alias", Aliases: []string{"net-alias"}, Usage: "another name of the container on its network"},
		&cli.StringFlag{Name: "mac-address", Usage: "MAC address of the container's interface (e.g. 92:d0:c6:0a:29:33)"},
		&cli.StringSliceFlag{Name: "dns", Usage: "DNS server to use"},
		&cli.StringSliceFlag{Name: "dns-search", Usage: "DNS search domain"},
		&cli.StringSliceFlag{Name: "dns-option", Aliases: []string{"dns-opt"}, Usage: "resolver option (resolv.conf's options, e.g. ndots:2)"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "add a line to /etc/hosts: name:ip (ip may be host-gateway)"},
		&cli.StringSliceFlag{Name: "link", Usage: "legacy link to another container: NAME[:ALIAS] (its address in /etc/hosts and its variables in the environment; on a user-defined network, ALIAS resolves to NAME)"},
	}
}

// ApplyNetwork puts the values of NetworkFlags into cfg.
func ApplyNetwork(c *cli.Context, cfg *container.Config) error {
	var mode string
	var more []string
	if nets := c.StringSlice("network"); len(nets) > 0 {
		mode, more = nets[0], nets[1:]
	}
	return Network{
		Publish:    c.StringSlice("publish"),
		PublishAll: c.Bool("publish-all"),
		Expose:     c.StringSlice("expose"),
		Mode:       mode,
		More:       more,
		IP:         c.String("ip"),
		IP6:        c.String("ip6"),
		Aliases:    c.StringSlice("network-alias"),
		MAC:        c.String("mac-address"),
		DNS:        c.StringSlice("dns"),
		DNSSearch:  c.StringSlice("dns-search"),
		DNSOptions: c.StringSlice("dns-option"),
		AddHosts:   c.StringSlice("add-host"),
		Links:      c.StringSlice("link"),
	}.Apply(cfg)
}

// Network holds the raw values of the networking flags.
type Network struct {
	Publish    []string
	PublishAll bool
	Expose     []string
	// Mode is the first --network: a mode, a network, or a network with
	// its options (name=NET,alias=A,ip=IP,ip6=IP6,mac-address=MAC,
	// gw-priority=N, as Docker's CLI); More are the next ones (networks
	// only). --ip, --ip6, --network-alias and --mac-address apply to the
	// first network.
	Mode       string
	More       []string
	IP         string
	IP6        string
	Aliases    []string
	MAC        string
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	AddHosts   []string
	Links      []string
}

// Apply checks the values and sets cfg's network fields, with Docker's
// rules and messages.
func (n Network) Apply(cfg *container.Config) error {
	first, err := ParseNetworkAttachment(n.Mode)
	if err != nil {
		return err
	}
	if err := mergeFlags(&first, n); err != nil {
		return err
	}
	n.IP, n.IP6, n.Aliases, n.MAC = first.IPv4, first.IPv6, first.Aliases, first.MAC
	mode := first.Network
	if mode == "default" {
		mode = "bridge"
	}
	if strings.HasPrefix(mode, "container:") && strings.TrimPrefix(mode, "container:") == "" {
		return fmt.Errorf("invalid --network %q: name the container (container:NAME|ID)", n.Mode)
	}
	cfg.NetworkMode = mode
	builtin := mode == "" || mode == "bridge" || mode == "host" || mode == "none" || strings.HasPrefix(mode, "container:")
	shared := mode == "host" || mode == "none" || strings.HasPrefix(mode, "container:")

	if n.IP != "" {
		ip, err := netip.ParseAddr(n.IP)
		if err != nil || !ip.Is4() {
			return fmt.Errorf("invalid --ip %q: want an IPv4 address", n.IP)
		}
		if builtin {
			return fmt.Errorf("user specified IP address is supported on user defined networks only")
		}
	}
	if n.IP6 != "" {
		ip, err := netip.ParseAddr(n.IP6)
		if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
			return fmt.Errorf("invalid --ip6 %q: want an IPv6 address", n.IP6)
		}
		if builtin {
			return fmt.Errorf("user specified IP address is supported on user defined networks only")
		}
	}
	if len(n.Aliases) > 0 && builtin {
		return fmt.Errorf("network-scoped alias is supported only for containers in user defined networks")
	}
	if n.MAC != "" {
		if _, err := net.ParseMAC(n.MAC); err != nil || len(n.MAC) != 17 {
			return fmt.Errorf("invalid --mac-address %q: want six hex pairs like 92:d0:c6:0a:29:33", n.MAC)
		}
		if shared {
			return fmt.Errorf("conflicting options: --mac-address and --network %s", mode)
		}
	}
	if n.IP != "" || n.IP6 != "" || len(n.Aliases) > 0 || n.MAC != "" || first.GwPriority != 0 || first.IfName != "" {
		network := mode
		if network == "" {
			network = "bridge"
		}
		cfg.Networks = []container.NetworkAttachment{{Network: network, IPv4: n.IP, IPv6: n.IP6, Aliases: n.Aliases, MAC: n.MAC, GwPriority: first.GwPriority, IfName: first.IfName}}
	}
	if err := n.applyMore(cfg, mode, builtin); err != nil {
		return err
	}

	if (len(n.Publish) > 0 || n.PublishAll) && (mode == "none" || strings.HasPrefix(mode, "container:")) {
		return fmt.Errorf("conflicting options: port publishing and the container type network mode %s", mode)
	}
	bindings, err := PortBindings(n.Publish)
	if err != nil {
		return err
	}
	cfg.PortBindings = bindings
	cfg.PublishAllPorts = n.PublishAll
	exposed, err := ExposedPorts(n.Expose)
	if err != nil {
		return err
	}
	cfg.ExposedPorts = exposed

	for _, d := range n.DNS {
		if ip, err := netip.ParseAddr(d); err != nil || !ip.Is4() {
			return fmt.Errorf("invalid --dns %q: want an IPv4 address", d)
		}
	}
	cfg.DNS, cfg.DNSSearch, cfg.DNSOptions = n.DNS, n.DNSSearch, n.DNSOptions
	for _, h := range n.AddHosts {
		if err := checkExtraHost(h); err != nil {
			return err
		}
	}
	cfg.ExtraHosts = n.AddHosts
	if len(n.Links) > 0 {
		switch {
		case mode == "host":
			return fmt.Errorf("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
		case strings.HasPrefix(mode, "container:"):
			return fmt.Errorf("conflicting options: container type network can't be used with links. This would result in undefined behavior")
		}
		for _, l := range n.Links {
			if name, alias, _ := strings.Cut(l, ":"); name == "" || strings.Count(l, ":") > 1 || (strings.Contains(l, ":") && alias == "") {
				return fmt.Errorf("invalid --link %q: want NAME[:ALIAS]", l)
			}
		}
	}
	cfg.Links = n.Links
	return nil
}

// applyMore adds the networks of the second and later --network flags.
func (n Network) applyMore(cfg *container.Config, mode string, builtinMode bool) error {
	seen := map[string]bool{mode: true}
	for _, v := range n.More {
		a, err := ParseNetworkAttachment(v)
		if err != nil {
			return err
		}
		builtin := a.Network == "" || a.Network == "default" || a.Network == "bridge" || a.Network == "host" || a.Network == "none" || strings.HasPrefix(a.Network, "container:")
		if builtin || builtinMode {
			return fmt.Errorf("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
		}
		if seen[a.Network] {
			return fmt.Errorf("network %q is specified multiple times", a.Network)
		}
		seen[a.Network] = true
		cfg.Networks = append(cfg.Networks, a)
	}
	return nil
}

// ParseNetworkAttachment parses a --network value: a mode or network
// name, or Docker's long syntax name=NET[,alias=A]...[,ip=IP][,ip6=IP6]
// [,mac-address=MAC][,gw-priority=N].
func ParseNetworkAttachment(v string) (container.NetworkAttachment, error) {
	if !strings.HasPrefix(v, "container:") && strings.Contains(v, "=") {
		return parseLongNetwork(v)
	}
	return container.NetworkAttachment{Network: v}, nil
}

func parseLongNetwork(v string) (container.NetworkAttachment, error) {
	var a container.NetworkAttachment
	for _, field := range strings.Split(v, ",") {
		key, val, ok := strings.Cut(field, "=")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if !ok || key == "" {
			return a, fmt.Errorf("invalid --network %q: invalid field %s", v, field)
		}
		switch key {
		case "name":
			a.Network = val
		case "alias":
			a.Aliases = append(a.Aliases, val)
		case "ip":
			if ip, err := netip.ParseAddr(val); err != nil || !ip.Is4() {
				return a, fmt.Errorf("invalid --network %q: ip=%s is not an IPv4 address", v, val)
			}
			a.IPv4 = val
		case "ip6":
			if ip, err := netip.ParseAddr(val); err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
				return a, fmt.Errorf("invalid --network %q: ip6=%s is not an IPv6 address", v, val)
			}
			a.IPv6 = val
		case "mac-address":
			if _, err := net.ParseMAC(val); err != nil || len(val) != 17 {
				return a, fmt.Errorf("invalid --network %q: mac-address=%s: want six hex pairs like 92:d0:c6:0a:29:33", v, val)
			}
			a.MAC = val
		case "gw-priority":
			p, err := strconv.Atoi(val)
			if err != nil {
				return a, fmt.Errorf("invalid gw-priority (%s): want an integer", val)
			}
			a.GwPriority = p
		case "driver-opt":
			if err := ApplyDriverOpt(&a, val); err != nil {
				return a, fmt.Errorf("invalid --network %q: %w", v, err)
			}
		case "link-local-ip":
			return a, fmt.Errorf("invalid --network %q: %s is not supported by berth", v, key)
		default:
			return a, fmt.Errorf("invalid --network %q: invalid field key %s", v, key)
		}
	}
	if a.Network == "" {
		return a, fmt.Errorf("invalid --network %q: network name/id is not specified", v)
	}
	return a, nil
}

// ApplyDriverOpt applies an endpoint driver option KEY=VALUE (driver-opt=
// of --network, network connect --driver-opt): berth knows only Docker
// 28's com.docker.network.endpoint.ifname=NAME, the interface's name.
func ApplyDriverOpt(a *container.NetworkAttachment, opt string) error {
	k, ifName, _ := strings.Cut(opt, "=")
	if strings.ToLower(strings.TrimSpace(k)) != "com.docker.network.endpoint.ifname" || ifName == "" {
		return fmt.Errorf("driver-opt %s is not supported by berth (only com.docker.network.endpoint.ifname=NAME)", opt)
	}
	a.IfName = strings.TrimSpace(ifName)
	return nil
}

// merge adds the --ip, --ip6, --network-alias and --mac-address flags to
// the first network's own options; giving both is a conflict, as in
// Docker's CLI.
func mergeFlags(a *container.NetworkAttachment, n Network) error {
	conflict := func(flag, what string) error {
		return fmt.Errorf("conflicting options: cannot specify both %s and per-network %s", flag, what)
	}
	switch {
	case len(n.Aliases) > 0 && len(a.Aliases) > 0:
		return conflict("--network-alias", "alias")
	case n.IP != "" && a.IPv4 != "":
		return conflict("--ip", "IPv4 address")
	case n.IP6 != "" && a.IPv6 != "":
		return conflict("--ip6", "IPv6 address")
	case n.MAC != "" && a.MAC != "":
		return conflict("--mac-address", "MAC address")
	}
	if len(n.Aliases) > 0 {
		a.Aliases = n.Aliases
	}
	if n.IP != "" {
		a.IPv4 = n.IP
	}
	if n.IP6 != "" {
		a.IPv6 = n.IP6
	}
	if n.MAC != "" {
		a.MAC = n.MAC
	}
	return nil
}

func checkExtraHost(h string) error {
	name, ip, ok := strings.Cut(h, ":")
	if !ok || name == "" {
		return fmt.Errorf("invalid --add-host %q: want name:ip", h)
	}
	if ip == "host-gateway" {
		return nil
	}
	if _, err := netip.ParseAddr(ip); err != nil {
		return fmt.Errorf("invalid --add-host %q: %q is not an IP address (or host-gateway)", h, ip)
	}
	return nil
}

// PortBindings parses -p values: [ip:][hostPort[-end]:]containerPort[-end][/tcp|/udp].
func PortBindings(specs []string) ([]container.PortBinding, error) {
	var out []container.PortBinding
	for _, spec := range specs {
		ms, err := network.ParsePortSpec(spec)
		if err != nil {
			return nil, trimErr(err)
		}
		for _, m := range ms {
			b := container.PortBinding{HostPort: m.HostPort, ContainerPort: m.ContainerPort, Proto: m.Proto}
			if m.HostIP.IsValid() {
				b.HostIP = m.HostIP.String()
			}
			out = append(out, b)
		}
	}
	return out, nil
}

// ExposedPorts parses --expose values (80, 80/udp, 8000-8010[/tcp]) into
// "port/proto" entries.
func ExposedPorts(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		ports, proto, _ := strings.Cut(v, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("invalid --expose %q: the protocol must be tcp or udp", v)
		}
		loS, hiS, isRange := strings.Cut(ports, "-")
		lo, err1 := strconv.ParseUint(loS, 10, 16)
		hi := lo
		var err2 error
		if isRange {
			hi, err2 = strconv.ParseUint(hiS, 10, 16)
		}
		if err1 != nil || err2 != nil || lo == 0 || hi < lo {
			return nil, fmt.Errorf("invalid --expose %q: want a port (1-65535) or a range such as 8000-8010", v)
		}
		for p := lo; p <= hi; p++ {
			out = append(out, fmt.Sprintf("%d/%s", p, proto))
		}
	}
	return out, nil
}

// FormatPorts renders published ports as `docker ps` does:
// "0.0.0.0:8080->80/tcp, 0.0.0.0:8443->443/tcp", sorted by container port.
func FormatPorts(ports []container.PortBinding) string {
	ps := append([]container.PortBinding(nil), ports...)
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].ContainerPort != ps[j].ContainerPort {
			return ps[i].ContainerPort < ps[j].ContainerPort
		}
		return protoOf(ps[i]) < protoOf(ps[j])
	})
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s->%d/%s", HostAddr(p), p.ContainerPort, protoOf(p))
	}
	return strings.Join(parts, ", ")
}

// HostAddr is a binding's host side, "0.0.0.0:32768".
func HostAddr(p container.PortBinding) string {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(p.HostPort)))
}

func protoOf(p container.PortBinding) string {
	if p.Proto == "" {
		return "tcp"
	}
	return p.Proto
}

// trimErr drops the errdefs class suffix (": invalid argument") from a
// parser's message: the CLI prints its own context.
func trimErr(err error) error {
	return fmt.Errorf("%s", strings.TrimSuffix(err.Error(), ": invalid argument"))
}
