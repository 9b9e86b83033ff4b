package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// Service load balancing in berth's nftables table (the data plane of
// engine/network/servicelb; docs/services.md "Load balancing and the
// routing mesh"):
//
//	map svc_vips    iifname . ip daddr : jump svc-b-<h>                  (a VIP, any port, from its network's bridge)
//	set svc_vipaddrs every VIP (never a published port's destination)
//	map svc_ports   l4proto . port : jump svc-b-<h>                      (published ports, every local address)
//	map svc_snat    oifname : ip                                         (this node's load-balancer address per bridge)
//	chain svc-prerouting  nat, dstnat-1: vips, then (not a VIP) local addresses -> ports
//	chain svc-output      nat, dstnat-1: local addresses -> ports (the host's own clients, 127.0.0.1)
//	chain svc-postrouting nat, srcnat-1: marked -> snat to svc_snat[oifname]
//	chain svc-b-<h>       [mark]; dnat to numgen inc mod N map @svc-b-<h>   (one per backend group)
//	map svc-b-<h>         0..N-1 : task ip . port (a VIP's: task ip, the port kept)
//
// The chains run just before berth's own NAT chains, so a service's
// rule wins over a container's published port on the same port (as
// Docker's ingress does). Balanced connections are marked and leave with
// the node's load-balancer address on the backend's network, so a task's
// reply comes back through the node that balanced it (the client may be
// on the same bridge, or the task on another node). SetServiceRules
// rewrites all of it in one netlink transaction.

// ServiceBackend is one task's address and port.
type ServiceBackend struct {
	IP   netip.Addr
	Port uint16
}

// ServiceVIP balances connections from a network's bridge to the VIP (on
// any port, to the same port of a backend: Backends' Port is not used).
type ServiceVIP struct {
	Bridge   string
	VIP      netip.Addr
	Backends []ServiceBackend
}

// ServicePort balances connections to Port on every local address.
type ServicePort struct {
	Proto    string
	Port     uint16
	Backends []ServiceBackend
	// KeepSource: no SNAT (publish mode=host, the backends are local).
	KeepSource bool
}

// ServiceRules is a node's whole load-balancing state.
type ServiceRules struct {
	VIPs  []ServiceVIP
	Ports []ServicePort
	// SNAT is the node's load-balancer address per bridge.
	SNAT map[string]netip.Addr
}

// svcMark marks connections the service chains balanced (SNAT'd in
// svc-postrouting).
const svcMark uint32 = 0x00200000

const (
	svcGroupPrefix = "svc-b-"
	svcPortOwner   = "service-port:"
)

