// Package dns is berth's embedded DNS server for user-defined networks.
//
// Design: berthd runs one Server in the host's network namespace. For each
// network with name resolution it listens on the network's gateway address,
// port 53, UDP and TCP (the gateway address lives on the network's bridge in
// the host namespace, so containers reach it directly; the sockets use
// IP_FREEBIND so they can be opened before the bridge has its address). The
// container's resolv.conf names that gateway as its only nameserver.
//
// A query is answered only when the asker's source address is inside the
// subnet of the network whose listener received it (anything else is
// refused: berth is no open resolver), from that network's records: names of
// containers on other networks never resolve. Every other
// query is forwarded, from the host side, to the upstream resolvers (by
// default the host's /etc/resolv.conf nameservers, loopback ones included,
// since berthd itself can reach them). Internal networks do not forward.
package dns

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// TTL of the A records the server answers for containers.
const recordTTL = 600

// Config configures a Server.
type Config struct {
	// Upstreams are "ip:port" resolvers that queries for other names are
	// forwarded to. Empty: the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for upstreams when Upstreams is empty
	// (default /etc/resolv.conf).
	ResolvConf string
	// Port the per-network listeners use (default 53).
	Port int
	// Timeout for one upstream exchange (default 2s).
	Timeout time.Duration
}

// Network describes one network the server answers for.
type Network struct {
	Name string
	// Listen is the address to listen on (the network's gateway).
	Listen netip.Addr
	// Subnet holds the addresses of the network's containers; Subnet6
	// their IPv6 addresses on a dual-stack network.
	Subnet  netip.Prefix
	Subnet6 netip.Prefix
	// ResolveNames enables container-name records (user-defined networks).
	ResolveNames bool
	// Forward enables forwarding of other names to the upstreams.
	Forward bool
}

type record struct {
	ips       []netip.Addr // IPv4, then IPv6 on a dual-stack network
	names     []string     // lower case, no trailing dot
	upstreams []string     // per-container override of the upstreams (--dns)
	// links are the container's legacy links on a user-defined network:
	// alias → name, resolved for this container only.
	links map[string]string
}

type network struct {
	Network
	udp     *net.UDPConn
	tcp     net.Listener
	records map[string]*record // by container ID
}

// Server answers DNS queries for berth networks. Its methods are safe for
// concurrent use.
type Server struct {
	cfg       Config
	mu        sync.RWMutex
	upstreams []string
	nets      map[string]*network
	wg        sync.WaitGroup
	closed    bool
	inflight  chan struct{} // bounds concurrent UDP queries
}

// New returns a Server. It does not listen until AddNetwork is called.
func New(cfg Config) (*Server, error) {
	if cfg.Port == 0 {
		cfg.Port = 53
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	up := cfg.Upstreams
	if len(up) == 0 {
		ns, err := HostNameservers(cfg.ResolvConf)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, n := range ns {
			up = append(up, net.JoinHostPort(n, "53"))
		}
	}
	return &Server{cfg: cfg, upstreams: up, nets: map[string]*network{}, inflight: make(chan struct{}, 256)}, nil
}

// Upstreams returns the resolvers the server forwards to.
func (s *Server) Upstreams() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.upstreams)
}

// HostNameservers returns the nameserver addresses listed in a resolv.conf.
func HostNameservers(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				out = append(out, a.WithZone("").String())
			}
		}
	}
	return out, sc.Err()
}

func freebind(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// AddNetwork starts answering for a network: it opens the UDP and TCP
// listeners on n.Listen. Adding a network that is already present replaces
// its settings and keeps its records and listeners.
func (s *Server) AddNetwork(n Network) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("dns server closed")
	}
	if old, ok := s.nets[n.Name]; ok && old.Listen == n.Listen {
		old.Network = n
		return nil
	} else if ok {
		s.closeNetworkLocked(old)
	}
	addr := net.JoinHostPort(n.Listen.String(), fmt.Sprint(s.cfg.Port))
	lc := net.ListenConfig{Control: freebind}
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		return fmt.Errorf("dns: listen udp %s: %w", addr, err)
	}
	ln, err := lc.Listen(context.Background(), "tcp4", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns: listen tcp %s: %w", addr, err)
	}
	nw := &network{Network: n, udp: pc.(*net.UDPConn), tcp: ln, records: map[string]*record{}}
	if old, ok := s.nets[n.Name]; ok {
		nw.records = old.records
	}
	s.nets[n.Name] = nw
	s.wg.Add(2)
	go s.serveUDP(nw)
	go s.serveTCP(nw)
	return nil
}

