package cni

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
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

func (p PortMapping) hostAddr() string {
	ip := "0.0.0.0"
	if p.HostIP.IsValid() {
		ip = p.HostIP.String()
	}
	return fmt.Sprintf("%s:%d/%s", ip, p.HostPort, p.Proto)
}

// String formats p like docker ps: 0.0.0.0:8080->80/tcp.
func (p PortMapping) String() string {
	return fmt.Sprintf("%s->%d/%s", strings.TrimSuffix(p.hostAddr(), "/"+p.Proto), p.ContainerPort, p.Proto)
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
	if strings.HasPrefix(spec, "[") {
		return nil, bad("IPv6 is not supported")
	}
	parts := strings.Split(spec, ":")
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
		if err != nil || !a.Is4() {
			return nil, bad("host IP must be an IPv4 address")
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

// portTable reserves host ports for berth's containers. A reservation is
// checked against other containers' reservations and held as a bound (never
// listening) socket, so a host process cannot take the port later either
// and a port another program already uses fails at Setup, before CNI ADD.
type portTable struct {
	mu   sync.Mutex
	held map[string][]heldPort // by owner (container ID)
}

type heldPort struct {
	PortMapping
	fd int
}

func newPortTable() *portTable { return &portTable{held: map[string][]heldPort{}} }

func conflicts(a, b PortMapping) bool {
	return a.Proto == b.Proto && a.HostPort == b.HostPort &&
		(!a.HostIP.IsValid() || !b.HostIP.IsValid() || a.HostIP == b.HostIP)
}

// reserve reserves every mapping for owner and returns them with ephemeral
// ports resolved. On error nothing stays reserved.
func (t *portTable) reserve(owner string, ports []PortMapping) (out []PortMapping, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var got []heldPort
	defer func() {
		if err != nil {
			for _, h := range got {
				unix.Close(h.fd)
			}
		}
	}()
	for _, p := range ports {
		if p.Proto == "" {
			p.Proto = "tcp"
		}
		if p.Proto != "tcp" && p.Proto != "udp" {
			return nil, errInvalid("port %d: protocol must be tcp or udp", p.ContainerPort)
		}
		if p.ContainerPort == 0 {
			return nil, errInvalid("container port 0")
		}
		if p.HostPort != 0 {
			for o, hs := range t.held {
				for _, h := range hs {
					if conflicts(h.PortMapping, p) {
						return nil, fmt.Errorf("bind for %s failed: port is already allocated (by container %.12s): %w", p.hostAddr(), o, errdefs.ErrConflict)
					}
				}
			}
			for _, h := range got {
				if conflicts(h.PortMapping, p) {
					return nil, fmt.Errorf("bind for %s failed: port is published twice: %w", p.hostAddr(), errdefs.ErrInvalidArgument)
				}
			}
		}
		fd, port, err := bindPort(p)
		if err != nil {
			return nil, err
		}
		p.HostPort = port
		got = append(got, heldPort{PortMapping: p, fd: fd})
		out = append(out, p)
	}
	if len(got) > 0 {
		t.held[owner] = append(t.held[owner], got...)
	}
	return out, nil
}

// release closes owner's reservations.
func (t *portTable) release(owner string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range t.held[owner] {
		unix.Close(h.fd)
	}
	delete(t.held, owner)
}

func (t *portTable) releaseAll() {
	t.mu.Lock()
	owners := make([]string, 0, len(t.held))
	for o := range t.held {
		owners = append(owners, o)
	}
	t.mu.Unlock()
	for _, o := range owners {
		t.release(o)
	}
}

// bindPort binds (without listening) the host port of p and returns the
// socket and the port bound.
func bindPort(p PortMapping) (int, uint16, error) {
	typ := unix.SOCK_STREAM
	if p.Proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("reserve host port: %w", err)
	}
	sa := &unix.SockaddrInet4{Port: int(p.HostPort)}
	if p.HostIP.IsValid() {
		sa.Addr = p.HostIP.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		switch {
		case errors.Is(err, unix.EADDRINUSE):
			return -1, 0, fmt.Errorf("bind for %s failed: port is already in use on the host: %w", p.hostAddr(), errdefs.ErrConflict)
		case errors.Is(err, unix.EADDRNOTAVAIL):
			return -1, 0, fmt.Errorf("bind for %s failed: %s is not an address of this host: %w", p.hostAddr(), p.HostIP, errdefs.ErrInvalidArgument)
		}
		return -1, 0, fmt.Errorf("bind for %s failed: %w", p.hostAddr(), err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, uint16(got.(*unix.SockaddrInet4).Port), nil
}
