package cni

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// firewall owns berth's nftables table (`ip <prefix in lower case>`, "berth"
// by default): published ports, masquerade and isolation between networks,
// programmed over netlink (no iptables process per rule).
//
//	map hostports      ip daddr . l4proto . port : container ip . port   (ports on one host address)
//	map hostports_any  l4proto . port : container ip . port              (ports on every address)
//	set bridges        the bridge of every berth network
//	chain prerouting   nat, dstnat:  fib daddr type local -> dnat
//	chain output       nat, -100:    fib daddr type local -> dnat
//	chain dnat         dnat to ip daddr . l4proto . port map @hostports; then @hostports_any
//	chain postrouting  nat, srcnat:  per network (not internal): masquerade from SUBNET out of
//	                   other interfaces, of hairpin (DNAT'd from SUBNET back into BR) and of
//	                   127.0.0.0/8 into BR (localhost access, route_localnet on BR)
//	chain forward      filter, 0:    internal networks: drop in and out; published (DNAT'd) to a
//	                   bridge: accept; from one berth bridge to another: drop; within a bridge,
//	                   out of a bridge and replies into it: accept
//
// A twin table `ip6 <prefix>` holds the same chains and maps with IPv6
// addresses for dual-stack networks (masquerade of their IPv6 subnet),
// except that its output chain leaves ::1 alone: the kernel does not route
// IPv6 loopback, berthd relays those connections (proxy6.go).
//
// A container's published ports are elements of the two maps, added and
// deleted in one netlink transaction per container: the rules never change
// with containers, so the cost does not grow with their number. The chains
// are rewritten as a whole (one transaction) when a network is created or
// removed, at start and at GC.
//
// The table is berth's alone: other tables (iptables-nft's, firewalld's,
// Docker's) are never touched, and their reloads leave it alone. But a packet
// passes every table's forward chain, and one with policy DROP (Docker sets
// iptables' filter FORWARD to DROP) would drop what berth accepts. So what
// berth's forward chain accepts also gets the mark acceptMark, and if
// iptables' filter FORWARD chain exists, one iptables rule accepts that mark
// (`-m mark --mark M/M -m comment --comment <prefix> -j ACCEPT`, first in the
// chain). It is checked over netlink at every Setup (a dump of that chain)
// and added by iptables only when missing, so a Docker or firewalld that
// starts, or reloads, after berthd is handled at the next container start.
//
// All of it goes through one netlink socket, opened at the first use and
// kept (see conn).
type firewall struct {
	mu     sync.Mutex
	prefix string
	v4     *fwFamily      // table ip <prefix>
	v6     *fwFamily      // table ip6 <prefix>: the same rules for IPv6
	nl     *nftables.Conn // the lasting connection, under mu; nil until used
}

// fwFamily is berth's table of one address family with its maps.
type fwFamily struct {
	v6    bool
	table *nftables.Table
	ports *nftables.Set // hostports
	any   *nftables.Set // hostports_any
	brs   *nftables.Set // bridges
}

// acceptMark is the mark berth's forward chain sets on what it accepts.
const acceptMark uint32 = 0x00100000

type fwNetwork struct {
	Bridge   string
	Subnet   netip.Prefix
	Subnet6  netip.Prefix // dual-stack networks
	Internal bool
}

func newFirewall(prefix string) *firewall {
	return &firewall{prefix: prefix, v4: newFamily(prefix, false), v6: newFamily(prefix, true)}
}

func newFamily(prefix string, v6 bool) *fwFamily {
	fam, addr := nftables.TableFamilyIPv4, nftables.TypeIPAddr
	if v6 {
		fam, addr = nftables.TableFamilyIPv6, nftables.TypeIP6Addr
	}
	t := &nftables.Table{Name: strings.ToLower(prefix), Family: fam}
	return &fwFamily{
		v6:    v6,
		table: t,
		ports: &nftables.Set{
			Table: t, Name: "hostports", IsMap: true,
			KeyType:  nftables.MustConcatSetType(addr, nftables.TypeInetProto, nftables.TypeInetService),
			DataType: nftables.MustConcatSetType(addr, nftables.TypeInetService),
		},
		any: &nftables.Set{
			Table: t, Name: "hostports_any", IsMap: true,
			KeyType:  nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService),
			DataType: nftables.MustConcatSetType(addr, nftables.TypeInetService),
		},
		brs: &nftables.Set{Table: t, Name: "bridges", KeyType: nftables.TypeIFName},
	}
}

func (f *firewall) families() []*fwFamily { return []*fwFamily{f.v4, f.v6} }