func (s *Server) closeNetworkLocked(nw *network) {
	nw.udp.Close()
	nw.tcp.Close()
}

// RemoveNetwork stops answering for a network and drops its records.
func (s *Server) RemoveNetwork(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nw, ok := s.nets[name]; ok {
		s.closeNetworkLocked(nw)
		delete(s.nets, name)
	}
}

// Close stops every listener and waits for the serving goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for name, nw := range s.nets {
		s.closeNetworkLocked(nw)
		delete(s.nets, name)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func normName(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }

// Register adds (or replaces) the records of a container on a network: every
// name resolves to ip for askers on the same network. upstreams, when not
// empty, replaces the server's upstreams for queries from this container
// (the container's --dns). Unknown networks are ignored.
func (s *Server) Register(networkName, containerID string, ip netip.Addr, names []string, upstreams []string) {
	s.RegisterAddrs(networkName, containerID, []netip.Addr{ip}, names, upstreams)
}

// RegisterAddrs is Register with several addresses (IPv4 and IPv6 of a
// container on a dual-stack network): names answer A with the IPv4 ones
// and AAAA with the IPv6 ones.
func (s *Server) RegisterAddrs(networkName, containerID string, ips []netip.Addr, names []string, upstreams []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nw, ok := s.nets[networkName]
	if !ok {
		return
	}
	r := &record{ips: slices.Clone(ips), upstreams: slices.Clone(upstreams)}
	for _, n := range names {
		if n = normName(n); n != "" && !slices.Contains(r.names, n) {
			r.names = append(r.names, n)
		}
	}
	nw.records[containerID] = r
}

// SetLinks gives a registered container aliases that only it resolves
// (legacy links on a user-defined network): each alias answers as the name
// it maps to. Unknown networks and containers are ignored.
func (s *Server) SetLinks(networkName, containerID string, links map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nw, ok := s.nets[networkName]
	if !ok {
		return
	}
	r, ok := nw.records[containerID]
	if !ok {
		return
	}
	r.links = map[string]string{}
	for alias, name := range links {
		r.links[normName(alias)] = normName(name)
	}
}

// Unregister removes a container's records from one network, or from every
// network when networkName is empty.
func (s *Server) Unregister(networkName, containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, nw := range s.nets {
		if networkName == "" || name == networkName {
			delete(nw.records, containerID)
		}
	}
}

// Rename replaces oldName with newName in the container's records on every
// network.
func (s *Server) Rename(containerID, oldName, newName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldName, newName = normName(oldName), normName(newName)
	for _, nw := range s.nets {
		r, ok := nw.records[containerID]
		if !ok {
			continue
		}
		r.names = slices.DeleteFunc(r.names, func(n string) bool { return n == oldName })
		if newName != "" && !slices.Contains(r.names, newName) {
			r.names = append(r.names, newName)
		}
	}
}

// Lookup returns the addresses name resolves to on a network, as a container
// of that network would see them.
func (s *Server) Lookup(networkName, name string) []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	nw, ok := s.nets[networkName]
	if !ok || !nw.ResolveNames {
		return nil
	}
	return lookupLocked(nw, normName(name))
}

