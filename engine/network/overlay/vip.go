package overlay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
)

// Service virtual IPs and node load-balancer addresses.
//
// A service's VIP on an overlay network is an address of the network's
// IPAM (/berth/ipam/<network>/<ip>, value "vip:<owner>"), held for as
// long as the service exists: not bound to any lease, and with no
// endpoint record (no node owns it: every node with the network answers
// for it, docs/services.md "Load balancing and the routing mesh").
//
// A node's load-balancer address on a network (the source address of the
// connections it balances to tasks, so that replies come back through it)
// is an endpoint of the node (ID "lb-<node-id>", the MAC of the node's
// bridge), announced under the node's lease like a container's: every
// other node writes its forwarding entries, and it goes with the node.

// vipOwnerPrefix marks IPAM values that are VIPs.
const vipOwnerPrefix = "vip:"

// LBEndpointPrefix starts the endpoint ID of a node's load-balancer
// address.
const LBEndpointPrefix = "lb-"

// LBEndpointID is the endpoint ID of node's load-balancer address.
func LBEndpointID(node string) string { return LBEndpointPrefix + node }

// AllocateVIP gives owner (a service ID) a virtual IP on the overlay
// network: the address it already holds there, or the lowest free one of
// the network's IPAM, in one etcd transaction (no address is ever given
// twice, whichever node asks). Call it when the service is created (or
// joins the network) and ReleaseVIP when it is removed (or leaves it).
// Errors: ErrNotFound (no such overlay network), ErrResourceExhausted,
// ErrFailedPrecondition (this node is in no cluster).
func (s *Service) AllocateVIP(ctx context.Context, network, owner string) (netip.Addr, error) {
	store, _, _, _, err := s.session()
	if err != nil {
		return netip.Addr{}, err
	}
	if owner == "" {
		return netip.Addr{}, fmt.Errorf("allocate a VIP: no owner: %w", errdefs.ErrInvalidArgument)
	}
	return store.AllocateVIP(ctx, network, owner)
}

// ReleaseVIP gives back owner's virtual IP on the network. Releasing what
// is not held (or on a network that is gone) is not an error.
func (s *Service) ReleaseVIP(ctx context.Context, network, owner string) error {
	store, _, _, _, err := s.session()
	if err != nil {
		return err
	}
	return store.ReleaseVIP(ctx, network, owner)
}