// name is the family's name as nft prints it (ip, ip6).
func (fam *fwFamily) name() string {
	if fam.v6 {
		return "ip6"
	}
	return "ip"
}

// addrLen is the length of the family's addresses; nfproto its NFPROTO_*.
func (fam *fwFamily) addrLen() uint32 {
	if fam.v6 {
		return 16
	}
	return 4
}

func (fam *fwFamily) nfproto() uint32 {
	if fam.v6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// Registers: 8.. are the 32-bit ones (NFT_REG32_00...), as nft uses them
// for concatenations.
const (
	r0 = unix.NFT_REG32_00
	r1 = unix.NFT_REG32_01
	r2 = unix.NFT_REG32_02
)

// reg is the 32-bit register i places after r0 (an IPv6 address takes
// four).
func reg(i uint32) uint32 { return r0 + i }

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

func ne32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func matchIf(key expr.MetaKey, name string, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: r0},
		&expr.Cmp{Op: op, Register: r0, Data: ifname(name)},
	}
}

func inBridges(key expr.MetaKey, s *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: r0},
		&expr.Lookup{SourceRegister: r0, SetName: s.Name, SetID: s.ID},
	}
}

// ctBits matches packets whose conntrack key (state or status) has one of bits.
func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: key, Register: r0},
		&expr.Bitwise{SourceRegister: r0, DestRegister: r0, Len: 4, Mask: ne32(bits), Xor: ne32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: r0, Data: ne32(0)},
	}
}

const ipsDstNAT = 0x20 // IPS_DST_NAT: the connection was DNAT'd

func saddrIn(p netip.Prefix) []expr.Any {
	p = p.Masked()
	n, off := 4, uint32(12)
	if p.Addr().Is6() {
		n, off = 16, 8
	}
	m := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 1 << (7 - i%8)
	}
	a := p.Addr().AsSlice()
	return []expr.Any{
		&expr.Payload{DestRegister: r0, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(n)},
		&expr.Bitwise{SourceRegister: r0, DestRegister: r0, Len: uint32(n), Mask: m, Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: r0, Data: a},
	}
}

func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func verdict(k expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: k, Chain: chain}}
}

// conn returns the firewall's netlink connection; f.mu must be held. It
// is opened once and kept: the kernel frees what a transaction deleted
// (a published port's element, the rules of a rewritten chain) only after
// an RCU grace period, and closing any nftables socket waits for that
// (nft_rcv_nl_event flushes the pending frees): 10-20 ms on this kernel,
// which a socket per operation paid at nearly every container start and
// removal. It is a bigBatchConn: sync programs the whole table in one
// transaction, whose acknowledgements (one per message, several rules per
// network) overflow the default receive buffer (ENOBUFS) from a few dozen
// networks, and then berthd does not start.
func (f *firewall) conn() (*nftables.Conn, error) {
	if f.nl == nil {
		c, err := bigBatchConn(nftables.AsLasting())
		if err != nil {
			return nil, err
		}
		f.nl = c
	}
	return f.nl, nil
}

// check passes on the error of an operation on conn. After a failed one
// the connection is dropped: replies to it may still be in the socket,
// where the next operation would read them. The next conn opens another.
func (f *firewall) check(err error) error {
	if err != nil && f.nl != nil {
		_ = f.nl.CloseLasting()
		f.nl = nil
	}
	return err
}

// close closes the connection (Manager.Close).
func (f *firewall) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nl != nil {
		_ = f.nl.CloseLasting()
		f.nl = nil
	}
}

// sync makes berth's tables (ip and ip6) hold exactly the rules for nets
// (keeping the published ports' elements), in one transaction, and makes
// sure iptables' and ip6tables' FORWARD accept berth's mark.
func (f *firewall) sync(nets []fwNetwork) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	for _, fam := range f.families() {
		if err := fam.program(c, nets); err != nil {
			return f.check(err)
		}
	}
	if err := f.check(c.Flush()); err != nil {
		return fmt.Errorf("nftables: program table %s: %w", f.v4.table.Name, err)
	}
	return f.ensureForwardAcceptLocked()
}