func lookupLocked(nw *network, name string) []netip.Addr {
	// <name>.<network> resolves like <name>, as in Docker.
	if short, ok := strings.CutSuffix(name, "."+strings.ToLower(nw.Name)); ok && short != "" {
		name = short
	}
	var out []netip.Addr
	for _, r := range nw.records {
		if slices.Contains(r.names, name) {
			for _, ip := range r.ips {
				if !slices.Contains(out, ip) {
					out = append(out, ip)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// maxUDPQuery is the largest query read over UDP: a question and EDNS
// options fit many times over (Docker's embedded DNS reads 512 bytes). A
// 64 kB buffer would sit on the listener goroutine's stack and hold 128 kB
// of berthd's memory per network for as long as the network exists.
const maxUDPQuery = 4096

func (s *Server) serveUDP(nw *network) {
	defer s.wg.Done()
	buf := make([]byte, maxUDPQuery)
	for {
		n, src, err := nw.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		q := slices.Clone(buf[:n])
		select {
		case s.inflight <- struct{}{}:
		default:
			continue // overloaded: drop, the client retries
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.inflight }()
			if resp := s.handle(nw, src.Addr().Unmap(), q, false); resp != nil {
				_, _ = nw.udp.WriteToUDPAddrPort(resp, src)
			}
		}()
	}
}

func (s *Server) serveTCP(nw *network) {
	defer s.wg.Done()
	for {
		c, err := nw.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
			for {
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				q, err := readTCPMsg(c)
				if err != nil {
					return
				}
				resp := s.handle(nw, src, q, true)
				if resp == nil || writeTCPMsg(c, resp) != nil {
					return
				}
			}
		}()
	}
}

func readTCPMsg(r io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err := io.ReadFull(r, b)
	return b, err
}

func writeTCPMsg(w io.Writer, m []byte) error {
	b := make([]byte, 2+len(m))
	binary.BigEndian.PutUint16(b, uint16(len(m)))
	copy(b[2:], m)
	_, err := w.Write(b)
	return err
}

// handle answers one query; nil means no answer (unparsable input).
func (s *Server) handle(nw *network, src netip.Addr, q []byte, tcp bool) []byte {
	var p dnsmessage.Parser
	hdr, err := p.Start(q)
	if err != nil || hdr.Response {
		return nil
	}
	question, err := p.Question()
	if err != nil {
		return reply(hdr, nil, dnsmessage.RCodeFormatError, nil)
	}

	if !nw.Subnet.Contains(src) && !nw.Subnet6.Contains(src) {
		// Not one of this network's containers (another network, or a
		// machine routing to the gateway): berth is no open resolver.
		return reply(hdr, &question, dnsmessage.RCodeRefused, nil)
	}
	s.mu.RLock()
	local := nw.ResolveNames
	var ips []netip.Addr
	var ptr string
	var upstreams []string
	forward := nw.Forward
	if local {
		name := normName(question.Name.String())
		ips = lookupLocked(nw, name)
		if len(ips) == 0 {
			// The asker's own links come after the network's names, as
			// in Docker.
			if cid := containerBySource(nw, src); cid != "" {
				if target, ok := nw.records[cid].links[name]; ok {
					ips = lookupLocked(nw, target)
				}
			}
		}
		if len(ips) == 0 {
			// A container on several networks resolves the names of all
			// of them through its primary network's listener.
			if cid := containerBySource(nw, src); cid != "" {
				for _, o := range s.nets {
					if _, member := o.records[cid]; o != nw && o.ResolveNames && member {
						ips = append(ips, lookupLocked(o, name)...)
					}
				}
			}
		}
		if question.Type == dnsmessage.TypePTR {
			ptr = ptrLocked(nw, name)
		}
		for _, r := range nw.records {
			if slices.Contains(r.ips, src) && len(r.upstreams) > 0 {
				upstreams = r.upstreams
			}
		}
	}
	if upstreams == nil {
		upstreams = s.upstreams
	}
	s.mu.RUnlock()

	switch {
	case len(ips) > 0:
		var answers []dnsmessage.Resource
		if question.Type == dnsmessage.TypeA || question.Type == dnsmessage.TypeALL {
			for _, ip := range ips {
				if ip.Is4() {
					answers = append(answers, dnsmessage.Resource{
						Header: dnsmessage.ResourceHeader{Name: question.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: recordTTL},
						Body:   &dnsmessage.AResource{A: ip.As4()},
					})
				}
			}
		}
		if question.Type == dnsmessage.TypeAAAA || question.Type == dnsmessage.TypeALL {
			for _, ip := range ips {
				if ip.Is6() && !ip.Is4In6() {
					answers = append(answers, dnsmessage.Resource{
						Header: dnsmessage.ResourceHeader{Name: question.Name, Type: dnsmessage.TypeAAAA, Class: dnsmessage.ClassINET, TTL: recordTTL},
						Body:   &dnsmessage.AAAAResource{AAAA: ip.As16()},
					})
				}
			}
		}
		// Other types of a container name (AAAA of a container without
		// IPv6): NOERROR without answers, as Docker, so
		// resolvers do not go on asking elsewhere.
		return reply(hdr, &question, dnsmessage.RCodeSuccess, answers)
	case ptr != "":
		target, err := dnsmessage.NewName(ptr + ".")
		if err != nil {
			return reply(hdr, &question, dnsmessage.RCodeServerFailure, nil)
		}
		return reply(hdr, &question, dnsmessage.RCodeSuccess, []dnsmessage.Resource{{
			Header: dnsmessage.ResourceHeader{Name: question.Name, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET, TTL: recordTTL},
			Body:   &dnsmessage.PTRResource{PTR: target},
		}})
	case !forward || len(upstreams) == 0:
		return reply(hdr, &question, dnsmessage.RCodeRefused, nil)
	}
	if resp := s.forward(q, hdr.ID, upstreams, tcp); resp != nil {
		return resp
	}
	return reply(hdr, &question, dnsmessage.RCodeServerFailure, nil)
}

func containerBySource(nw *network, src netip.Addr) string {
	for id, r := range nw.records {
		if slices.Contains(r.ips, src) {
			return id
		}
	}
	return ""
}

func ptrLocked(nw *network, name string) string {
	ip, ok := ptrAddr(name)
	if !ok {
		return ""
	}
	for _, r := range nw.records {
		if slices.Contains(r.ips, ip) && len(r.names) > 0 {
			return r.names[0]
		}
	}
	return ""
}

// ptrAddr is the address a reverse name (in-addr.arpa or ip6.arpa) asks
// about.
func ptrAddr(name string) (netip.Addr, bool) {
	if v4, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		parts := strings.Split(v4, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		slices.Reverse(parts)
		ip, err := netip.ParseAddr(strings.Join(parts, "."))
		return ip, err == nil && ip.Is4()
	}
	if v6, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		nibbles := strings.Split(v6, ".")
		if len(nibbles) != 32 {
			return netip.Addr{}, false
		}
		var a [16]byte
		for i, n := range nibbles {
			v, err := strconv.ParseUint(n, 16, 4)
			if err != nil || len(n) != 1 {
				return netip.Addr{}, false
			}
			pos := 31 - i // nibbles come least significant first
			a[pos/2] |= byte(v) << (4 * (1 - pos%2))
		}
		return netip.AddrFrom16(a), true
	}
	return netip.Addr{}, false
}

func reply(q dnsmessage.Header, question *dnsmessage.Question, rcode dnsmessage.RCode, answers []dnsmessage.Resource) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: q.ID, Response: true, Authoritative: rcode == dnsmessage.RCodeSuccess && len(answers) > 0,
		RecursionDesired: q.RecursionDesired, RecursionAvailable: true, RCode: rcode,
	})
	b.EnableCompression()
	if question != nil {
		if err := b.StartQuestions(); err != nil {
			return nil
		}
		if err := b.Question(*question); err != nil {
			return nil
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil
	}
	for _, a := range answers {
		var err error
		switch body := a.Body.(type) {
		case *dnsmessage.AResource:
			err = b.AResource(a.Header, *body)
		case *dnsmessage.AAAAResource:
			err = b.AAAAResource(a.Header, *body)
		case *dnsmessage.PTRResource:
			err = b.PTRResource(a.Header, *body)
		}
		if err != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// forward sends the query to the upstreams in turn and returns the first
// answer with a matching ID.
func (s *Server) forward(q []byte, id uint16, upstreams []string, tcp bool) []byte {
	for _, up := range upstreams {
		if resp := s.exchange(q, id, up, tcp); resp != nil {
			return resp
		}
	}
	return nil
}

func (s *Server) exchange(q []byte, id uint16, upstream string, tcp bool) []byte {
	proto := "udp"
	if tcp {
		proto = "tcp"
	}
	c, err := net.DialTimeout(proto, upstream, s.cfg.Timeout)
	if err != nil {
		return nil
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(s.cfg.Timeout))
	if tcp {
		if writeTCPMsg(c, q) != nil {
			return nil
		}
		resp, err := readTCPMsg(c)
		if err != nil || len(resp) < 2 || binary.BigEndian.Uint16(resp) != id {
			return nil
		}
		return resp
	}
	if _, err := c.Write(q); err != nil {
		return nil
	}
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil
		}
		if n >= 2 && binary.BigEndian.Uint16(buf) == id {
			return slices.Clone(buf[:n])
		}
	}
}