// VIPs lists the virtual IPs held on a network, by owner.
func (s *Store) VIPs(ctx context.Context, network string) (map[string]netip.Addr, error) {
	resp, err := s.c.Get(ctx, cluster.IPAMPrefix(network), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := map[string]netip.Addr{}
	for _, kv := range resp.Kvs {
		owner, ok := strings.CutPrefix(string(kv.Value), vipOwnerPrefix)
		if !ok {
			continue
		}
		if a, err := netip.ParseAddr(cluster.KeyLast(string(kv.Key))); err == nil {
			out[owner] = a
		}
	}
	return out, nil
}

// AllocateVIP is Service.AllocateVIP on the store.
func (s *Store) AllocateVIP(ctx context.Context, network, owner string) (netip.Addr, error) {
	for attempt := 0; attempt < 50; attempt++ {
		n, err := s.Network(ctx, network)
		if err != nil {
			return netip.Addr{}, err
		}
		used, err := s.c.Get(ctx, cluster.IPAMPrefix(network), clientv3.WithPrefix())
		if err != nil {
			return netip.Addr{}, err
		}
		taken := map[netip.Addr]string{}
		for _, kv := range used.Kvs {
			a, err := netip.ParseAddr(cluster.KeyLast(string(kv.Key)))
			if err != nil {
				continue
			}
			if string(kv.Value) == vipOwnerPrefix+owner {
				return a, nil
			}
			taken[a] = string(kv.Value)
		}
		ip, err := lowestFree(n, taken)
		if err != nil {
			return netip.Addr{}, err
		}
		ipKey := cluster.IPAMKey(network, ip.String())
		resp, err := s.c.Txn(ctx).If(
			clientv3.Compare(clientv3.CreateRevision(cluster.NetworkKey(network)), ">", 0),
			clientv3.Compare(clientv3.CreateRevision(ipKey), "=", 0),
		).Then(clientv3.OpPut(ipKey, vipOwnerPrefix+owner)).Commit()
		if err != nil {
			return netip.Addr{}, err
		}
		if resp.Succeeded {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("allocate a VIP on %s: the cluster store kept changing: %w", network, errdefs.ErrUnavailable)
}

// VIPOps is the part of one etcd transaction that makes owner hold a VIP
// on each network of want (the address it holds there already, or the
// lowest free one) and none on the networks of held that want lacks: the
// compares that hold while the IPAM is as read here, and the writes. The
// addresses are held, or given back, only if that transaction commits,
// so the record that lists them (the service's) changes with them, and a
// transaction that fails leaves nothing to undo. Errors: ErrNotFound (no
// such overlay network), ErrResourceExhausted.
func (s *Store) VIPOps(ctx context.Context, owner string, want, held []string) (map[string]netip.Addr, []clientv3.Cmp, []clientv3.Op, error) {
	vips := map[string]netip.Addr{}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	value := vipOwnerPrefix + owner
	// ipam reads a network's addresses: taken, and the one owner holds.
	ipam := func(network string) (map[netip.Addr]string, netip.Addr, error) {
		resp, err := s.c.Get(ctx, cluster.IPAMPrefix(network), clientv3.WithPrefix())
		if err != nil {
			return nil, netip.Addr{}, err
		}
		taken := map[netip.Addr]string{}
		var mine netip.Addr
		for _, kv := range resp.Kvs {
			a, err := netip.ParseAddr(cluster.KeyLast(string(kv.Key)))
			if err != nil {
				continue
			}
			if string(kv.Value) == value {
				mine = a
			}
			taken[a] = string(kv.Value)
		}
		return taken, mine, nil
	}
	for _, network := range want {
		n, err := s.Network(ctx, network)
		if err != nil {
			return nil, nil, nil, err
		}
		taken, mine, err := ipam(network)
		if err != nil {
			return nil, nil, nil, err
		}
		if mine.IsValid() {
			vips[network] = mine
			cmps = append(cmps, clientv3.Compare(clientv3.Value(cluster.IPAMKey(network, mine.String())), "=", value))
			continue
		}
		ip, err := lowestFree(n, taken)
		if err != nil {
			return nil, nil, nil, err
		}
		key := cluster.IPAMKey(network, ip.String())
		vips[network] = ip
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(cluster.NetworkKey(network)), ">", 0),
			clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
		ops = append(ops, clientv3.OpPut(key, value))
	}
	for _, network := range held {
		if _, ok := vips[network]; ok || slices.Contains(want, network) {
			continue
		}
		_, mine, err := ipam(network)
		if err != nil {
			return nil, nil, nil, err
		}
		if mine.IsValid() {
			key := cluster.IPAMKey(network, mine.String())
			cmps = append(cmps, clientv3.Compare(clientv3.Value(key), "=", value))
			ops = append(ops, clientv3.OpDelete(key))
		}
	}
	return vips, cmps, ops, nil
}

// ReleaseVIP is Service.ReleaseVIP on the store.
func (s *Store) ReleaseVIP(ctx context.Context, network, owner string) error {
	vips, err := s.VIPs(ctx, network)
	if err != nil {
		return err
	}
	ip, ok := vips[owner]
	if !ok {
		return nil
	}
	ipKey := cluster.IPAMKey(network, ip.String())
	_, err = s.c.Txn(ctx).If(clientv3.Compare(clientv3.Value(ipKey), "=", vipOwnerPrefix+owner)).
		Then(clientv3.OpDelete(ipKey)).Commit()
	return err
}

// EnsureLB gives this node its load-balancer address on the overlay
// network (allocated once, announced under the node's lease and again
// after a lost lease) and returns it. mac is the node's bridge's MAC
// address for the network.
func (s *Service) EnsureLB(ctx context.Context, network, mac string) (netip.Addr, error) {
	store, lease, _, _, err := s.session()
	if err != nil {
		return netip.Addr{}, err
	}
	if lease == 0 {
		return netip.Addr{}, fmt.Errorf("overlay network %s: not connected to the cluster store yet: %w", network, errdefs.ErrUnavailable)
	}
	id := LBEndpointID(store.node)
	s.mu.Lock()
	if s.lbs == nil {
		s.lbs = map[string]Endpoint{}
	}
	have, ok := s.lbs[network]
	s.mu.Unlock()
	if ok && have.MAC == mac {
		return have.IP, nil
	}
	n, err := store.Network(ctx, network)
	if err != nil {
		return netip.Addr{}, err
	}
	// Already in the store (berthd restarted within the lease)?
	var ep Endpoint
	eps, err := store.Endpoints(ctx, network)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, e := range eps {
		if e.ID == id {
			ep = e
		}
	}
	if ep.IP.IsValid() {
		ep.MAC = mac
		err = store.Reannounce(ctx, network, lease, ep)
	} else {
		ep, err = store.Allocate(ctx, n, lease, Endpoint{ID: id, MAC: mac})
	}
	if err != nil {
		return netip.Addr{}, err
	}
	s.mu.Lock()
	s.lbs[network] = ep
	s.mu.Unlock()
	return ep.IP, nil
}

// ReleaseLB withdraws this node's load-balancer address on the network.
func (s *Service) ReleaseLB(ctx context.Context, network string) error {
	s.mu.Lock()
	delete(s.lbs, network)
	s.mu.Unlock()
	store, _, _, _, err := s.session()
	if err != nil {
		return nil
	}
	return store.Release(ctx, network, LBEndpointID(store.node))
}

// wantLB reports whether this node keeps its load-balancer endpoint on
// the network (the gc and the resync leave it alone).
func (s *Service) wantLB(network, id string) (Endpoint, bool) {
	if !strings.HasPrefix(id, LBEndpointPrefix) {
		return Endpoint{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lbs[network]
	return e, ok && e.ID == id
}

// inUse reads what keeps a network from being removed from the cluster:
// an error naming the services holding a VIP on it, or else the
// container endpoints on it (load-balancer endpoints do not count: they
// go with the network) and the revision read at.
func (s *Store) inUse(ctx context.Context, name string) (eps []Endpoint, rev int64, err error) {
	vips, err := s.VIPs(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	if len(vips) > 0 {
		owners := make([]string, 0, len(vips))
		for o := range vips {
			owners = append(owners, shortID(o))
		}
		slices.Sort(owners)
		return nil, 0, fmt.Errorf("network %s is in use by service(s) %s: remove them first: %w", name, strings.Join(owners, ", "), errdefs.ErrFailedPrecondition)
	}
	resp, err := s.c.Get(ctx, cluster.EndpointsPrefix(name), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	for _, kv := range resp.Kvs {
		var e Endpoint
		if json.Unmarshal(kv.Value, &e) == nil && !strings.HasPrefix(e.ID, LBEndpointPrefix) {
			eps = append(eps, e)
		}
	}
	return eps, resp.Header.Revision, nil
}
