package cni

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// The engine writes the three files below to <root>/containers/<id>/ and
// bind-mounts them over /etc/hosts, /etc/resolv.conf and /etc/hostname.
// Render them again after Connect/Disconnect.

// HostnameFile renders /etc/hostname.
func HostnameFile(sb *Sandbox) []byte { return []byte(sb.Hostname + "\n") }

// HostsFile renders /etc/hosts: localhost entries, the --add-host entries,
// and the container's address on each network with its hostname (host mode:
// the host's /etc/hosts plus the --add-host entries).
func (m *Manager) HostsFile(sb *Sandbox) ([]byte, error) {
	var b bytes.Buffer
	if sb.Mode == ModeHost {
		host, err := os.ReadFile(m.cfg.HostHosts)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		b.Write(host)
		if len(host) > 0 && !bytes.HasSuffix(host, []byte("\n")) {
			b.WriteByte('\n')
		}
	} else {
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
			"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	}
	gw := m.cfg.HostGatewayIP
	if !gw.IsValid() && len(sb.Endpoints) > 0 {
		gw = sb.Endpoints[0].Gateway
	}
	for _, h := range sb.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			name, ip, ok = strings.Cut(h, "=")
		}
		if !ok || name == "" {
			return nil, errInvalid("invalid extra host %q: want name:ip", h)
		}
		if ip == "host-gateway" {
			if !gw.IsValid() {
				return nil, errInvalid("extra host %q: the container has no gateway", h)
			}
			ip = gw.String()
		}
		a, err := netip.ParseAddr(strings.Trim(ip, "[]"))
		if err != nil {
			return nil, errInvalid("invalid extra host %q: %v", h, err)
		}
		fmt.Fprintf(&b, "%s\t%s\n", a, name)
	}
	for _, ep := range sb.Endpoints {
		if ep.IPv4.IsValid() {
			fmt.Fprintf(&b, "%s\t%s\n", ep.IPv4.Addr(), sb.Hostname)
		}
	}
	return b.Bytes(), nil
}

type resolvConf struct {
	nameservers, search, options []string
}

func parseResolvConf(path string) (resolvConf, error) {
	var rc resolvConf
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return rc, nil
	}
	if err != nil {
		return rc, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			rc.nameservers = append(rc.nameservers, fields[1])
		case "search", "domain":
			rc.search = fields[1:]
		case "options":
			rc.options = append(rc.options, fields[1:]...)
		}
	}
	return rc, sc.Err()
}

// ResolvConf renders /etc/resolv.conf. On a network with the embedded DNS
// (the primary one, else the first other that has it) the only nameserver
// is berth's DNS on the network gateway (--dns servers
// become its upstreams for this container). Elsewhere: --dns, else the
// host's nameservers without loopback ones (unreachable from a netns); if
// none remain, the default bridge's gateway, where berth forwards to the
// host's resolvers. Search and options come from --dns-search/--dns-option
// or else the host.
func (m *Manager) ResolvConf(sb *Sandbox) ([]byte, error) {
	host, err := parseResolvConf(m.cfg.HostResolvConf)
	if err != nil {
		return nil, err
	}
	search, options := host.search, host.options
	if len(sb.DNSSearch) > 0 {
		search = sb.DNSSearch
	}
	if len(sb.DNSOptions) > 0 {
		options = sb.DNSOptions
	}
	var ns []string
	switch {
	case sb.Mode == ModeHost && len(sb.DNS) == 0:
		ns = host.nameservers
	case dnsServer(sb).IsValid():
		ns = []string{dnsServer(sb).String()}
	case len(sb.DNS) > 0:
		ns = sb.DNS
	default:
		for _, s := range host.nameservers {
			if a, err := netip.ParseAddr(s); err == nil && !a.IsLoopback() {
				ns = append(ns, s)
			}
		}
		if len(ns) == 0 && len(sb.Endpoints) > 0 && sb.Endpoints[0].Driver == networktypes.DriverBridge {
			// berth's forward-only listener on the bridge gateway.
			ns = []string{sb.Endpoints[0].Gateway.String()}
		}
	}
	var b bytes.Buffer
	for _, s := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes(), nil
}

// dnsServer is the embedded DNS address a container uses: its primary
// network's, or else that of the first of its other networks that has one
// (a container on the default bridge and a user network resolves names).
func dnsServer(sb *Sandbox) netip.Addr {
	for _, ep := range sb.Endpoints {
		if ep.DNSServer.IsValid() {
			return ep.DNSServer
		}
	}
	return netip.Addr{}
}
