// Package overlay is the control plane of berth's overlay networks: the
// "overlay" network driver of package cni, backed by the cluster store
// (etcd). A network created on one node is written to the store and
// realised by every node (its bridge and vxlan device, cni/overlay); each
// container's address comes from a cluster-wide IPAM (etcd transactions);
// each node announces its containers' endpoints under its own lease and
// writes the forwarding and neighbour entries, and the DNS records, of
// every other node's (Programmer).
package overlay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/cni"
	"github.com/berthproject/berth/cni/overlay"
	"github.com/berthproject/berth/engine/cluster"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// DefaultLeaseTTL bounds how long the endpoints of a dead node stay in the
// store (and in the other nodes' forwarding tables).
const DefaultLeaseTTL = 10 * time.Second

// Options configure a Service.
type Options struct {
	// LeaseTTL of this node's endpoints (default DefaultLeaseTTL).
	LeaseTTL time.Duration
	Logger   *slog.Logger
}

// Service is the overlay driver and its control plane on one node.
// Create it with New, pass it to cni.Config.Drivers, Bind it to the
// cni.Manager, then give it the cluster store with SetStore (from the
// cluster service's OnStore).
type Service struct {
	opts     Options
	h        *netlink.Handle
	switchMu sync.Mutex // serialises store switches

	mu      sync.Mutex
	gen     uint64 // of the last SetStore
	m       *cni.Manager
	store   *Store
	lease   clientv3.LeaseID
	prog    *Programmer
	stop    context.CancelFunc
	stopped chan struct{}
	synced  chan struct{}       // closed once the current session's first sync is done
	lbs     map[string]Endpoint // this node's load-balancer endpoints, by network (EnsureLB)
	isTask  func(containerID string) bool
}

// AllowTasks lets the containers of service tasks (isTask reports which)
// on networks that are not attachable, as Docker's swarm-scoped networks
// take service tasks.
func (s *Service) AllowTasks(isTask func(containerID string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.isTask = isTask
}

var (
	_ cni.Driver            = (*Service)(nil)
	_ cni.EndpointAllocator = (*Service)(nil)
)

// New returns the overlay service of this node (working in the current
// network namespace).
func New(opts Options) (*Service, error) {
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	return &Service{opts: opts, h: h}, nil
}

// Bind gives the service the network manager it realises networks in.
func (s *Service) Bind(m *cni.Manager) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = m
}

// SetStore starts the control plane on the cluster store st, or stops it
// (st nil: the node left the cluster, or berthd stops). It does not block
// (the cluster service calls it under its lock); the last call wins.
func (s *Service) SetStore(st *cluster.Store) {
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	go s.switchStore(gen, st)
}

// Close stops the control plane and waits for it (the store's records
// stay; this node's endpoints expire with its lease unless berthd is back
// first).
func (s *Service) Close() {
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	s.switchStore(gen, nil)
	s.h.Close()
}