// program queues the rules of one family's table on c.
func (fam *fwFamily) program(c *nftables.Conn, nets []fwNetwork) error {
	c.AddTable(fam.table)
	for _, s := range []*nftables.Set{fam.ports, fam.any, fam.brs} {
		if err := c.AddSet(s, nil); err != nil {
			return err
		}
	}
	c.FlushSet(fam.brs)
	var brs []nftables.SetElement
	for _, n := range nets {
		brs = append(brs, nftables.SetElement{Key: ifname(n.Bridge)})
	}
	if len(brs) > 0 {
		if err := c.SetAddElements(fam.brs, brs); err != nil {
			return err
		}
	}
	policy := nftables.ChainPolicyAccept
	chain := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		ch := &nftables.Chain{Name: name, Table: fam.table}
		if hook != nil {
			ch.Type, ch.Hooknum, ch.Priority, ch.Policy = typ, hook, prio, &policy
		}
		ch = c.AddChain(ch)
		c.FlushChain(ch)
		return ch
	}
	rule := func(ch *nftables.Chain, e ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: fam.table, Chain: ch, Exprs: join(e...)})
	}

	dnat := chain("dnat", "", nil, nil)
	pre := chain("prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	out := chain("output", nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	post := chain("postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	accept := chain("mark-accept", "", nil, nil)
	fwd := chain("forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)

	local := []expr.Any{
		&expr.Fib{Register: r0, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: r0, Data: ne32(unix.RTN_LOCAL)},
	}
	rule(pre, local, verdict(expr.VerdictJump, dnat.Name))
	if fam.v6 {
		// ::1 cannot be DNAT'd out of the host (proxy6.go): berthd's
		// socket on the port relays those connections.
		rule(out, []expr.Any{
			&expr.Payload{DestRegister: r0, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: r0, Data: netip.IPv6Loopback().AsSlice()},
		}, local, verdict(expr.VerdictJump, dnat.Name))
	} else {
		rule(out, local, verdict(expr.VerdictJump, dnat.Name))
	}
	// An address takes addrLen/4 registers: the concatenations (address .
	// l4proto . port, address . port) are laid out as nft lays them.
	al := fam.addrLen()
	daddrOff := uint32(16)
	if fam.v6 {
		daddrOff = 24
	}
	rule(dnat, []expr.Any{
		&expr.Payload{DestRegister: r0, Base: expr.PayloadBaseNetworkHeader, Offset: daddrOff, Len: al},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg(al / 4)},
		&expr.Payload{DestRegister: reg(al/4 + 1), Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: r0, DestRegister: r0, IsDestRegSet: true, SetName: fam.ports.Name, SetID: fam.ports.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam.nfproto(), RegAddrMin: r0, RegProtoMin: reg(al / 4), Specified: true},
	})
	rule(dnat, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r0},
		&expr.Payload{DestRegister: r1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: r0, DestRegister: r0, IsDestRegSet: true, SetName: fam.any.Name, SetID: fam.any.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam.nfproto(), RegAddrMin: r0, RegProtoMin: reg(al / 4), Specified: true},
	})

	// mark-accept: meta mark set meta mark | acceptMark; accept
	rule(accept, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: r0},
		&expr.Bitwise{SourceRegister: r0, DestRegister: r0, Len: 4, Mask: ne32(^acceptMark), Xor: ne32(acceptMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: r0},
		&expr.Verdict{Kind: expr.VerdictAccept},
	})
	toAccept := verdict(expr.VerdictJump, accept.Name)
	drop := verdict(expr.VerdictDrop, "")
	// Internal networks first: nothing crosses their bridge, published or not.
	for _, n := range nets {
		if n.Internal {
			rule(fwd, matchIf(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpEq), matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpNeq), drop)
			rule(fwd, matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpEq), matchIf(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpNeq), drop)
		}
	}
	// A published port is public: reachable from other networks too
	// (through a host address), as from anywhere else.
	rule(fwd, inBridges(expr.MetaKeyOIFNAME, fam.brs), ctBits(expr.CtKeySTATUS, ipsDstNAT), toAccept)
	for _, n := range nets {
		if !n.Internal {
			rule(fwd, matchIf(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpEq), inBridges(expr.MetaKeyOIFNAME, fam.brs),
				matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpNeq), drop)
		}
	}
	for _, n := range nets {
		rule(fwd, matchIf(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpEq), matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpEq), toAccept)
		if !n.Internal {
			rule(fwd, matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpEq),
				ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), toAccept)
			rule(fwd, matchIf(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpEq), toAccept)
		}
	}
	masq := []expr.Any{&expr.Masq{}}
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	for _, n := range nets {
		subnet := n.Subnet
		if fam.v6 {
			subnet = n.Subnet6
		}
		if n.Internal || !subnet.IsValid() {
			continue
		}
		rule(post, saddrIn(subnet), matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpNeq), masq)
		rule(post, saddrIn(subnet), matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpEq), ctBits(expr.CtKeySTATUS, ipsDstNAT), masq)
		if !fam.v6 {
			rule(post, matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpEq), saddrIn(loopback), masq)
		}
	}
	return nil
}

