package cni

import (
	"bytes"
	"encoding/binary"
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
type firewall struct {
	mu     sync.Mutex
	prefix string
	table  *nftables.Table
	ports  *nftables.Set // hostports
	any    *nftables.Set // hostports_any
	brs    *nftables.Set // bridges
}

// acceptMark is the mark berth's forward chain sets on what it accepts.
const acceptMark uint32 = 0x00100000

type fwNetwork struct {
	Bridge   string
	Subnet   netip.Prefix
	Internal bool
}

func newFirewall(prefix string) *firewall {
	t := &nftables.Table{Name: strings.ToLower(prefix), Family: nftables.TableFamilyIPv4}
	return &firewall{
		prefix: prefix,
		table:  t,
		ports: &nftables.Set{
			Table: t, Name: "hostports", IsMap: true,
			KeyType:  nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService),
			DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService),
		},
		any: &nftables.Set{
			Table: t, Name: "hostports_any", IsMap: true,
			KeyType:  nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService),
			DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService),
		},
		brs: &nftables.Set{Table: t, Name: "bridges", KeyType: nftables.TypeIFName},
	}
}

// Registers: 8.. are the 32-bit ones (NFT_REG32_00...), as nft uses them
// for concatenations.
const (
	r0 = unix.NFT_REG32_00
	r1 = unix.NFT_REG32_01
	r2 = unix.NFT_REG32_02
)

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
	m := make([]byte, 4)
	if p.Bits() > 0 {
		binary.BigEndian.PutUint32(m, ^uint32(0)<<(32-p.Bits()))
	}
	a := p.Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: r0, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: r0, DestRegister: r0, Len: 4, Mask: m, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: r0, Data: a[:]},
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

func (f *firewall) conn() (*nftables.Conn, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// sync makes berth's table hold exactly the rules for nets (keeping the
// published ports' elements) and makes sure iptables' FORWARD accepts
// berth's mark.
func (f *firewall) sync(nets []fwNetwork) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	c.AddTable(f.table)
	for _, s := range []*nftables.Set{f.ports, f.any, f.brs} {
		if err := c.AddSet(s, nil); err != nil {
			return err
		}
	}
	c.FlushSet(f.brs)
	var brs []nftables.SetElement
	for _, n := range nets {
		brs = append(brs, nftables.SetElement{Key: ifname(n.Bridge)})
	}
	if len(brs) > 0 {
		if err := c.SetAddElements(f.brs, brs); err != nil {
			return err
		}
	}
	policy := nftables.ChainPolicyAccept
	chain := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		ch := &nftables.Chain{Name: name, Table: f.table}
		if hook != nil {
			ch.Type, ch.Hooknum, ch.Priority, ch.Policy = typ, hook, prio, &policy
		}
		ch = c.AddChain(ch)
		c.FlushChain(ch)
		return ch
	}
	rule := func(ch *nftables.Chain, e ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: join(e...)})
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
	rule(out, local, verdict(expr.VerdictJump, dnat.Name))
	rule(dnat, []expr.Any{
		&expr.Payload{DestRegister: r0, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r1},
		&expr.Payload{DestRegister: r2, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: r0, DestRegister: r0, IsDestRegSet: true, SetName: f.ports.Name, SetID: f.ports.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: r0, RegProtoMin: r1, Specified: true},
	})
	rule(dnat, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r0},
		&expr.Payload{DestRegister: r1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: r0, DestRegister: r0, IsDestRegSet: true, SetName: f.any.Name, SetID: f.any.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: r0, RegProtoMin: r1, Specified: true},
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
	rule(fwd, inBridges(expr.MetaKeyOIFNAME, f.brs), ctBits(expr.CtKeySTATUS, ipsDstNAT), toAccept)
	for _, n := range nets {
		if !n.Internal {
			rule(fwd, matchIf(expr.MetaKeyIIFNAME, n.Bridge, expr.CmpOpEq), inBridges(expr.MetaKeyOIFNAME, f.brs),
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
	for _, n := range nets {
		if n.Internal {
			continue
		}
		rule(post, saddrIn(n.Subnet), matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpNeq), masq)
		rule(post, saddrIn(n.Subnet), matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpEq), ctBits(expr.CtKeySTATUS, ipsDstNAT), masq)
		rule(post, matchIf(expr.MetaKeyOIFNAME, n.Bridge, expr.CmpOpEq), saddrIn(netip.MustParsePrefix("127.0.0.0/8")), masq)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: program table %s: %w", f.table.Name, err)
	}
	return f.ensureForwardAcceptLocked()
}