func (s *Service) switchStore(gen uint64, st *cluster.Store) {
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	s.mu.Lock()
	if gen != s.gen {
		s.mu.Unlock()
		return // a later call decides
	}
	stop, stopped := s.stop, s.stopped
	s.stop, s.stopped, s.store, s.prog = nil, nil, nil, nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-stopped
	}
	if st == nil {
		return
	}
	store, err := NewStore(st)
	if err != nil {
		s.opts.Logger.Error("overlay networks disabled", "error", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.mu.Lock()
	s.store, s.stop, s.stopped, s.synced = store, cancel, done, make(chan struct{})
	s.lbs = nil
	var dns DNS
	if s.m != nil {
		dns = s.m.DNS()
	}
	s.prog = NewProgrammer(s.h, st.NodeID, dns)
	synced := s.synced
	s.mu.Unlock()
	go func() {
		defer close(done)
		s.run(ctx, store, synced)
	}()
}

// session returns the store, lease and programmer in use, or an error
// saying the node is in no cluster.
func (s *Service) session() (*Store, clientv3.LeaseID, *Programmer, *cni.Manager, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store == nil {
		return nil, 0, nil, nil, fmt.Errorf("overlay networks exist across a cluster: this node is in none (berth cluster init, or berth cluster join): %w", errdefs.ErrFailedPrecondition)
	}
	return s.store, s.lease, s.prog, s.m, nil
}

// WaitSynced waits until the control plane read the store once since it
// got it (tests, and Create on a node that just joined).
func (s *Service) WaitSynced(ctx context.Context) error {
	s.mu.Lock()
	ch := s.synced
	s.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Names of a network's devices on every node.
func bridgeName(n *networktypes.Network) string { return "ov-" + n.ID[:12] }
func vxlanName(n *networktypes.Network) string  { return "vx-" + n.ID[:12] }

// Name is the driver's.
func (s *Service) Name() string { return networktypes.DriverOverlay }

// Prepare fills the driver fields of a network the store holds.
func (s *Service) Prepare(_ context.Context, n *networktypes.Network) error {
	if VNI(n) == 0 {
		return fmt.Errorf("overlay network %s has no VXLAN ID: %w", n.Name, errdefs.ErrInvalidArgument)
	}
	n.Interface = bridgeName(n)
	n.DNS = true
	return nil
}

func (s *Service) spec(n *networktypes.Network) (overlay.Spec, error) {
	s.mu.Lock()
	store := s.store
	s.mu.Unlock()
	if store == nil {
		return overlay.Spec{}, errNoStore
	}
	sp := overlay.Spec{
		VNI: VNI(n), Bridge: bridgeName(n), VXLAN: vxlanName(n), Local: store.addr,
		Gateway: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()),
	}
	return sp, nil
}

var errNoStore = errors.New("no cluster store")

// Plugins is the network's conflist: berth's overlay plugin.
func (s *Service) Plugins(n *networktypes.Network, _ string) ([]map[string]any, error) {
	sp, err := s.spec(n)
	if err != nil {
		return nil, fmt.Errorf("overlay network %s: %w", n.Name, err)
	}
	return []map[string]any{{
		"type": overlay.PluginType, "vni": sp.VNI, "bridge": sp.Bridge, "vxlan": sp.VXLAN,
		"local": sp.Local.String(), "gateway": sp.Gateway.String(), "subnet": n.Subnet.String(),
		"internal":     n.Internal,
		"capabilities": map[string]bool{"ips": true, "mac": true},
	}}, nil
}

// Ensure creates the network's bridge and vxlan device here. Without the
// store (berthd starting, before the cluster is back) it waits for the
// control plane, which ensures every network when it starts.
func (s *Service) Ensure(_ context.Context, n *networktypes.Network) error {
	sp, err := s.spec(n)
	if errors.Is(err, errNoStore) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = overlay.Ensure(s.h, sp)
	return err
}

// Features: berth's firewall isolates the overlay's bridge from every
// other network's and masquerades its traffic out of the node; the DNS
// listens on the gateway. A container's published ports (run -p) answer
// on the node it runs on, as on a bridge network; a service's answer on
// every node (the routing mesh, engine/network/servicelb).
func (s *Service) Features(*networktypes.Network) cni.Features {
	return cni.Features{Firewall: true, HostReachable: true, Ports: true}
}

// Destroy removes the network's devices here.
func (s *Service) Destroy(_ context.Context, n *networktypes.Network) error {
	return overlay.Destroy(s.h, overlay.Spec{VNI: VNI(n), Bridge: bridgeName(n), VXLAN: vxlanName(n)})
}

// AllocateEndpoint gives a container its cluster-wide address and
// announces its endpoint.
func (s *Service) AllocateEndpoint(ctx context.Context, n *networktypes.Network, req cni.EndpointRequest) (netip.Addr, string, error) {
	store, lease, _, _, err := s.session()
	if err != nil {
		return netip.Addr{}, "", err
	}
	s.mu.Lock()
	isTask := s.isTask
	s.mu.Unlock()
	if !n.Attachable && (isTask == nil || !isTask(req.ContainerID)) {
		return netip.Addr{}, "", fmt.Errorf("network %s is not manually attachable: create it with --attachable for containers started with run or create: %w", n.Name, errdefs.ErrFailedPrecondition)
	}
	if lease == 0 {
		return netip.Addr{}, "", fmt.Errorf("overlay network %s: not connected to the cluster store yet: %w", n.Name, errdefs.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	ep, err := store.Allocate(ctx, n, lease, Endpoint{ID: req.ContainerID, IP: req.IPv4, MAC: req.MAC, Names: req.Names})
	if errors.Is(err, context.DeadlineExceeded) {
		return netip.Addr{}, "", fmt.Errorf("overlay network %s: the cluster store does not answer (no quorum?): %w", n.Name, errdefs.ErrUnavailable)
	}
	if err != nil {
		return netip.Addr{}, "", err
	}
	return ep.IP, ep.MAC, nil
}

// ReleaseEndpoint gives the address back and withdraws the endpoint. A
// store that does not answer (no quorum) does not hold up the container's
// teardown: the control plane withdraws the endpoint later (gc).
func (s *Service) ReleaseEndpoint(ctx context.Context, n *networktypes.Network, containerID string) error {
	store, _, _, _, err := s.session()
	if err != nil {
		// Out of the cluster: the records went with it, or expire with
		// this node's lease.
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := store.Release(ctx, n.Name, containerID); err != nil {
		s.opts.Logger.Warn("overlay: endpoint withdrawn later", "network", n.Name, "container", shortID(containerID), "error", err)
	}
	return nil
}

// storeTimeout bounds the store calls of a container's start and
// teardown: without a quorum they fail instead of hanging.
const storeTimeout = 15 * time.Second

// gcInterval is how often the control plane withdraws endpoints of this
// node whose container is gone (a teardown while the store was away).
const gcInterval = 30 * time.Second

// gc withdraws this node's endpoints in the store that no local container
// holds.
func (s *Service) gc(ctx context.Context, store *Store, m *cni.Manager) {
	nets, _, err := store.Networks(ctx)
	if err != nil {
		return
	}
	for name := range nets {
		eps, err := store.Endpoints(ctx, name)
		if err != nil {
			return
		}
		mine := map[string]bool{}
		for _, le := range m.LocalEndpoints(name) {
			mine[le.ContainerID] = true
		}
		for _, e := range eps {
			if _, lb := s.wantLB(name, e.ID); lb {
				continue
			}
			if e.Node == store.node && !mine[e.ID] {
				if err := store.Release(ctx, name, e.ID); err == nil {
					s.opts.Logger.Info("overlay: stale endpoint withdrawn", "network", name, "container", shortID(e.ID))
				}
			}
		}
	}
}

// Create writes a new overlay network to the store and realises it here
// (every other node does on its own, watching the store). If it cannot
// be realised here, nothing is left in the store.
func (s *Service) Create(ctx context.Context, opts networktypes.CreateOptions) (*networktypes.Network, error) {
	if err := cni.CheckNetworkName(opts.Name); err != nil {
		return nil, err
	}
	store, _, prog, m, err := s.session()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("overlay: no network manager: %w", errdefs.ErrFailedPrecondition)
	}
	if _, err := m.Inspect(ctx, opts.Name); err == nil {
		return nil, fmt.Errorf("network with name %s already exists: %w", opts.Name, errdefs.ErrAlreadyExists)
	}
	if opts.Gateway.IsValid() && !opts.Subnet.IsValid() {
		return nil, fmt.Errorf("a gateway needs a subnet: %w", errdefs.ErrInvalidArgument)
	}
	if opts.IPRange.IsValid() && !opts.Subnet.IsValid() {
		return nil, fmt.Errorf("an ip-range needs a subnet: %w", errdefs.ErrInvalidArgument)
	}
	if _, ok := opts.Options[OptEncrypted]; ok {
		return nil, errEncrypted(s.h)
	}
	n, err := store.CreateNetwork(ctx, opts, s.localPrefixes(ctx, m))
	if err != nil {
		return nil, err
	}
	out, err := s.realise(ctx, m, prog, n)
	if err != nil {
		if rerr := store.RemoveNetwork(context.WithoutCancel(ctx), n.Name); rerr != nil {
			s.opts.Logger.Warn("overlay: remove the network that could not be created", "network", n.Name, "error", rerr)
		}
		return nil, err
	}
	return out, nil
}

// localPrefixes are subnets a new overlay network must not overlap here:
// the local networks' and the host's routes.
func (s *Service) localPrefixes(ctx context.Context, m *cni.Manager) []netip.Prefix {
	var out []netip.Prefix
	if nets, err := m.List(ctx); err == nil {
		for _, n := range nets {
			out = append(out, n.Subnet)
		}
	}
	routes, _ := s.h.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		if a, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok && ones > 0 {
			out = append(out, netip.PrefixFrom(a, ones).Masked())
		}
	}
	return out
}

// realise adopts n into the local manager, ensures its devices and lets
// the programmer write its entries.
func (s *Service) realise(ctx context.Context, m *cni.Manager, prog *Programmer, n *networktypes.Network) (*networktypes.Network, error) {
	out, err := m.Adopt(ctx, *n)
	if err != nil {
		return nil, err
	}
	if err := s.Ensure(ctx, out); err != nil {
		return nil, err
	}
	if err := prog.SetNetwork(n.Name, vxlanName(out)); err != nil {
		s.opts.Logger.Warn("overlay: forwarding entries", "network", n.Name, "error", err)
	}
	return out, nil
}

// Remove deletes an overlay network from the cluster once no container on
// any node is attached, then here (every other node follows).
func (s *Service) Remove(ctx context.Context, name string) error {
	store, _, prog, m, err := s.session()
	if err != nil {
		return err
	}
	m.Settle() // background teardowns give their addresses back first
	if err := store.RemoveNetwork(ctx, name); err != nil {
		return err
	}
	prog.DropNetwork(name)
	s.forgetLB(name)
	if err := m.Remove(ctx, name); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// run is one session on the store: lease, full sync, then the watch,
// until ctx ends. A lost lease or a broken watch starts over.
func (s *Service) run(ctx context.Context, store *Store, synced chan struct{}) {
	log := s.opts.Logger
	first := true
	for ctx.Err() == nil {
		err := s.session1(ctx, store, func() {
			if first {
				close(synced)
				first = false
			}
		})
		if ctx.Err() != nil {
			break
		}
		log.Warn("overlay: control plane restarts", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if first {
		close(synced)
	}
	s.mu.Lock()
	lease := s.lease
	s.lease = 0
	s.mu.Unlock()
	_ = lease // the lease expires by itself: a restarting berthd keeps its endpoints if back in time
}

func (s *Service) session1(ctx context.Context, store *Store, onSynced func()) error {
	ttl := int64(s.opts.LeaseTTL / time.Second)
	if ttl < 2 {
		ttl = 2
	}
	g, err := store.c.Grant(ctx, ttl)
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	ka, err := store.c.KeepAlive(kctx, g.ID)
	if err != nil {
		return fmt.Errorf("keep lease alive: %w", err)
	}
	s.mu.Lock()
	s.lease = g.ID
	prog, m := s.prog, s.m
	s.mu.Unlock()
	if prog == nil || m == nil {
		return errors.New("no network manager bound")
	}
	rev, err := s.sync(ctx, store, prog, m, g.ID)
	if err != nil {
		return err
	}
	onSynced()
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wch := store.c.Watch(wctx, cluster.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	tick := time.NewTicker(gcInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			gctx, cancel := context.WithTimeout(ctx, storeTimeout)
			s.gc(gctx, store, m)
			cancel()
		case _, ok := <-ka:
			if !ok {
				return errors.New("lease lost")
			}
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			for _, ev := range wr.Events {
				s.apply(ctx, prog, m, ev)
			}
		}
	}
}

// sync reads the whole overlay state and makes this node match it:
// networks realised (and those gone removed), this node's endpoints
// announced under the new lease (and stale ones withdrawn), every other
// node's programmed. It returns the store revision it read at.
func (s *Service) sync(ctx context.Context, store *Store, prog *Programmer, m *cni.Manager, lease clientv3.LeaseID) (int64, error) {
	log := s.opts.Logger
	nets, rev, err := store.Networks(ctx)
	if err != nil {
		return 0, err
	}
	local, err := m.List(ctx)
	if err != nil {
		return 0, err
	}
	for _, n := range local {
		if n.Driver != networktypes.DriverOverlay {
			continue
		}
		if sn, ok := nets[n.Name]; !ok || sn.ID != n.ID {
			prog.DropNetwork(n.Name)
			s.forgetLB(n.Name)
			if err := m.Remove(ctx, n.Name); err != nil {
				log.Warn("overlay: a network removed from the cluster stays here", "network", n.Name, "error", err)
			}
		}
	}
	for _, n := range nets {
		if _, err := s.realise(ctx, m, prog, n); err != nil {
			log.Warn("overlay: network not realised on this node", "network", n.Name, "error", err)
			continue
		}
		eps, err := store.Endpoints(ctx, n.Name)
		if err != nil {
			return 0, err
		}
		mine := map[string]bool{}
		for _, le := range m.LocalEndpoints(n.Name) {
			mine[le.ContainerID] = true
			if !le.IPv4.IsValid() {
				continue // being set up: Allocate announces it
			}
			e := Endpoint{ID: le.ContainerID, IP: le.IPv4.Addr(), MAC: le.MAC, Names: le.Names}
			if err := store.Reannounce(ctx, n.Name, lease, e); err != nil {
				log.Error("overlay: endpoint not announced", "network", n.Name, "container", shortID(le.ContainerID), "error", err)
			}
		}
		if lb, ok := s.lbs1(n.Name); ok {
			mine[lb.ID] = true
			if err := store.Reannounce(ctx, n.Name, lease, lb); err != nil {
				log.Error("overlay: load-balancer address not announced", "network", n.Name, "error", err)
				s.mu.Lock()
				delete(s.lbs, n.Name) // EnsureLB allocates again
				s.mu.Unlock()
			}
		}
		for _, e := range eps {
			if e.Node == store.node && !mine[e.ID] && e.ID == LBEndpointID(store.node) {
				// This node's load-balancer address from before a restart:
				// kept under the new lease until the load balancer asks for
				// it again (EnsureLB), or the gc finds it unwanted.
				if err := store.Reannounce(ctx, n.Name, lease, e); err != nil {
					log.Warn("overlay: load-balancer address", "network", n.Name, "error", err)
				}
				continue
			}
			if e.Node == store.node && !mine[e.ID] {
				if err := store.Release(ctx, n.Name, e.ID); err != nil {
					log.Warn("overlay: stale endpoint", "network", n.Name, "container", shortID(e.ID), "error", err)
				}
			}
		}
		if err := prog.Reset(n.Name, eps); err != nil {
			log.Warn("overlay: forwarding entries", "network", n.Name, "error", err)
		}
	}
	return rev, nil
}

// forgetLB forgets the load-balancer endpoint of a network gone.
func (s *Service) forgetLB(network string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.lbs, network)
}

// lbs1 returns this node's load-balancer endpoint on a network, if any.
func (s *Service) lbs1(network string) (Endpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lbs[network]
	return e, ok
}

// apply handles one change of the store.
func (s *Service) apply(ctx context.Context, prog *Programmer, m *cni.Manager, ev *clientv3.Event) {
	log := s.opts.Logger
	key := string(ev.Kv.Key)
	switch {
	case strings.HasPrefix(key, cluster.PrefixNetworks):
		name := cluster.KeyLast(key)
		if ev.Type == clientv3.EventTypeDelete {
			prog.DropNetwork(name)
			s.forgetLB(name)
			if err := m.Remove(ctx, name); err != nil && !errdefs.IsNotFound(err) {
				log.Warn("overlay: a network removed from the cluster stays here", "network", name, "error", err)
			}
			return
		}
		var n networktypes.Network
		if err := json.Unmarshal(ev.Kv.Value, &n); err != nil {
			return
		}
		if _, err := s.realise(ctx, m, prog, &n); err != nil {
			log.Warn("overlay: network not realised on this node", "network", n.Name, "error", err)
		}
	case strings.HasPrefix(key, cluster.PrefixEndpoints):
		rest := strings.TrimPrefix(key, cluster.PrefixEndpoints)
		network, id, ok := strings.Cut(rest, "/")
		if !ok {
			return
		}
		var err error
		if ev.Type == clientv3.EventTypeDelete {
			err = prog.Delete(network, id)
		} else {
			var e Endpoint
			if json.Unmarshal(ev.Kv.Value, &e) != nil {
				return
			}
			err = prog.Put(network, e)
		}
		if err != nil {
			log.Warn("overlay: forwarding entries", "network", network, "error", err)
		}
	}
}

// errEncrypted is why --opt encrypted is refused: IPsec between nodes
// (kernel XFRM, ESP in transport mode on the vxlan traffic) is not in
// this version, and on a kernel without ESP it could not be either
// (docs/cluster.md "Overlay networks").
func errEncrypted(h *netlink.Handle) error {
	if err := overlay.ESPSupported(h); err != nil {
		return fmt.Errorf("--opt encrypted: this kernel has no IPsec ESP (CONFIG_INET_ESP: %v), so vxlan traffic between nodes cannot be encrypted; create the network without it: %w", err, errdefs.ErrNotImplemented)
	}
	return fmt.Errorf("--opt encrypted: IPsec between nodes is not implemented yet; create the network without it: %w", errdefs.ErrNotImplemented)
}