// hostPortElem returns the map and element that forward p to ip, in
// family fam.
func (fam *fwFamily) hostPortElem(p networktypes.PortMapping, ip netip.Addr) (*nftables.Set, nftables.SetElement) {
	proto := byte(unix.IPPROTO_TCP)
	if p.Proto == "udp" {
		proto = unix.IPPROTO_UDP
	}
	port := func(v uint16) []byte { return []byte{byte(v >> 8), byte(v), 0, 0} }
	addr := func(a netip.Addr) []byte {
		if fam.v6 {
			b := a.As16()
			return b[:]
		}
		b := a.As4()
		return b[:]
	}
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
		if fam.v6 {
			ip = netip.IPv6Unspecified()
		}
	}
	val := append(addr(ip), port(p.ContainerPort)...)
	key := append([]byte{proto, 0, 0, 0}, port(p.HostPort)...)
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		return fam.ports, nftables.SetElement{Key: append(addr(p.HostIP), key...), Val: val}
	}
	return fam.any, nftables.SetElement{Key: key, Val: val}
}

// portFamilies are the families a published port is forwarded in: its
// host address's, or both for every address (zero HostIP) when the
// container has an IPv6 address (v6), as Docker binds 0.0.0.0 and [::].
func (f *firewall) portFamilies(p networktypes.PortMapping, v6 bool) []*fwFamily {
	switch {
	case p.HostIP.IsValid() && !p.HostIP.IsUnspecified() && p.HostIP.Is6() && !p.HostIP.Is4In6():
		return []*fwFamily{f.v6}
	case p.HostIP.IsValid() && !p.HostIP.IsUnspecified():
		return []*fwFamily{f.v4}
	case v6:
		return []*fwFamily{f.v4, f.v6}
	}
	return []*fwFamily{f.v4}
}

// addPorts forwards the host ports to ip (and to ip6 when valid: the
// container's IPv6 address), in one transaction.
func (f *firewall) addPorts(ports []networktypes.PortMapping, ip, ip6 netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	for _, p := range ports {
		for _, fam := range f.portFamilies(p, ip6.IsValid()) {
			to := ip
			if fam.v6 {
				to = ip6
			}
			if !to.IsValid() {
				return f.check(errInvalid("publish %s: the container has no IPv6 address (its network has no --ipv6)", p.HostAddr()))
			}
			s, e := fam.hostPortElem(p, to)
			if err := c.SetAddElements(s, []nftables.SetElement{e}); err != nil {
				return f.check(err)
			}
		}
	}
	if err := f.check(c.Flush()); err != nil {
		return fmt.Errorf("nftables: publish ports: %w", err)
	}
	return f.ensureForwardAcceptLocked()
}

// delPorts stops forwarding the host ports (v6: the container had an
// IPv6 address, see portFamilies), in one transaction; ports already gone
// are no error.
func (f *firewall) delPorts(ports []networktypes.PortMapping, v6 bool) error {
	if len(ports) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	del := func(ps []networktypes.PortMapping) error {
		c, err := f.conn()
		if err != nil {
			return err
		}
		for _, p := range ps {
			for _, fam := range f.portFamilies(p, v6) {
				s, e := fam.hostPortElem(p, netip.Addr{})
				if err := c.SetDeleteElements(s, []nftables.SetElement{{Key: e.Key}}); err != nil {
					return f.check(err)
				}
			}
		}
		return f.check(c.Flush())
	}
	err := del(ports)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return err
	}
	// Some were gone (a retry, a crash in between): one by one.
	var errs []error
	for _, p := range ports {
		if err := del([]networktypes.PortMapping{p}); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// portElems lists the published ports in the maps, by family, map name
// and key (elemKeys).
func (f *firewall) portElems() (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, fam := range f.families() {
		for _, s := range []*nftables.Set{fam.ports, fam.any} {
			els, err := c.GetSetElements(s)
			if err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return nil, f.check(err)
			}
			for _, e := range els {
				out[fam.name()+"/"+s.Name+"/"+string(e.Key)] = true
			}
		}
	}
	return out, nil
}

