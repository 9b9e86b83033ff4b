package cni

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// portTable reserves host ports for berth's containers. A reservation is
// checked against other containers' reservations and held as a bound (never
// listening) socket, so a host process cannot take the port later either
// and a port another program already uses fails at Setup, before CNI ADD.
type portTable struct {
	mu   sync.Mutex
	held map[string][]heldPort // by owner (container ID)
}

type heldPort struct {
	networktypes.PortMapping
	fd  int
	fd6 int // [::]:port too, for every address of a dual-stack container; else -1
	// proxy relays [::1] connections (proxy6.go), once started.
	proxy *loopbackProxy
}

func (h heldPort) close() {
	if h.proxy != nil {
		h.proxy.close()
	}
	unix.Close(h.fd)
	if h.fd6 >= 0 {
		unix.Close(h.fd6)
	}
}

func newPortTable() *portTable { return &portTable{held: map[string][]heldPort{}} }

func conflicts(a, b networktypes.PortMapping) bool {
	return a.Proto == b.Proto && a.HostPort == b.HostPort &&
		(!a.HostIP.IsValid() || !b.HostIP.IsValid() || a.HostIP == b.HostIP)
}

// reserve reserves every mapping for owner and returns them with ephemeral
// ports resolved. dual: the container has an IPv6 address, so a mapping
// on every address holds the port on [::] too. On error nothing stays
// reserved.
func (t *portTable) reserve(owner string, ports []networktypes.PortMapping, dual bool) (out []networktypes.PortMapping, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var got []heldPort
	defer func() {
		if err != nil {
			for _, h := range got {
				h.close()
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
						return nil, fmt.Errorf("bind for %s failed: port is already allocated (by container %.12s): %w", p.HostAddr(), o, errdefs.ErrConflict)
					}
				}
			}
			for _, h := range got {
				if conflicts(h.PortMapping, p) {
					return nil, fmt.Errorf("bind for %s failed: port is published twice: %w", p.HostAddr(), errdefs.ErrInvalidArgument)
				}
			}
		}
		h, err := bindPorts(p, dual && (!p.HostIP.IsValid() || p.HostIP.IsUnspecified()))
		if err != nil {
			return nil, err
		}
		p.HostPort = h.HostPort
		got = append(got, h)
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
		h.close()
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

// bindPorts binds p's host port, and with dual the same port on [::]
// (an ephemeral port is picked again, a few times, when the IPv6 one is
// taken).
func bindPorts(p networktypes.PortMapping, dual bool) (heldPort, error) {
	for try := 0; ; try++ {
		fd, port, err := bindPort(p)
		if err != nil {
			return heldPort{}, err
		}
		h := heldPort{PortMapping: p, fd: fd, fd6: -1}
		h.HostPort = port
		if !dual {
			return h, nil
		}
		p6 := h.PortMapping
		p6.HostIP = netip.IPv6Unspecified()
		fd6, _, err := bindPort(p6)
		if err == nil {
			h.fd6 = fd6
			return h, nil
		}
		unix.Close(fd)
		if p.HostPort != 0 || try == 8 || !errdefs.IsConflict(err) {
			return heldPort{}, err
		}
	}
}

// bindPort binds (without listening) the host port of p and returns the
// socket and the port bound. An IPv6 host address (:: included) binds
// an IPv6-only socket.
func bindPort(p networktypes.PortMapping) (int, uint16, error) {
	typ := unix.SOCK_STREAM
	if p.Proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	v6 := p.HostIP.Is6() && !p.HostIP.Is4In6()
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("reserve host port: %w", err)
	}
	var sa unix.Sockaddr
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return -1, 0, fmt.Errorf("reserve host port: %w", err)
		}
		sa = &unix.SockaddrInet6{Port: int(p.HostPort), Addr: p.HostIP.As16()}
	} else {
		sa4 := &unix.SockaddrInet4{Port: int(p.HostPort)}
		if p.HostIP.IsValid() {
			sa4.Addr = p.HostIP.As4()
		}
		sa = sa4
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		switch {
		case errors.Is(err, unix.EADDRINUSE):
			return -1, 0, fmt.Errorf("bind for %s failed: port is already in use on the host: %w", p.HostAddr(), errdefs.ErrConflict)
		case errors.Is(err, unix.EADDRNOTAVAIL):
			return -1, 0, fmt.Errorf("bind for %s failed: %s is not an address of this host: %w", p.HostAddr(), p.HostIP, errdefs.ErrInvalidArgument)
		}
		return -1, 0, fmt.Errorf("bind for %s failed: %w", p.HostAddr(), err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return fd, uint16(a.Port), nil
	case *unix.SockaddrInet6:
		return fd, uint16(a.Port), nil
	}
	unix.Close(fd)
	return -1, 0, fmt.Errorf("reserve host port: unexpected socket address %T", got)
}
