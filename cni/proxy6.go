package cni

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel does not route IPv6 loopback: a connection to [::1]:PORT
// DNAT'd to a container leaves with source ::1, which the container's
// stack drops (RFC 4291; IPv6 has no route_localnet). Docker's
// docker-proxy serves those connections; berth does it in berthd, on
// the socket that already reserves the port: for a TCP port published
// on [::1], or on every address by a dual-stack container, that socket
// listens and each connection is relayed to the container's IPv6
// address. berth's ip6 output chain leaves ::1 alone, so only these
// connections reach the socket (from elsewhere, prerouting DNATs first).

// loopbackProxy relays the TCP connections accepted on one reserved
// socket to a container address.
type loopbackProxy struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

// listen6 returns the IPv6 socket of h that serves [::1] (its own
// socket for a ::1 host address, the [::] one of a dual-stack mapping),
// or -1.
func (h heldPort) listen6() int {
	if h.Proto != "tcp" {
		return -1
	}
	if h.HostIP.IsValid() && h.HostIP.IsLoopback() && h.HostIP.Is6() {
		return h.fd
	}
	return h.fd6
}

// startProxies relays owner's [::1] TCP ports to ip6 (the container's
// IPv6 address). Ports already relayed are left alone.
func (t *portTable) startProxies(owner string, ip6 netip.Addr) error {
	if !ip6.IsValid() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	hs := t.held[owner]
	for i := range hs {
		h := &hs[i]
		fd := h.listen6()
		if fd < 0 || h.proxy != nil {
			continue
		}
		if err := unix.Listen(fd, 128); err != nil {
			return err
		}
		// The listener gets its own descriptor of the socket: the
		// reservation keeps fd (an os.File owning it would close it).
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(dup), "")
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return err
		}
		p := &loopbackProxy{ln: ln, to: net.JoinHostPort(ip6.String(), strconv.Itoa(int(h.ContainerPort))), conns: map[net.Conn]struct{}{}}
		h.proxy = p
		go p.serve()
	}
	return nil
}

func (p *loopbackProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		go p.relay(c)
	}
}

func (p *loopbackProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *loopbackProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *loopbackProxy) relay(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.to, 10*time.Second)
	if err != nil {
		p.untrack(c)
		return
	}
	if !p.track(up) {
		p.untrack(c, up)
		return
	}
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	wg.Add(2)
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
	p.untrack(c, up)
}

// close stops accepting and ends the relayed connections.
func (p *loopbackProxy) close() {
	p.mu.Lock()
	p.done = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	p.ln.Close()
	for c := range conns {
		c.Close()
	}
}
