package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/berthproject/berth/cni/overlay"
)

// DNS is where a node registers the names of remote containers
// (*cni/dns.Server).
type DNS interface {
	Register(networkName, containerID string, ip netip.Addr, names []string, upstreams []string)
	Unregister(networkName, containerID string)
}

// Programmer keeps one node's forwarding (FDB) and neighbour entries, and
// the embedded DNS's records of remote containers, equal to the endpoints
// of the other nodes in the store. It is told of endpoints (Put, Delete,
// Reset) and of which networks exist here (SetNetwork, DropNetwork), in
// any order: the entries of a network are written once its vxlan device
// exists. Safe for concurrent use.
type Programmer struct {
	h    *netlink.Handle
	self string // this node's ID: its own endpoints are the CNI plugin's
	dns  DNS

	mu   sync.Mutex
	nets map[string]*progNet
}

type progNet struct {
	vxlan   string              // "" while the network is not realised here
	want    map[string]Endpoint // remote endpoints in the store, by ID
	written map[string]Endpoint // entries on the vxlan device, by ID
	peers   map[netip.Addr]int  // written endpoints per remote node (BUM entry while > 0)
}

// NewProgrammer programs the namespace of h for node self; dns may be nil.
func NewProgrammer(h *netlink.Handle, self string, dns DNS) *Programmer {
	return &Programmer{h: h, self: self, dns: dns, nets: map[string]*progNet{}}
}

func (p *Programmer) net(name string) *progNet {
	n, ok := p.nets[name]
	if !ok {
		n = &progNet{want: map[string]Endpoint{}, written: map[string]Endpoint{}, peers: map[netip.Addr]int{}}
		p.nets[name] = n
	}
	return n
}

// dnsID keeps remote records apart from local containers' in the DNS.
func dnsID(id string) string { return "remote:" + id }

// SetNetwork says the network's vxlan device exists here: its entries are
// written.
func (p *Programmer) SetNetwork(name, vxlan string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.net(name)
	if n.vxlan != vxlan {
		n.vxlan = vxlan
		n.written, n.peers = map[string]Endpoint{}, map[netip.Addr]int{}
	}
	return p.syncLocked(name, n)
}

// DropNetwork forgets a network removed here (its device went, and every
// entry with it).
func (p *Programmer) DropNetwork(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.nets[name]; ok && p.dns != nil {
		for id := range n.want {
			p.dns.Unregister(name, dnsID(id))
		}
	}
	delete(p.nets, name)
}

// Put records an endpoint of the store (this node's own are ignored).
func (p *Programmer) Put(network string, e Endpoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.net(network)
	if e.Node == p.self {
		delete(n.want, e.ID)
	} else {
		n.want[e.ID] = e
	}
	return p.syncLocked(network, n)
}

// Delete records that an endpoint left the store.
func (p *Programmer) Delete(network, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.net(network)
	delete(n.want, id)
	return p.syncLocked(network, n)
}

// Reset replaces every endpoint of a network with eps (a full read of the
// store).
func (p *Programmer) Reset(network string, eps []Endpoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.net(network)
	n.want = map[string]Endpoint{}
	for _, e := range eps {
		if e.Node != p.self {
			n.want[e.ID] = e
		}
	}
	return p.syncLocked(network, n)
}

// Networks lists the networks the programmer knows of.
func (p *Programmer) Networks() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for name := range p.nets {
		out = append(out, name)
	}
	return out
}

// syncLocked makes the written entries and DNS records those of want.
func (p *Programmer) syncLocked(network string, n *progNet) error {
	var errs []error
	if p.dns != nil {
		for id, e := range n.want {
			p.dns.Register(network, dnsID(id), e.IP, e.Names, nil)
		}
	}
	if n.vxlan == "" {
		return nil
	}
	for id, old := range n.written {
		if e, ok := n.want[id]; ok && e.IP == old.IP && e.MAC == old.MAC && e.NodeAddr == old.NodeAddr {
			continue
		}
		if p.dns != nil {
			if _, ok := n.want[id]; !ok {
				p.dns.Unregister(network, dnsID(id))
			}
		}
		r, err := remote(old)
		if err == nil {
			err = overlay.DelRemote(p.h, n.vxlan, r)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		delete(n.written, id)
		if n.peers[old.NodeAddr]--; n.peers[old.NodeAddr] <= 0 {
			delete(n.peers, old.NodeAddr)
			errs = append(errs, overlay.DelPeer(p.h, n.vxlan, old.NodeAddr))
		}
	}
	for id, e := range n.want {
		if _, ok := n.written[id]; ok {
			continue
		}
		r, err := remote(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n.peers[e.NodeAddr] == 0 {
			if err := overlay.AddPeer(p.h, n.vxlan, e.NodeAddr); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := overlay.AddRemote(p.h, n.vxlan, r); err != nil {
			errs = append(errs, err)
			if n.peers[e.NodeAddr] == 0 {
				_ = overlay.DelPeer(p.h, n.vxlan, e.NodeAddr)
			}
			continue
		}
		n.written[id] = e
		n.peers[e.NodeAddr]++
	}
	return errors.Join(errs...)
}

func remote(e Endpoint) (overlay.Remote, error) {
	mac, err := net.ParseMAC(e.MAC)
	if err != nil || !e.IP.IsValid() || !e.NodeAddr.IsValid() {
		return overlay.Remote{}, fmt.Errorf("overlay: endpoint %s: bad record (ip %s mac %q node %s)", shortID(e.ID), e.IP, e.MAC, e.NodeAddr)
	}
	return overlay.Remote{MAC: mac, IP: e.IP, Node: e.NodeAddr}, nil
}