func protoNum(p string) byte {
	if p == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

func be16pad(v uint16) []byte { return []byte{byte(v >> 8), byte(v), 0, 0} }

// svcGroup is one backend set with its mark choice; addrOnly keeps the
// destination port (a VIP's).
type svcGroup struct {
	name     string
	backends []ServiceBackend
	mark     bool
	addrOnly bool
}

func groupFor(kind string, backends []ServiceBackend, mark bool) svcGroup {
	b := slices.Clone(backends)
	sort.Slice(b, func(i, j int) bool {
		if c := b[i].IP.Compare(b[j].IP); c != 0 {
			return c < 0
		}
		return b[i].Port < b[j].Port
	})
	h := sha256.New()
	fmt.Fprintf(h, "%s|%v|", kind, mark)
	for _, x := range b {
		fmt.Fprintf(h, "%s:%d,", x.IP, x.Port)
	}
	return svcGroup{name: svcGroupPrefix + hex.EncodeToString(h.Sum(nil))[:16], backends: b, mark: mark, addrOnly: kind == "vip"}
}

// SetServiceRules makes berth's table hold exactly the load-balancing
// rules r, in one netlink transaction, and reserves the published ports
// on this host (a container cannot publish them then). A published port
// that something else on this host already holds is left out: conflicts
// says which (not an error: trying again does not help until the holder
// goes). If the table was gone (a flushed ruleset), berth's own rules and
// published ports are restored first.
func (m *Manager) SetServiceRules(r ServiceRules) (conflicts []error, err error) {
	var errs []error
	// Reservations: one owner per port.
	want := map[string]bool{}
	var ports []ServicePort
	for _, p := range r.Ports {
		if p.Proto == "" {
			p.Proto = "tcp"
		}
		owner := fmt.Sprintf("%s%s/%d", svcPortOwner, p.Proto, p.Port)
		want[owner] = true
		m.ports.mu.Lock()
		_, held := m.ports.held[owner]
		m.ports.mu.Unlock()
		if !held {
			if _, err := m.ports.reserve(owner, []networktypes.PortMapping{{Proto: p.Proto, HostPort: p.Port, ContainerPort: p.Port}}, false); err != nil {
				conflicts = append(conflicts, fmt.Errorf("service port %d/%s not published on this node: %w", p.Port, p.Proto, err))
				continue
			}
		}
		ports = append(ports, p)
	}
	m.ports.mu.Lock()
	var drop []string
	for owner := range m.ports.held {
		if strings.HasPrefix(owner, svcPortOwner) && !want[owner] {
			drop = append(drop, owner)
		}
	}
	m.ports.mu.Unlock()
	for _, o := range drop {
		m.ports.release(o)
	}
	for br := range r.SNAT {
		if err := routeLocalnet(br); err != nil {
			errs = append(errs, err)
		}
	}
	r.Ports = ports
	err = m.fw.setServices(r)
	if errors.Is(err, unix.ENOENT) {
		if err = m.restoreFirewall(""); err == nil {
			err = m.fw.setServices(r)
		}
	}
	return conflicts, errors.Join(append(errs, err)...)
}

// ServiceRulesPresent reports whether berth's service chains are in the
// kernel (false after a flushed ruleset).
func (m *Manager) ServiceRulesPresent() (bool, error) {
	m.fw.mu.Lock()
	defer m.fw.mu.Unlock()
	c, err := m.fw.conn()
	if err != nil {
		return false, err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, m.fw.check(err)
	}
	for _, ch := range chains {
		if ch.Table.Name == m.fw.v4.table.Name && ch.Name == "svc-prerouting" {
			return true, nil
		}
	}
	return false, nil
}

// bigBatchConn is an nftables connection whose socket can take the
// acknowledgements of a large transaction (one per message: six per
// backend group), which overflow the default receive buffer (ENOBUFS)
// from about a hundred services.
func bigBatchConn(opts ...nftables.ConnOption) (*nftables.Conn, error) {
	c, err := nftables.New(append(opts, nftables.WithSockOptions(func(nc *netlink.Conn) error {
		rc, err := nc.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
		}); err != nil {
			return err
		}
		if serr != nil {
			return nc.SetReadBuffer(32 << 20) // up to rmem_max without CAP_NET_ADMIN
		}
		return nil
	}))...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

func (f *firewall) setServices(r ServiceRules) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return err
	}
	defer func() { err = f.check(err) }()
	t := f.v4.table
	// What is there now: groups to delete unless wanted again. A missing
	// table is ENOENT: the caller restores it.
	var oldChains, oldSets []string
	if _, err := c.ListTableOfFamily(t.Name, t.Family); err != nil {
		return fmt.Errorf("nftables: table %s: %w", t.Name, unix.ENOENT)
	}
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return err
	}
	for _, ch := range chains {
		if ch.Table.Name == t.Name && strings.HasPrefix(ch.Name, svcGroupPrefix) {
			oldChains = append(oldChains, ch.Name)
		}
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return err
	}
	for _, s := range sets {
		if strings.HasPrefix(s.Name, svcGroupPrefix) {
			oldSets = append(oldSets, s.Name)
		}
	}

	c.AddTable(t)
	vips := &nftables.Set{Table: t, Name: "svc_vips", IsMap: true,
		KeyType:  nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIPAddr),
		DataType: nftables.TypeVerdict}
	vipAddrs := &nftables.Set{Table: t, Name: "svc_vipaddrs", KeyType: nftables.TypeIPAddr}
	portsMap := &nftables.Set{Table: t, Name: "svc_ports", IsMap: true,
		KeyType:  nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService),
		DataType: nftables.TypeVerdict}
	snat := &nftables.Set{Table: t, Name: "svc_snat", IsMap: true, KeyType: nftables.TypeIFName, DataType: nftables.TypeIPAddr}
	for _, s := range []*nftables.Set{vips, vipAddrs, portsMap, snat} {
		if err := c.AddSet(s, nil); err != nil {
			return err
		}
		c.FlushSet(s)
	}

	// Backend groups (identical backend sets share one).
	groups := map[string]svcGroup{}
	jump := func(g svcGroup) *expr.Verdict {
		groups[g.name] = g
		return &expr.Verdict{Kind: expr.VerdictJump, Chain: g.name}
	}
	var vipEls, portEls, addrEls []nftables.SetElement
	seenAddr := map[netip.Addr]bool{}
	for _, v := range r.VIPs {
		if !seenAddr[v.VIP] {
			seenAddr[v.VIP] = true
			a := v.VIP.As4()
			addrEls = append(addrEls, nftables.SetElement{Key: a[:]})
		}
		if len(v.Backends) == 0 {
			continue
		}
		a := v.VIP.As4()
		key := append(ifname(v.Bridge), a[:]...)
		vipEls = append(vipEls, nftables.SetElement{Key: key, VerdictData: jump(groupFor("vip", v.Backends, true))})
	}
	for _, p := range r.Ports {
		if len(p.Backends) == 0 {
			continue
		}
		key := append([]byte{protoNum(p.Proto), 0, 0, 0}, be16pad(p.Port)...)
		portEls = append(portEls, nftables.SetElement{Key: key, VerdictData: jump(groupFor("port", p.Backends, !p.KeepSource))})
	}
	var snatEls []nftables.SetElement
	for br, a := range r.SNAT {
		b := a.As4()
		snatEls = append(snatEls, nftables.SetElement{Key: ifname(br), Val: b[:]})
	}

	// Group chains and maps first (the verdict maps jump to them). A
	// group is named by the hash of its content: one already there is
	// left as it is.
	for _, g := range groups {
		if slices.Contains(oldChains, g.name) && slices.Contains(oldSets, g.name) {
			continue
		}
		gm := &nftables.Set{Table: t, Name: g.name, IsMap: true, KeyType: nftables.TypeInteger,
			DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)}
		if g.addrOnly {
			gm.DataType = nftables.TypeIPAddr
		}
		var els []nftables.SetElement
		for i, b := range g.backends {
			a := b.IP.As4()
			val := a[:]
			if !g.addrOnly {
				val = append(val, be16pad(b.Port)...)
			}
			els = append(els, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: val})
		}
		if err := c.AddSet(gm, nil); err != nil {
			return err
		}
		c.FlushSet(gm)
		if err := c.SetAddElements(gm, els); err != nil {
			return err
		}
		ch := c.AddChain(&nftables.Chain{Name: g.name, Table: t})
		c.FlushChain(ch)
		var ex []expr.Any
		if g.mark {
			ex = append(ex,
				&expr.Meta{Key: expr.MetaKeyMARK, Register: r0},
				&expr.Bitwise{SourceRegister: r0, DestRegister: r0, Len: 4, Mask: ne32(^svcMark), Xor: ne32(svcMark)},
				&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: r0},
			)
		}
		ex = append(ex,
			&expr.Numgen{Register: r0, Modulus: uint32(len(g.backends)), Type: unix.NFT_NG_INCREMENTAL},
			&expr.Lookup{SourceRegister: r0, DestRegister: r0, IsDestRegSet: true, SetName: gm.Name},
		)
		if g.addrOnly {
			ex = append(ex, &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: r0})
		} else {
			ex = append(ex, &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: r0, RegProtoMin: r1, Specified: true})
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ex})
	}
	for _, s := range []struct {
		set *nftables.Set
		els []nftables.SetElement
	}{{vips, vipEls}, {vipAddrs, addrEls}, {portsMap, portEls}, {snat, snatEls}} {
		if len(s.els) > 0 {
			if err := c.SetAddElements(s.set, s.els); err != nil {
				return err
			}
		}
	}

	policy := nftables.ChainPolicyAccept
	base := func(name string, hook *nftables.ChainHook, prio nftables.ChainPriority) *nftables.Chain {
		ch := c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook,
			Priority: nftables.ChainPriorityRef(prio), Policy: &policy})
		c.FlushChain(ch)
		return ch
	}
	rule := func(ch *nftables.Chain, e ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: join(e...)})
	}
	pre := base("svc-prerouting", nftables.ChainHookPrerouting, *nftables.ChainPriorityNATDest-1)
	out := base("svc-output", nftables.ChainHookOutput, *nftables.ChainPriorityNATDest-1)
	post := base("svc-postrouting", nftables.ChainHookPostrouting, *nftables.ChainPriorityNATSource-1)
	local := []expr.Any{
		&expr.Fib{Register: r0, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: r0, Data: ne32(unix.RTN_LOCAL)},
	}
	portLookup := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r0},
		&expr.Payload{DestRegister: r1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: r0, SetName: portsMap.Name, IsDestRegSet: true, DestRegister: unix.NFT_REG_VERDICT},
	}
	// iifname . daddr: ifname fills r0-r3 (16 bytes).
	rule(pre, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: r0},
		&expr.Payload{DestRegister: r0 + 4, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: r0, SetName: vips.Name, IsDestRegSet: true, DestRegister: unix.NFT_REG_VERDICT},
	})
	rule(pre, []expr.Any{
		&expr.Payload{DestRegister: r0, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: r0, SetName: vipAddrs.Name},
		&expr.Verdict{Kind: expr.VerdictReturn},
	})
	rule(pre, local, portLookup)
	rule(out, local, portLookup)
	rule(post, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: r0},
		&expr.Bitwise{SourceRegister: r0, DestRegister: r0, Len: 4, Mask: ne32(svcMark), Xor: ne32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: r0, Data: ne32(0)},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: r0},
		&expr.Lookup{SourceRegister: r0, DestRegister: r0, IsDestRegSet: true, SetName: snat.Name},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: r0},
	})

	// Groups no longer used.
	for _, name := range oldChains {
		if _, ok := groups[name]; !ok {
			ch := &nftables.Chain{Name: name, Table: t}
			c.FlushChain(ch)
			c.DelChain(ch)
		}
	}
	for _, name := range oldSets {
		if _, ok := groups[name]; !ok {
			c.DelSet(&nftables.Set{Table: t, Name: name})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: program services in %s: %w", t.Name, err)
	}
	return nil
}
