package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// PortMapping publishes a container port on the host.
type PortMapping struct {
	// HostIP is the host address to publish on; the zero Addr means every
	// address (0.0.0.0), including 127.0.0.1.
	HostIP netip.Addr `json:"hostIP,omitzero"`
	// HostPort 0 asks for a free ephemeral port; Setup returns the port
	// chosen in Sandbox.Ports.
	HostPort      uint16 `json:"hostPort"`
	ContainerPort uint16 `json:"containerPort"`
	// Proto is "tcp" (default) or "udp".
	Proto string `json:"proto"`
}

// HostAddr is the host side of p, as errors name it: 0.0.0.0:8080/tcp.
func (p PortMapping) HostAddr() string {
	ip := "0.0.0.0"
	if p.HostIP.IsValid() {
		ip = p.HostIP.String()
		if p.HostIP.Is6() && !p.HostIP.Is4In6() {
			ip = "[" + ip + "]"
		}
	}
	return fmt.Sprintf("%s:%d/%s", ip, p.HostPort, p.Proto)
}

// String formats p like docker ps: 0.0.0.0:8080->80/tcp.
func (p PortMapping) String() string {
	return fmt.Sprintf("%s->%d/%s", strings.TrimSuffix(p.HostAddr(), "/"+p.Proto), p.ContainerPort, p.Proto)
}

// ParsePortSpec parses one -p/--publish value:
// [ip:][hostPort[-hostEnd]:]containerPort[-containerEnd][/tcp|/udp].
// A range of host ports must be as long as the container port range; an
// empty host port means "any free port" (HostPort 0).
func ParsePortSpec(spec string) ([]PortMapping, error) {
	bad := func(why string) error { return errInvalid("invalid port spec %q: %s", spec, why) }
	proto := "tcp"
	if i := strings.LastIndex(spec, "/"); i >= 0 {
		proto = strings.ToLower(spec[i+1:])
		spec = spec[:i]
		if proto != "tcp" && proto != "udp" {
			return nil, bad("protocol must be tcp or udp")
		}
	}
	var ipStr, hostStr, contStr string
	var v6 bool
	if rest, ok := strings.CutPrefix(spec, "["); ok {
		// [IPv6]:hostPort:containerPort, as Docker.
		addr, after, ok := strings.Cut(rest, "]")
		if !ok || !strings.HasPrefix(after, ":") {
			return nil, bad("an IPv6 host address is written [ADDR]:HOSTPORT:CONTAINERPORT")
		}
		ipStr, spec, v6 = addr, after[1:], true
		if ipStr == "" {
			return nil, bad("empty IPv6 address in brackets")
		}
	}
	parts := strings.Split(spec, ":")
	if v6 {
		if len(parts) != 2 {
			return nil, bad("an IPv6 host address is written [ADDR]:HOSTPORT:CONTAINERPORT")
		}
		parts = append([]string{ipStr}, parts...)
	}
	switch len(parts) {
	case 1:
		contStr = parts[0]
	case 2:
		hostStr, contStr = parts[0], parts[1]
	case 3:
		ipStr, hostStr, contStr = parts[0], parts[1], parts[2]
	default:
		return nil, bad("too many colons")
	}
	var hostIP netip.Addr
	if ipStr != "" {
		a, err := netip.ParseAddr(ipStr)
		if err != nil || a.Zone() != "" || a.Is4In6() || (a.Is6() && !v6) || (a.Is4() && v6) {
			return nil, bad("host IP must be an IPv4 address or an IPv6 one in brackets ([::1])")
		}
		if !a.IsUnspecified() {
			hostIP = a
		}
	}
	cLo, cHi, err := parsePortRange(contStr)
	if err != nil || cLo == 0 {
		return nil, bad("container port must be 1-65535")
	}
	var hLo, hHi uint16
	if hostStr != "" {
		if hLo, hHi, err = parsePortRange(hostStr); err != nil || hLo == 0 {
			return nil, bad("host port must be 1-65535")
		}
		if hHi-hLo != cHi-cLo {
			return nil, bad("host and container port ranges differ in length")
		}
	}
	var out []PortMapping
	for i := 0; i <= int(cHi-cLo); i++ {
		pm := PortMapping{HostIP: hostIP, ContainerPort: cLo + uint16(i), Proto: proto}
		if hLo != 0 {
			pm.HostPort = hLo + uint16(i)
		}
		out = append(out, pm)
	}
	return out, nil
}

func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	l, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	h := l
	if isRange {
		if h, err = strconv.ParseUint(b, 10, 16); err != nil {
			return 0, 0, err
		}
	}
	if h < l {
		return 0, 0, errors.New("empty range")
	}
	return uint16(l), uint16(h), nil
}

func errInvalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}
