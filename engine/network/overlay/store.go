package overlay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/cni/overlay"
	"github.com/berthproject/berth/engine/cluster"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// The overlay's records in the cluster store (keys: engine/cluster/keys.go).
//
//	/berth/networks/<name>            a networktypes.Network (ID, VNI in Options, subnet, ...)
//	/berth/vni/<vni>                  the network's name
//	/berth/ipam/<name>/<ip>           the endpoint ID (the container's), leased by its node
//	/berth/endpoints/<name>/<id>      an Endpoint, leased by its node
//
// An address and its endpoint are written in one transaction that fails
// if the address is taken or the network gone, so concurrent creates on
// several nodes never share an address, and no endpoint outlives its
// network. Both ride on their node's lease: when a node dies they expire
// and every other node removes its forwarding entries.

// OptVNI is Docker's option naming an overlay network's VXLAN ID.
const OptVNI = "com.docker.network.driver.overlay.vxlanid_list"

// OptEncrypted is Docker's option asking for IPsec between nodes.
const OptEncrypted = "encrypted"

// First VNI handed out (Docker's overlay starts after 4096).
const firstVNI = 4097

// Endpoint is one container's leg on an overlay network, as every node
// sees it.
type Endpoint struct {
	ID       string     `json:"ID"` // the container's ID
	Node     string     `json:"Node"`
	NodeAddr netip.Addr `json:"NodeAddr"` // underlay address of the node
	IP       netip.Addr `json:"IP"`
	MAC      string     `json:"MAC"`
	Names    []string   `json:"Names,omitempty"`
}

// DefaultPool is where overlay subnets come from when none is given:
// /24s of 10.0.0.0/8, as Docker's swarm.
var DefaultPool = struct {
	Base netip.Prefix
	Size int
}{netip.MustParsePrefix("10.0.0.0/8"), 24}

// Store is the overlay's view of the cluster store.
type Store struct {
	c    *clientv3.Client
	node string
	addr netip.Addr
}