// prune deletes every published-port element that keep (elemKeys of the
// known port mappings) does not name: what a crash between adding a
// container's ports and writing its state left behind.
func (f *firewall) prune(keep map[string]bool) error {
	have, err := f.portElems()
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	n := 0
	for k := range have {
		if keep[k] {
			continue
		}
		famName, rest, _ := strings.Cut(k, "/")
		name, key, _ := strings.Cut(rest, "/")
		fam := f.v4
		if famName == f.v6.name() {
			fam = f.v6
		}
		s := fam.any
		if name == fam.ports.Name {
			s = fam.ports
		}
		if err := c.SetDeleteElements(s, []nftables.SetElement{{Key: []byte(key)}}); err != nil {
			return f.check(err)
		}
		n++
	}
	if n == 0 {
		return nil
	}
	return f.check(c.Flush())
}

// elemKeys name the elements of p as portElems does (v6: see portFamilies).
func (f *firewall) elemKeys(p networktypes.PortMapping, v6 bool) []string {
	var out []string
	for _, fam := range f.portFamilies(p, v6) {
		s, e := fam.hostPortElem(p, netip.Addr{})
		out = append(out, fam.name()+"/"+s.Name+"/"+string(e.Key))
	}
	return out
}

func (f *firewall) forwardComment() string { return f.prefix + " accept marked" }

func (f *firewall) iptablesForwardRule() []string {
	return []string{"FORWARD", "-m", "mark", "--mark", fmt.Sprintf("%#x/%#x", acceptMark, acceptMark),
		"-m", "comment", "--comment", f.forwardComment(), "-j", "ACCEPT"}
}

// iptablesForward reports whether iptables-nft's (ip6tables-nft's, fam
// v6) filter FORWARD chain exists and whether it has berth's rule
// (looked up by its comment).
func (f *firewall) iptablesForward(fam *fwFamily) (exists, has bool, err error) {
	c, err := f.conn()
	if err != nil {
		return false, false, err
	}
	t := &nftables.Table{Name: "filter", Family: fam.table.Family}
	rules, err := c.GetRules(t, &nftables.Chain{Name: "FORWARD", Table: t})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, false, nil
		}
		return false, false, f.check(err)
	}
	for _, r := range rules {
		if ruleComment(r) == f.forwardComment() {
			return true, true, nil
		}
	}
	return true, false, nil
}

func (fam *fwFamily) iptables() string {
	if fam.v6 {
		return "ip6tables"
	}
	return "iptables"
}

// ruleComment is an iptables rule's comment: an xt comment match
// (iptables-nft 1.8) or the rule's user data (newer ones).
func ruleComment(r *nftables.Rule) string {
	for _, e := range r.Exprs {
		if m, ok := e.(*expr.Match); ok && m.Name == "comment" {
			if c, ok := m.Info.(*xt.Comment); ok {
				return string(*c)
			}
		}
	}
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

func (f *firewall) ensureForwardAccept() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ensureForwardAcceptLocked()
}

// ensureForwardAcceptLocked adds the iptables (and ip6tables) rule that
// lets berth's marked packets through their filter FORWARD chain (if
// that chain exists and lacks it). Only the check runs on every call: a
// netlink dump per family.
func (f *firewall) ensureForwardAcceptLocked() error {
	for _, fam := range f.families() {
		exists, has, err := f.iptablesForward(fam)
		if err != nil {
			return err
		}
		if !exists || has {
			continue
		}
		args := append([]string{"-w", "-I"}, f.iptablesForwardRule()...)
		args = append(args[:3], append([]string{"1"}, args[3:]...)...)
		if out, err := exec.Command(fam.iptables(), args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w: %s", fam.iptables(), strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// remove deletes berth's tables and its iptables FORWARD rules.
func (f *firewall) remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, fam := range f.families() {
		if exists, has, err := f.iptablesForward(fam); err != nil {
			errs = append(errs, err)
		} else if exists && has {
			args := append([]string{"-w", "-D"}, f.iptablesForwardRule()...)
			if out, err := exec.Command(fam.iptables(), args...).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w: %s", fam.iptables(), strings.Join(args, " "), err, bytes.TrimSpace(out)))
			}
		}
	}
	for _, fam := range f.families() {
		c, err := f.conn()
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		c.DelTable(fam.table)
		if err := f.check(c.Flush()); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("nftables: delete table %s %s: %w", fam.name(), fam.table.Name, err))
		}
	}
	return errors.Join(errs...)
}

// routeLocalnet lets the host reach published ports on 127.0.0.1 through
// bridge br (the DNAT'd packets leave with a loopback source until
// masqueraded).
func routeLocalnet(br string) error {
	p := "/proc/sys/net/ipv4/conf/" + br + "/route_localnet"
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 && b[0] == '1' {
		return nil
	}
	return os.WriteFile(p, []byte("1"), 0o644)
}
