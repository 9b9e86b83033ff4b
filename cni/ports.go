package cni

import (
	"errors"
	"fmt"
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
	fd int
}

func newPortTable() *portTable { return &portTable{held: map[string][]heldPort{}} }

func conflicts(a, b networktypes.PortMapping) bool {
	return a.Proto == b.Proto && a.HostPort == b.HostPort &&
		(!a.HostIP.IsValid() || !b.HostIP.IsValid() || a.HostIP == b.HostIP)
}

// reserve reserves every mapping for owner and returns them with ephemeral
// ports resolved. On error nothing stays reserved.
func (t *portTable) reserve(owner string, ports []networktypes.PortMapping) (out []networktypes.PortMapping, err error) {
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
func bindPort(p networktypes.PortMapping) (int, uint16, error) {
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
	return fd, uint16(got.(*unix.SockaddrInet4).Port), nil
}