// hostPortElem returns the map and element that forward p to ip.
func (f *firewall) hostPortElem(p networktypes.PortMapping, ip netip.Addr) (*nftables.Set, nftables.SetElement) {
	proto := byte(unix.IPPROTO_TCP)
	if p.Proto == "udp" {
		proto = unix.IPPROTO_UDP
	}
	port := func(v uint16) []byte { return []byte{byte(v >> 8), byte(v), 0, 0} }
	a := ip.As4()
	val := append(a[:], port(p.ContainerPort)...)
	key := append([]byte{proto, 0, 0, 0}, port(p.HostPort)...)
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		h := p.HostIP.As4()
		return f.ports, nftables.SetElement{Key: append(h[:], key...), Val: val}
	}
	return f.any, nftables.SetElement{Key: key, Val: val}
}

// addPorts forwards the host ports to ip, in one transaction.
func (f *firewall) addPorts(ports []networktypes.PortMapping, ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	for _, p := range ports {
		s, e := f.hostPortElem(p, ip)
		if err := c.SetAddElements(s, []nftables.SetElement{e}); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: publish ports: %w", err)
	}
	return f.ensureForwardAcceptLocked()
}

// delPorts stops forwarding the host ports, in one transaction; ports
// already gone are no error.
func (f *firewall) delPorts(ports []networktypes.PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	del := func(ps []networktypes.PortMapping) error {
		for _, p := range ps {
			s, e := f.hostPortElem(p, netip.IPv4Unspecified())
			if err := c.SetDeleteElements(s, []nftables.SetElement{{Key: e.Key}}); err != nil {
				return err
			}
		}
		return c.Flush()
	}
	err = del(ports)
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

// portsGone reports whether none of ports is in the maps. It does not
// take f.mu, so it can watch a delPorts in progress.
func (f *firewall) portsGone(ports []networktypes.PortMapping) (bool, error) {
	c, err := f.conn()
	if err != nil {
		return false, err
	}
	for _, s := range []*nftables.Set{f.ports, f.any} {
		els, err := c.GetSetElements(s)
		if err != nil {
			return false, err
		}
		for _, e := range els {
			for _, p := range ports {
				if _, want := f.hostPortElem(p, netip.IPv4Unspecified()); bytes.Equal(e.Key, want.Key) {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

// portElems lists the published ports in the maps, by map name and key.
func (f *firewall) portElems() (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, s := range []*nftables.Set{f.ports, f.any} {
		els, err := c.GetSetElements(s)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return nil, err
		}
		for _, e := range els {
			out[s.Name+"/"+string(e.Key)] = true
		}
	}
	return out, nil
}

// prune deletes every published-port element that keep (container IP per
// port mapping) does not name: what a crash between adding a container's
// ports and writing its state left behind.
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
		name, key, _ := strings.Cut(k, "/")
		s := f.any
		if name == f.ports.Name {
			s = f.ports
		}
		if err := c.SetDeleteElements(s, []nftables.SetElement{{Key: []byte(key)}}); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	return c.Flush()
}

// elemKey names an element as portElems does.
func (f *firewall) elemKey(p networktypes.PortMapping) string {
	s, e := f.hostPortElem(p, netip.IPv4Unspecified())
	return s.Name + "/" + string(e.Key)
}

func (f *firewall) forwardComment() string { return f.prefix + " accept marked" }

func (f *firewall) iptablesForwardRule() []string {
	return []string{"FORWARD", "-m", "mark", "--mark", fmt.Sprintf("%#x/%#x", acceptMark, acceptMark),
		"-m", "comment", "--comment", f.forwardComment(), "-j", "ACCEPT"}
}

// iptablesForward reports whether iptables-nft's filter FORWARD chain
// exists and whether it has berth's rule (looked up by its comment).
func (f *firewall) iptablesForward() (exists, has bool, err error) {
	c, err := f.conn()
	if err != nil {
		return false, false, err
	}
	t := &nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv4}
	rules, err := c.GetRules(t, &nftables.Chain{Name: "FORWARD", Table: t})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, false, nil
		}
		return false, false, err
	}
	for _, r := range rules {
		if ruleComment(r) == f.forwardComment() {
			return true, true, nil
		}
	}
	return true, false, nil
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

// ensureForwardAcceptLocked adds the iptables rule that lets berth's
// marked packets through iptables' filter FORWARD (if that chain exists
// and lacks it). Only the check runs on every call: a netlink dump.
func (f *firewall) ensureForwardAcceptLocked() error {
	exists, has, err := f.iptablesForward()
	if err != nil || !exists || has {
		return err
	}
	args := append([]string{"-w", "-I"}, f.iptablesForwardRule()...)
	args = append(args[:3], append([]string{"1"}, args[3:]...)...)
	if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// remove deletes berth's table and its iptables FORWARD rule.
func (f *firewall) remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	if exists, has, err := f.iptablesForward(); err != nil {
		errs = append(errs, err)
	} else if exists && has {
		args := append([]string{"-w", "-D"}, f.iptablesForwardRule()...)
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out)))
		}
	}
	c, err := f.conn()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	c.DelTable(f.table)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("nftables: delete table %s: %w", f.table.Name, err))
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
