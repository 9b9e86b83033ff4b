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
		&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Usage: "connect to a network: bridge, host, none, container:NAME|ID, or a network's name"},
		&cli.StringFlag{Name: "ip", Usage: "IPv4 address on the network (user-defined networks)"},
		&cli.StringFlag{Name: "ip6", Usage: "IPv6 address on the network (user-defined networks created with --ipv6)"},
		&cli.StringSliceFlag{Name: "network-alias", Aliases: []string{"net-alias"}, Usage: "another name of the container on its network"},
		&cli.StringFlag{Name: "mac-address", Usage: "MAC address of the container's interface (e.g. 92:d0:c6:0a:29:33)"},
		&cli.StringSliceFlag{Name: "dns", Usage: "DNS server to use"},
		&cli.StringSliceFlag{Name: "dns-search", Usage: "DNS search domain"},
		&cli.StringSliceFlag{Name: "dns-option", Aliases: []string{"dns-opt"}, Usage: "resolver option (resolv.conf's options, e.g. ndots:2)"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "add a line to /etc/hosts: name:ip (ip may be host-gateway)"},
	}
}

// ApplyNetwork puts the values of NetworkFlags into cfg.
func ApplyNetwork(c *cli.Context, cfg *container.Config) error {
	return Network{
		Publish:    c.StringSlice("publish"),
		PublishAll: c.Bool("publish-all"),
		Expose:     c.StringSlice("expose"),
		Mode:       c.String("network"),
		IP:         c.String("ip"),
		IP6:        c.String("ip6"),
		Aliases:    c.StringSlice("network-alias"),
		MAC:        c.String("mac-address"),
		DNS:        c.StringSlice("dns"),
		DNSSearch:  c.StringSlice("dns-search"),
		DNSOptions: c.StringSlice("dns-option"),
		AddHosts:   c.StringSlice("add-host"),
	}.Apply(cfg)
}

// Network holds the raw values of the networking flags.
type Network struct {
	Publish    []string
	PublishAll bool
	Expose     []string
	Mode       string
	IP         string
	IP6        string
	Aliases    []string
	MAC        string
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	AddHosts   []string
}

// Apply checks the values and sets cfg's network fields, with Docker's
// rules and messages.
func (n Network) Apply(cfg *container.Config) error {
	mode := n.Mode
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
	if n.IP != "" || n.IP6 != "" || len(n.Aliases) > 0 || n.MAC != "" {
		network := mode
		if network == "" {
			network = "bridge"
		}
		cfg.Networks = []container.NetworkAttachment{{Network: network, IPv4: n.IP, IPv6: n.IP6, Aliases: n.Aliases, MAC: n.MAC}}
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