// NewStore wraps a cluster store handle.
func NewStore(st *cluster.Store) (*Store, error) {
	addr, err := netip.ParseAddr(st.NodeAddr)
	if err != nil || !addr.Is4() {
		return nil, fmt.Errorf("overlay: node address %q is not an IPv4 address", st.NodeAddr)
	}
	return &Store{c: st.Client, node: st.NodeID, addr: addr}, nil
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// VNI returns an overlay network's VXLAN ID.
func VNI(n *networktypes.Network) int {
	v, _ := strconv.Atoi(n.Options[OptVNI])
	return v
}

// Networks reads every overlay network of the cluster.
func (s *Store) Networks(ctx context.Context) (map[string]*networktypes.Network, int64, error) {
	resp, err := s.c.Get(ctx, cluster.PrefixNetworks, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	out := map[string]*networktypes.Network{}
	for _, kv := range resp.Kvs {
		var n networktypes.Network
		if json.Unmarshal(kv.Value, &n) == nil && n.Name != "" {
			out[n.Name] = &n
		}
	}
	return out, resp.Header.Revision, nil
}

// Network reads one overlay network (ErrNotFound if there is none).
func (s *Store) Network(ctx context.Context, name string) (*networktypes.Network, error) {
	resp, err := s.c.Get(ctx, cluster.NetworkKey(name))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("network %s not found: %w", name, errdefs.ErrNotFound)
	}
	var n networktypes.Network
	if err := json.Unmarshal(resp.Kvs[0].Value, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// CreateNetwork writes a new overlay network with a free VNI (or the one
// in opts.Options) and a subnet (opts.Subnet, or a free /24 of the pool
// that overlaps no overlay network and none of avoid).
func (s *Store) CreateNetwork(ctx context.Context, opts networktypes.CreateOptions, avoid []netip.Prefix) (*networktypes.Network, error) {
	for k := range opts.Options {
		switch k {
		case OptVNI, OptEncrypted, "com.docker.network.driver.mtu", "mtu":
		default:
			return nil, fmt.Errorf("overlay driver: unknown option %q: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	fixedVNI := 0
	if v, ok := opts.Options[OptVNI]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1<<24-1 {
			return nil, fmt.Errorf("overlay driver: %s=%q is not a VXLAN ID (1-16777215): %w", OptVNI, v, errdefs.ErrInvalidArgument)
		}
		fixedVNI = n
	}
	for attempt := 0; attempt < 20; attempt++ {
		nets, _, err := s.Networks(ctx)
		if err != nil {
			return nil, err
		}
		if _, ok := nets[opts.Name]; ok {
			return nil, fmt.Errorf("network with name %s already exists: %w", opts.Name, errdefs.ErrAlreadyExists)
		}
		n := &networktypes.Network{
			ID: newID(), Name: opts.Name, Driver: networktypes.DriverOverlay,
			Subnet: opts.Subnet, Gateway: opts.Gateway, IPRange: opts.IPRange,
			Internal: opts.Internal, Attachable: opts.Attachable, DNS: true,
			Options: maps.Clone(opts.Options), Labels: maps.Clone(opts.Labels),
			AuxAddresses: maps.Clone(opts.AuxAddresses), IPAMOptions: maps.Clone(opts.IPAMOptions),
			Created: time.Now().UTC(),
		}
		if n.Options == nil {
			n.Options = map[string]string{}
		}
		if !n.Subnet.IsValid() {
			if n.Subnet, err = freeSubnet(nets, avoid); err != nil {
				return nil, err
			}
		} else {
			for _, o := range nets {
				if o.Subnet.Overlaps(n.Subnet) {
					return nil, fmt.Errorf("subnet %s overlaps overlay network %s (%s): %w", n.Subnet, o.Name, o.Subnet, errdefs.ErrInvalidArgument)
				}
			}
		}
		if err := addressing(n); err != nil {
			return nil, err
		}
		vni := fixedVNI
		if vni == 0 {
			vni = freeVNI(nets)
		}
		n.Options[OptVNI] = strconv.Itoa(vni)
		b, _ := json.Marshal(n)
		vkey := cluster.PrefixVNI + strconv.Itoa(vni)
		resp, err := s.c.Txn(ctx).If(
			clientv3.Compare(clientv3.CreateRevision(cluster.NetworkKey(n.Name)), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(vkey), "=", 0),
		).Then(
			clientv3.OpPut(cluster.NetworkKey(n.Name), string(b)),
			clientv3.OpPut(vkey, n.Name),
		).Commit()
		if err != nil {
			return nil, err
		}
		if resp.Succeeded {
			return n, nil
		}
		if fixedVNI != 0 {
			if got, err := s.c.Get(ctx, vkey); err == nil && len(got.Kvs) > 0 {
				return nil, fmt.Errorf("VXLAN ID %d is used by network %s: %w", vni, got.Kvs[0].Value, errdefs.ErrAlreadyExists)
			}
		}
		// Another node created a network meanwhile: read again.
	}
	return nil, fmt.Errorf("create overlay network %s: the cluster store kept changing: %w", opts.Name, errdefs.ErrUnavailable)
}

func addressing(n *networktypes.Network) error {
	if !n.Subnet.Addr().Is4() {
		return fmt.Errorf("subnet %s: only IPv4 subnets are supported: %w", n.Subnet, errdefs.ErrInvalidArgument)
	}
	n.Subnet = n.Subnet.Masked()
	if n.Subnet.Bits() > 29 {
		return fmt.Errorf("subnet %s is too small: %w", n.Subnet, errdefs.ErrInvalidArgument)
	}
	if !n.Gateway.IsValid() {
		n.Gateway = n.Subnet.Addr().Next()
	}
	if !n.Subnet.Contains(n.Gateway) || n.Gateway == n.Subnet.Addr() {
		return fmt.Errorf("gateway %s is not a host address of subnet %s: %w", n.Gateway, n.Subnet, errdefs.ErrInvalidArgument)
	}
	if n.IPRange.IsValid() && (!n.Subnet.Contains(n.IPRange.Addr()) || n.IPRange.Bits() < n.Subnet.Bits()) {
		return fmt.Errorf("ip-range %s is not inside subnet %s: %w", n.IPRange, n.Subnet, errdefs.ErrInvalidArgument)
	}
	return nil
}

func freeVNI(nets map[string]*networktypes.Network) int {
	used := map[int]bool{}
	for _, n := range nets {
		used[VNI(n)] = true
	}
	v := firstVNI
	for used[v] {
		v++
	}
	return v
}

func freeSubnet(nets map[string]*networktypes.Network, avoid []netip.Prefix) (netip.Prefix, error) {
	base := DefaultPool.Base
	step := uint32(1) << (32 - DefaultPool.Size)
	start := u32(base.Addr())
	count := uint32(1) << (DefaultPool.Size - base.Bits())
next:
	for i := uint32(0); i < count; i++ {
		p := netip.PrefixFrom(addr(start+i*step), DefaultPool.Size)
		for _, n := range nets {
			if n.Subnet.Overlaps(p) {
				continue next
			}
		}
		for _, a := range avoid {
			if a.Overlaps(p) {
				continue next
			}
		}
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("the overlay address pool %s is fully subnetted: %w", base, errdefs.ErrResourceExhausted)
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// RemoveNetwork deletes an overlay network if no endpoint is left on any
// node (ErrFailedPrecondition naming them otherwise), with its VNI and
// address records, in one transaction.
func (s *Store) RemoveNetwork(ctx context.Context, name string) error {
	n, err := s.Network(ctx, name)
	if err != nil {
		return err
	}
	vkey := cluster.PrefixVNI + strconv.Itoa(VNI(n))
	// Nodes' load-balancer endpoints go with the network; any other
	// endpoint (a container's), existing or new, keeps it.
	eps, rev, err := s.inUse(ctx, name)
	if err != nil {
		return err
	}
	var who []string
	for _, e := range eps {
		who = append(who, fmt.Sprintf("%s on node %s", shortID(e.ID), e.Node))
	}
	if len(who) == 0 {
		resp, err := s.c.Txn(ctx).If(
			clientv3.Compare(clientv3.CreateRevision(cluster.EndpointsPrefix(name)), "<", rev+1).WithPrefix(),
			clientv3.Compare(clientv3.CreateRevision(cluster.NetworkKey(name)), ">", 0),
		).Then(
			clientv3.OpDelete(cluster.NetworkKey(name)),
			clientv3.OpDelete(vkey),
			clientv3.OpDelete(cluster.IPAMPrefix(name), clientv3.WithPrefix()),
			clientv3.OpDelete(cluster.EndpointsPrefix(name), clientv3.WithPrefix()),
			clientv3.OpDelete(cluster.PrefixKeys+name),
		).Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			return nil
		}
		if _, err := s.Network(ctx, name); err != nil {
			return err
		}
		return fmt.Errorf("network %s: a container joined it meanwhile: %w", name, errdefs.ErrFailedPrecondition)
	}
	slices.Sort(who)
	return fmt.Errorf("network %s has active endpoints (containers %s): %w", name, strings.Join(who, ", "), errdefs.ErrFailedPrecondition)
}

// Endpoints reads the endpoints of one network.
func (s *Store) Endpoints(ctx context.Context, name string) ([]Endpoint, error) {
	resp, err := s.c.Get(ctx, cluster.EndpointsPrefix(name), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var out []Endpoint
	for _, kv := range resp.Kvs {
		var e Endpoint
		if json.Unmarshal(kv.Value, &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// Allocate gives a container an address on network n (the one asked for,
// or the lowest free one) and announces its endpoint, both bound to
// lease, in one transaction. Errors: ErrNotFound (network gone),
// ErrAlreadyExists (asked-for address taken), ErrResourceExhausted.
func (s *Store) Allocate(ctx context.Context, n *networktypes.Network, lease clientv3.LeaseID, req Endpoint) (Endpoint, error) {
	req.Node, req.NodeAddr = s.node, s.addr
	for attempt := 0; attempt < 50; attempt++ {
		used, err := s.c.Get(ctx, cluster.IPAMPrefix(n.Name), clientv3.WithPrefix())
		if err != nil {
			return Endpoint{}, err
		}
		taken := map[netip.Addr]string{}
		for _, kv := range used.Kvs {
			if a, err := netip.ParseAddr(cluster.KeyLast(string(kv.Key))); err == nil {
				taken[a] = string(kv.Value)
			}
		}
		ep := req
		if req.IP.IsValid() {
			if owner, ok := taken[req.IP]; ok && owner != req.ID {
				return Endpoint{}, fmt.Errorf("address %s is already in use on network %s: %w", req.IP, n.Name, errdefs.ErrAlreadyExists)
			}
		} else if ep.IP, err = lowestFree(n, taken); err != nil {
			return Endpoint{}, err
		}
		if ep.MAC == "" {
			ep.MAC = overlay.MACFor(ep.IP).String()
		}
		b, _ := json.Marshal(ep)
		ipKey := cluster.IPAMKey(n.Name, ep.IP.String())
		resp, err := s.c.Txn(ctx).If(
			clientv3.Compare(clientv3.CreateRevision(cluster.NetworkKey(n.Name)), ">", 0),
			clientv3.Compare(clientv3.CreateRevision(ipKey), "=", 0),
		).Then(
			clientv3.OpPut(ipKey, ep.ID, clientv3.WithLease(lease)),
			clientv3.OpPut(cluster.EndpointKey(n.Name, ep.ID), string(b), clientv3.WithLease(lease)),
		).Commit()
		if err != nil {
			return Endpoint{}, err
		}
		if resp.Succeeded {
			return ep, nil
		}
		if _, err := s.Network(ctx, n.Name); errors.Is(err, errdefs.ErrNotFound) {
			return Endpoint{}, fmt.Errorf("overlay network %s was removed: %w", n.Name, errdefs.ErrNotFound)
		}
		// Another node took the address meanwhile: pick again.
	}
	return Endpoint{}, fmt.Errorf("allocate an address on %s: the cluster store kept changing: %w", n.Name, errdefs.ErrUnavailable)
}

func lowestFree(n *networktypes.Network, taken map[netip.Addr]string) (netip.Addr, error) {
	r := n.Subnet
	if n.IPRange.IsValid() {
		r = n.IPRange
	}
	reserved := map[netip.Addr]bool{n.Gateway: true, n.Subnet.Addr(): true}
	for _, a := range n.AuxAddresses {
		reserved[a] = true
	}
	last := u32(r.Masked().Addr()) | (uint32(1)<<(32-r.Bits()) - 1)
	bcast := u32(n.Subnet.Masked().Addr()) | (uint32(1)<<(32-n.Subnet.Bits()) - 1)
	for v := u32(r.Masked().Addr()); v <= last && v != 0; v++ {
		a := addr(v)
		if v == bcast || reserved[a] {
			continue
		}
		if _, ok := taken[a]; !ok {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address left on network %s (%s): %w", n.Name, r, errdefs.ErrResourceExhausted)
}

// Reannounce writes an existing endpoint again under a new lease (after
// this node's lease was lost): its address, unless another endpoint took
// it meanwhile (ErrAlreadyExists).
func (s *Store) Reannounce(ctx context.Context, network string, lease clientv3.LeaseID, ep Endpoint) error {
	ep.Node, ep.NodeAddr = s.node, s.addr
	b, _ := json.Marshal(ep)
	ipKey := cluster.IPAMKey(network, ep.IP.String())
	resp, err := s.c.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(cluster.NetworkKey(network)), ">", 0),
		clientv3.Compare(clientv3.CreateRevision(ipKey), "=", 0),
	).Then(
		clientv3.OpPut(ipKey, ep.ID, clientv3.WithLease(lease)),
		clientv3.OpPut(cluster.EndpointKey(network, ep.ID), string(b), clientv3.WithLease(lease)),
	).Else(
		clientv3.OpGet(ipKey),
	).Commit()
	if err != nil {
		return err
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 && string(kvs[0].Value) == ep.ID {
		// Ours already: move both keys to the new lease.
		_, err := s.c.Txn(ctx).Then(
			clientv3.OpPut(ipKey, ep.ID, clientv3.WithLease(lease)),
			clientv3.OpPut(cluster.EndpointKey(network, ep.ID), string(b), clientv3.WithLease(lease)),
		).Commit()
		return err
	}
	return fmt.Errorf("address %s of container %s on %s was given to another container while this node was away: %w", ep.IP, shortID(ep.ID), network, errdefs.ErrAlreadyExists)
}

// Release gives back a container's address on a network and withdraws its
// endpoint. Releasing what is not there is not an error.
func (s *Store) Release(ctx context.Context, network, id string) error {
	resp, err := s.c.Get(ctx, cluster.EndpointKey(network, id))
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpDelete(cluster.EndpointKey(network, id))}
	if len(resp.Kvs) > 0 {
		var e Endpoint
		if json.Unmarshal(resp.Kvs[0].Value, &e) == nil && e.IP.IsValid() {
			ipKey := cluster.IPAMKey(network, e.IP.String())
			// The address only if it is still this endpoint's.
			if _, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.Value(ipKey), "=", id)).Then(clientv3.OpDelete(ipKey)).Commit(); err != nil {
				return err
			}
		}
	}
	_, err = s.c.Txn(ctx).Then(ops...).Commit()
	return err
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
