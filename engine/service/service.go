// Package service is berth's replicated services on a cluster (`berth
// service ...`): the desired state in the cluster store, a leader elected
// through etcd that reconciles it into tasks placed on nodes, and on each
// node an agent that runs the tasks assigned to it as containers and
// reports their state. The model and the store layout are in
// docs/services.md; the types in pkg/types/service.
//
// Every verb of the API (Service implements pkg/api.Services) only reads
// and writes records in the store: it works the same on any node.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/network/overlay"
	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/filters"
	networktypes "github.com/berthproject/berth/pkg/types/network"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

var _ api.Services = (*Service)(nil)

// Options configure the service.
type Options struct {
	Logger *slog.Logger
	// Engine is this node's engine, for the agent that runs the tasks
	// assigned to it (zero: the node runs no tasks, as a fake node of the
	// simulation).
	Engine Engine
	// NoLeader keeps this node out of the leader election.
	NoLeader bool
	// Peers reaches the other nodes (service logs).
	Peers Peers
	// Publish puts the service events (Docker's type service: create,
	// update, remove, and an update for each task's new state) on this
	// node's event bus; nil: none.
	Publish func(events.Message)
	// DrainPeriod is how long a task that may take traffic stays up once
	// it is to shut down: it leaves every node's load balancer in the
	// same store event, then the agent waits this long before it stops
	// the container (Docker waits 2 s, its "gossip converge delay").
	DrainPeriod time.Duration
	// CreateNetwork makes an overlay network of the cluster (the
	// engine's network create, which realises it on this node too); nil:
	// written to the store only. The ingress network is made with it.
	CreateNetwork func(ctx context.Context, opts networktypes.CreateOptions) (*networktypes.Network, error)
}

// DefaultDrainPeriod is Options.DrainPeriod's default, Docker's.
const DefaultDrainPeriod = 2 * time.Second

// Service is the service noun and, once the node is in a cluster, its
// leader candidate and task agent.
type Service struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	store   *cluster.Store
	leading bool
	agent   *agent
	stop    context.CancelFunc
	done    sync.WaitGroup
}

// New makes the service. It works once the node is in a cluster
// (SetStore).
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{opts: opts, log: opts.Logger.With("component", "services")}
}

// SetStore hands the service the cluster store when the node enters a
// cluster (nil when it leaves): the engine wires it to
// cluster.Service.OnStore.
func (s *Service) SetStore(st *cluster.Store) {
	s.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store = st
	if st == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if !s.opts.NoLeader {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			s.campaign(ctx, st)
		}()
	}
	if s.opts.Engine.Containers != nil {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			s.runAgent(ctx, st)
		}()
	}
}

// Close stops the leader candidate (giving up the leadership at once)
// and the agent; the tasks' containers keep running.
func (s *Service) Close() {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		s.done.Wait()
	}
	s.mu.Lock()
	s.agent, s.store = nil, nil
	s.mu.Unlock()
}

// storeTimeout bounds one API call's work on the store.
const storeTimeout = 10 * time.Second

func (s *Service) records() (records, *cluster.Store, error) {
	s.mu.Lock()
	st := s.store
	s.mu.Unlock()
	if st == nil {
		return records{}, nil, fmt.Errorf("services run on a cluster and this node is in none: run `berth cluster init` or `berth cluster join`: %w", errdefs.ErrFailedPrecondition)
	}
	return records{c: st.Client}, st, nil
}

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) || errdefs.IsConflict(err) ||
		errdefs.IsAlreadyExists(err) || errdefs.IsFailedPrecondition(err) || errdefs.IsUnavailable(err) ||
		errdefs.IsResourceExhausted(err) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded") {
		return fmt.Errorf("the cluster store does not answer (no quorum of etcd members reachable?): %w: %w", err, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("cluster store: %w", err)
}

// IngressNetwork is the overlay network of the services that publish a
// port in mode ingress and name no network of their own (Docker's
// ingress network): made by the first such service, with a free subnet.
const IngressNetwork = "ingress"

// attachIngress puts a service that publishes a port in mode ingress
// and names no network on the ingress network, made if missing: as in
// Docker swarm, the routing mesh then reaches its tasks on every node.
func (s *Service) attachIngress(ctx context.Context, st *cluster.Store, spec *stypes.ServiceSpec) error {
	if len(spec.TaskTemplate.Networks) > 0 || spec.EndpointSpec == nil {
		return nil
	}
	if !slices.ContainsFunc(spec.EndpointSpec.Ports, func(p stypes.PortConfig) bool { return p.PublishMode == stypes.PortPublishModeIngress }) {
		return nil
	}
	ostore, err := overlay.NewStore(st)
	if err != nil {
		return err
	}
	if _, err := ostore.Network(ctx, IngressNetwork); errdefs.IsNotFound(err) {
		opts := networktypes.CreateOptions{Name: IngressNetwork, Driver: networktypes.DriverOverlay,
			Labels: map[string]string{"com.docker.swarm.ingress": "true"}}
		if s.opts.CreateNetwork != nil {
			_, err = s.opts.CreateNetwork(ctx, opts)
		} else {
			_, err = ostore.CreateNetwork(ctx, opts, nil)
		}
		if err != nil && !errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("create the ingress network for the published ports of service %s: %w", spec.Name, err)
		}
	} else if err != nil {
		return err
	}
	spec.TaskTemplate.Networks = []stypes.NetworkAttachmentConfig{{Target: IngressNetwork}}
	return nil
}

// resolveNetworks checks that every network of spec is an overlay
// network of the cluster and stores it by name.
func resolveNetworks(ctx context.Context, st *cluster.Store, spec *stypes.ServiceSpec) error {
	if len(spec.TaskTemplate.Networks) == 0 {
		return nil
	}
	ostore, err := overlay.NewStore(st)
	if err != nil {
		return err
	}
	nets, _, err := ostore.Networks(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range spec.TaskTemplate.Networks {
		a := &spec.TaskTemplate.Networks[i]
		n := findNetwork(nets, a.Target)
		if n == nil {
			return fmt.Errorf("network %s not found: services attach to overlay networks of the cluster (berth network create -d overlay %s): %w", a.Target, a.Target, errdefs.ErrNotFound)
		}
		if seen[n.Name] {
			return invalid("network %s is given twice", n.Name)
		}
		seen[n.Name] = true
		a.Target = n.Name
	}
	return nil
}

// endpointOps makes svc.Endpoint what svc.Spec asks, from old (what
// the stored record holds): the published ports (portOps) and, in vip
// mode, a virtual IP on each of the spec's networks from the overlay
// network's IPAM (the address the service holds there already is kept;
// those of networks it left are given back). It returns the compares and
// writes of the ports' and addresses' keys, for the transaction that
// stores svc: the record and what it holds change together, and a
// transaction that fails holds nothing (no address leaks, whether the
// update that asked is refused, retried or rolled back).
func endpointOps(ctx context.Context, r records, st *cluster.Store, svc *stypes.Service, old stypes.Endpoint) ([]clientv3.Cmp, []clientv3.Op, error) {
	spec := &svc.Spec
	cmps, ops, ports, err := portOps(ctx, r, svc.ID, spec, old.Ports)
	if err != nil {
		return nil, nil, err
	}
	ostore, err := overlay.NewStore(st)
	if err != nil {
		return nil, nil, err
	}
	var want, held []string
	if spec.EndpointSpec.Mode == stypes.ResolutionModeVIP {
		for _, a := range spec.TaskTemplate.Networks {
			want = append(want, a.Target)
		}
	}
	for _, v := range old.VirtualIPs {
		held = append(held, v.NetworkName)
	}
	ips, vcmps, vops, err := ostore.VIPOps(ctx, svc.ID, want, held)
	if err != nil {
		return nil, nil, fmt.Errorf("allocate a virtual IP for service %s: %w", spec.Name, err)
	}
	var vips []stypes.EndpointVirtualIP
	for _, name := range want {
		n, err := ostore.Network(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		vips = append(vips, stypes.EndpointVirtualIP{NetworkID: n.ID, NetworkName: n.Name,
			Addr: netip.PrefixFrom(ips[name], n.Subnet.Bits()).String()})
	}
	svc.Endpoint.Spec = *spec.EndpointSpec
	svc.Endpoint.Ports = ports
	svc.Endpoint.VirtualIPs = vips
	return append(cmps, vcmps...), append(ops, vops...), nil
}

// endpointStale reports whether svc.Endpoint is not what svc.Spec asks
// (the spec changed without endpointOps: the leader's automatic
// rollback).
func endpointStale(svc *stypes.Service) bool {
	es := svc.Spec.EndpointSpec
	if es == nil {
		return false
	}
	if svc.Endpoint.Spec.Mode != es.Mode || !slices.Equal(svc.Endpoint.Spec.Ports, es.Ports) {
		return true
	}
	var want []string
	if es.Mode == stypes.ResolutionModeVIP {
		for _, a := range svc.Spec.TaskTemplate.Networks {
			want = append(want, a.Target)
		}
	}
	if len(want) != len(svc.Endpoint.VirtualIPs) {
		return true
	}
	for i, v := range svc.Endpoint.VirtualIPs {
		if v.NetworkName != want[i] {
			return true
		}
	}
	return false
}

func releaseVIPs(ctx context.Context, st *cluster.Store, id string, vips []stypes.EndpointVirtualIP) {
	ostore, err := overlay.NewStore(st)
	if err != nil {
		return
	}
	for _, v := range vips {
		_ = ostore.ReleaseVIP(ctx, v.NetworkName, id)
	}
}

func findNetwork(nets map[string]*networktypes.Network, ref string) *networktypes.Network {
	if n, ok := nets[ref]; ok {
		return n
	}
	var found *networktypes.Network
	for _, n := range nets {
		if n.ID == ref {
			return n
		}
		if len(ref) >= 3 && strings.HasPrefix(n.ID, ref) {
			if found != nil {
				return nil
			}
			found = n
		}
	}
	return found
}

// portOps reserves the published ports of spec for service id (picking
// free ones for 0) and returns the conditions and writes of the
// reservation, and the ports as published. old are the ports id holds
// already (kept on update).
func portOps(ctx context.Context, r records, id string, spec *stypes.ServiceSpec, old []stypes.PortConfig) ([]clientv3.Cmp, []clientv3.Op, []stypes.PortConfig, error) {
	resp, err := r.c.Get(ctx, cluster.PrefixPorts, clientv3.WithPrefix())
	if err != nil {
		return nil, nil, nil, err
	}
	owner := map[string]string{}
	for _, kv := range resp.Kvs {
		owner[strings.TrimPrefix(string(kv.Key), cluster.PrefixPorts)] = string(kv.Value)
	}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	keep := map[string]bool{}
	ports := slices.Clone(spec.EndpointSpec.Ports)
	for i := range ports {
		p := &ports[i]
		if p.PublishMode != stypes.PortPublishModeIngress {
			continue
		}
		if p.PublishedPort == 0 {
			// The same target port keeps the port it had.
			for _, o := range old {
				if o.TargetPort == p.TargetPort && o.Protocol == p.Protocol && o.PublishMode == p.PublishMode && !keep[fmt.Sprintf("%s/%d", o.Protocol, o.PublishedPort)] {
					p.PublishedPort = o.PublishedPort
					break
				}
			}
		}
		if p.PublishedPort == 0 {
			for port := uint32(dynamicPortFirst); port <= dynamicPortLast; port++ {
				k := fmt.Sprintf("%s/%d", p.Protocol, port)
				if _, taken := owner[k]; !taken && !keep[k] {
					p.PublishedPort = port
					break
				}
			}
			if p.PublishedPort == 0 {
				return nil, nil, nil, fmt.Errorf("no free port left in %d-%d: %w", dynamicPortFirst, dynamicPortLast, errdefs.ErrResourceExhausted)
			}
		}
		k := fmt.Sprintf("%s/%d", p.Protocol, p.PublishedPort)
		keep[k] = true
		if o, taken := owner[k]; taken {
			if o != id {
				name := o
				if other, err := r.service(ctx, o); err == nil {
					name = other.Spec.Name
				}
				return nil, nil, nil, fmt.Errorf("port %s is already published by service %s: %w", k, name, errdefs.ErrAlreadyExists)
			}
			cmps = append(cmps, clientv3.Compare(clientv3.Value(cluster.PortKey(p.Protocol, p.PublishedPort)), "=", id))
			continue
		}
		key := cluster.PortKey(p.Protocol, p.PublishedPort)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
		ops = append(ops, clientv3.OpPut(key, id))
	}
	for k, o := range owner {
		if o == id && !keep[k] {
			ops = append(ops, clientv3.OpDelete(cluster.PrefixPorts+k))
		}
	}
	return cmps, ops, ports, nil
}

// Create stores a new service.
func (s *Service) Create(ctx context.Context, spec stypes.ServiceSpec) (*stypes.CreateResponse, error) {
	r, st, err := s.records()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := normalize(&spec); err != nil {
		return nil, err
	}
	if err := s.attachIngress(ctx, st, &spec); err != nil {
		return nil, storeErr(err)
	}
	if err := resolveNetworks(ctx, st, &spec); err != nil {
		return nil, storeErr(err)
	}
	id := newID()
	for attempt := 0; attempt < 10; attempt++ {
		now := time.Now().UTC()
		svc := stypes.Service{ID: id, Meta: stypes.Meta{CreatedAt: now, UpdatedAt: now}, Spec: spec}
		cmps, ops, err := endpointOps(ctx, r, st, &svc, stypes.Endpoint{})
		if err != nil {
			return nil, storeErr(err)
		}
		nameKey := cluster.ServiceNameKey(spec.Name)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(nameKey), "=", 0))
		ops = append(ops, clientv3.OpPut(nameKey, id), clientv3.OpPut(cluster.ServiceKey(id), encode(svc)))
		resp, err := r.c.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return nil, storeErr(err)
		}
		if resp.Succeeded {
			s.log.Info("service created", "service", spec.Name, "id", id)
			return &stypes.CreateResponse{ID: id}, nil
		}
		if g, err := r.c.Get(ctx, nameKey); err == nil && len(g.Kvs) > 0 {
			return nil, fmt.Errorf("service %s already exists: remove it first or pick another name: %w", spec.Name, errdefs.ErrAlreadyExists)
		}
		// A published port or an address was taken meanwhile: pick again.
	}
	return nil, fmt.Errorf("create service %s: the cluster store kept changing: %w", spec.Name, errdefs.ErrUnavailable)
}

// List is `service ls`.
func (s *Service) List(ctx context.Context, opts stypes.ListOptions) ([]stypes.Service, error) {
	r, _, err := s.records()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := checkFilters(opts.Filters, "id", "name", "label", "mode"); err != nil {
		return nil, err
	}
	all, _, err := r.services(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	var tasks []*stypes.Task
	if opts.Status {
		if tasks, _, err = r.tasks(ctx, ""); err != nil {
			return nil, storeErr(err)
		}
	}
	var nodes map[string]bool
	out := []stypes.Service{}
	for _, svc := range all {
		if !matchService(svc, opts.Filters) {
			continue
		}
		if opts.Status {
			if nodes == nil {
				nodes = s.readyNodes(ctx)
			}
			svc.ServiceStatus = serviceStatus(svc, tasks, nodes)
		}
		out = append(out, *svc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out, nil
}

// readyNodes are the IDs of the nodes up and not drained.
func (s *Service) readyNodes(ctx context.Context) map[string]bool {
	_, st, err := s.records()
	if err != nil {
		return nil
	}
	nodes, err := st.Nodes(ctx)
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, n := range nodes {
		if n.Status == "ready" && n.Availability != "drain" {
			out[n.ID] = true
		}
	}
	return out
}

func serviceStatus(svc *stypes.Service, tasks []*stypes.Task, nodes map[string]bool) *stypes.ServiceStatus {
	st := &stypes.ServiceStatus{}
	running := map[string]bool{}
	for _, t := range tasks {
		if t.ServiceID == svc.ID && t.Status.State == stypes.TaskStateRunning && t.DesiredState == stypes.TaskStateRunning {
			st.RunningTasks++
			running[t.NodeID] = true
		}
	}
	if svc.Spec.Mode.Replicated != nil {
		st.DesiredTasks = svc.Spec.Mode.Replicated.Replicas
	} else {
		// Global: the nodes with a task meant to run, else the ready ones.
		want := map[string]bool{}
		for _, t := range tasks {
			if t.ServiceID == svc.ID && t.DesiredState == stypes.TaskStateRunning && t.NodeID != "" {
				want[t.NodeID] = true
			}
		}
		if len(want) == 0 {
			want = nodes
		}
		st.DesiredTasks = uint64(len(want))
	}
	return st
}

func checkFilters(f map[string][]string, allowed ...string) error {
	for k := range f {
		if !slices.Contains(allowed, k) {
			return invalid("invalid filter %q: use %s", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func matchService(svc *stypes.Service, f map[string][]string) bool {
	if v := f["id"]; len(v) > 0 && !slices.ContainsFunc(v, func(p string) bool { return strings.HasPrefix(svc.ID, p) }) {
		return false
	}
	if v := f["name"]; len(v) > 0 && !slices.ContainsFunc(v, func(p string) bool { return strings.HasPrefix(svc.Spec.Name, p) }) {
		return false
	}
	if v := f["mode"]; len(v) > 0 {
		mode := "replicated"
		if svc.Spec.Mode.Global != nil {
			mode = "global"
		}
		if !slices.Contains(v, mode) {
			return false
		}
	}
	return filters.Labels(svc.Spec.Labels, f["label"], nil)
}

// Inspect finds a service.
func (s *Service) Inspect(ctx context.Context, ref string) (*stypes.Service, error) {
	r, _, err := s.records()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	svc, err := r.find(ctx, ref)
	return svc, storeErr(err)
}

// Update replaces a service's spec (or rolls it back).
func (s *Service) Update(ctx context.Context, ref string, version uint64, spec stypes.ServiceSpec, opts stypes.UpdateOptions) ([]string, error) {
	r, st, err := s.records()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	for attempt := 0; attempt < 10; attempt++ {
		cur, err := r.find(ctx, ref)
		if err != nil {
			return nil, storeErr(err)
		}
		if version != 0 && version != cur.Version.Index {
			return nil, fmt.Errorf("service %s changed since version %d (now %d): read it again and retry: %w", cur.Spec.Name, version, cur.Version.Index, errdefs.ErrConflict)
		}
		next := spec
		if opts.Rollback {
			if cur.PreviousSpec == nil {
				return nil, fmt.Errorf("service %s has no previous spec to roll back to: %w", cur.Spec.Name, errdefs.ErrFailedPrecondition)
			}
			next = *cur.PreviousSpec
		}
		if next.Name == "" {
			next.Name = cur.Spec.Name
		}
		if next.Name != cur.Spec.Name {
			return nil, invalid("service %s cannot be renamed (to %s): create a new service", cur.Spec.Name, next.Name)
		}
		if (next.Mode.Global != nil) != (cur.Spec.Mode.Global != nil) && (next.Mode.Global != nil || next.Mode.Replicated != nil) {
			return nil, invalid("service %s: the mode (replicated or global) cannot change: create a new service", cur.Spec.Name)
		}
		if next.Mode.Global == nil && next.Mode.Replicated == nil {
			next.Mode = cur.Spec.Mode
		}
		if err := normalize(&next); err != nil {
			return nil, err
		}
		if err := s.attachIngress(ctx, st, &next); err != nil {
			return nil, storeErr(err)
		}
		if err := resolveNetworks(ctx, st, &next); err != nil {
			return nil, storeErr(err)
		}
		svc := *cur
		svc.ServiceStatus = nil
		prev := cur.Spec
		svc.PreviousSpec = &prev
		svc.Spec = next
		svc.UpdatedAt = time.Now().UTC()
		cmps, ops, err := endpointOps(ctx, r, st, &svc, cur.Endpoint)
		if err != nil {
			return nil, storeErr(err)
		}
		now := svc.UpdatedAt
		state := stypes.UpdateStateUpdating
		if opts.Rollback {
			state = stypes.UpdateStateRollbackStarted
			svc.PreviousSpec = nil
			if cur.PreviousSpec != nil {
				// Docker keeps the spec rolled back from as previous.
				svc.PreviousSpec = &prev
			}
		}
		svc.UpdateStatus = &stypes.UpdateStatus{State: state, StartedAt: &now, Message: "update in progress"}
		if opts.Rollback {
			svc.UpdateStatus.Message = "manually requested rollback"
		}
		key := cluster.ServiceKey(cur.ID)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", int64(cur.Version.Index)))
		ops = append(ops, clientv3.OpPut(key, encode(svc)))
		resp, err := r.c.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return nil, storeErr(err)
		}
		if resp.Succeeded {
			return nil, nil
		}
		if version != 0 {
			version = 0 // re-read: a port race or our own version check will tell
			if now, err := r.service(ctx, cur.ID); err == nil && now.Version.Index != cur.Version.Index {
				return nil, fmt.Errorf("service %s changed while it was being updated: read it again and retry: %w", cur.Spec.Name, errdefs.ErrConflict)
			}
		}
	}
	return nil, fmt.Errorf("update service %s: the cluster store kept changing: %w", ref, errdefs.ErrUnavailable)
}

// Scale sets the replicas of a replicated service.
func (s *Service) Scale(ctx context.Context, ref string, replicas uint64) error {
	r, _, err := s.records()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	for attempt := 0; attempt < 10; attempt++ {
		cur, err := r.find(ctx, ref)
		if err != nil {
			return storeErr(err)
		}
		if cur.Spec.Mode.Replicated == nil {
			return fmt.Errorf("service %s is global: scale can only be used with replicated services: %w", cur.Spec.Name, errdefs.ErrFailedPrecondition)
		}
		svc := *cur
		svc.ServiceStatus = nil
		svc.Spec.Mode.Replicated = &stypes.ReplicatedService{Replicas: replicas}
		svc.UpdatedAt = time.Now().UTC()
		key := cluster.ServiceKey(cur.ID)
		resp, err := r.c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", int64(cur.Version.Index))).
			Then(clientv3.OpPut(key, encode(svc))).Commit()
		if err != nil {
			return storeErr(err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("scale service %s: the cluster store kept changing: %w", ref, errdefs.ErrUnavailable)
}

// Rollback returns a service to its previous spec.
func (s *Service) Rollback(ctx context.Context, ref string) error {
	_, err := s.Update(ctx, ref, 0, stypes.ServiceSpec{}, stypes.UpdateOptions{Rollback: true})
	return err
}

// Remove deletes a service: its record, name and ports at once; its
// tasks are marked to shut down, and each node removes its containers
// and then the task records.
func (s *Service) Remove(ctx context.Context, ref string) error {
	r, _, err := s.records()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	cur, err := r.find(ctx, ref)
	if err != nil {
		return storeErr(err)
	}
	ops := []clientv3.Op{
		clientv3.OpDelete(cluster.ServiceKey(cur.ID)),
	}
	if g, err := r.c.Get(ctx, cluster.ServiceNameKey(cur.Spec.Name)); err == nil && len(g.Kvs) > 0 && string(g.Kvs[0].Value) == cur.ID {
		ops = append(ops, clientv3.OpDelete(cluster.ServiceNameKey(cur.Spec.Name)))
	}
	if p, err := r.c.Get(ctx, cluster.PrefixPorts, clientv3.WithPrefix()); err == nil {
		for _, kv := range p.Kvs {
			if string(kv.Value) == cur.ID {
				ops = append(ops, clientv3.OpDelete(string(kv.Key)))
			}
		}
	}
	if _, err := r.c.Txn(ctx).Then(ops...).Commit(); err != nil {
		return storeErr(err)
	}
	_, st, _ := s.records()
	if st != nil {
		releaseVIPs(ctx, st, cur.ID, cur.Endpoint.VirtualIPs)
	}
	// The tasks: desired state "remove"; the leader and the nodes finish.
	tasks, _, err := r.tasks(ctx, cur.ID)
	if err != nil {
		return nil
	}
	for _, t := range tasks {
		_, _ = r.updateTask(ctx, t.ServiceID, t.ID, nil, func(t *stypes.Task) error {
			if t.DesiredState == stypes.TaskStateRemove {
				return errNoChange
			}
			t.DesiredState = stypes.TaskStateRemove
			return nil
		})
	}
	s.log.Info("service removed", "service", cur.Spec.Name, "id", cur.ID)
	return nil
}

// Tasks lists tasks.
func (s *Service) Tasks(ctx context.Context, opts stypes.TaskListOptions) ([]stypes.Task, error) {
	r, _, err := s.records()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	f := opts.Filters
	if err := checkFilters(f, "id", "name", "node", "desired-state", "service", "label"); err != nil {
		return nil, err
	}
	all, _, err := r.tasks(ctx, "")
	if err != nil {
		return nil, storeErr(err)
	}
	svcs, _, err := r.services(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	var serviceIDs map[string]bool
	if v := f["service"]; len(v) > 0 {
		serviceIDs = map[string]bool{}
		for _, ref := range v {
			for _, svc := range svcs {
				if svc.ID == ref || svc.Spec.Name == ref || strings.HasPrefix(svc.ID, ref) {
					serviceIDs[svc.ID] = true
				}
			}
		}
	}
	var nodeIDs map[string]bool
	if v := f["node"]; len(v) > 0 {
		nodeIDs = map[string]bool{}
		_, st, _ := s.records()
		nodes, err := st.Nodes(ctx)
		if err != nil {
			return nil, storeErr(err)
		}
		for _, ref := range v {
			if ref == "self" {
				nodeIDs[st.NodeID] = true
			}
			for _, n := range nodes {
				if n.ID == ref || n.Hostname == ref || strings.HasPrefix(n.ID, ref) {
					nodeIDs[n.ID] = true
				}
			}
		}
	}
	out := []stypes.Task{}
	for _, t := range all {
		if v := f["id"]; len(v) > 0 && !slices.ContainsFunc(v, func(p string) bool { return strings.HasPrefix(t.ID, p) }) {
			continue
		}
		if v := f["name"]; len(v) > 0 && !slices.ContainsFunc(v, func(p string) bool { return strings.HasPrefix(TaskName(t), p) }) {
			continue
		}
		if serviceIDs != nil && !serviceIDs[t.ServiceID] {
			continue
		}
		if nodeIDs != nil && !nodeIDs[t.NodeID] {
			continue
		}
		if v := f["desired-state"]; len(v) > 0 && !slices.Contains(v, t.DesiredState) {
			continue
		}
		if !filters.Labels(t.Labels, f["label"], nil) {
			continue
		}
		out = append(out, *t)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ServiceName != b.ServiceName {
			return a.ServiceName < b.ServiceName
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.Slot == 0 && a.NodeID != b.NodeID {
			return a.NodeID < b.NodeID
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	return out, nil
}

// TaskName is the name `service ps` shows: SERVICE.SLOT, or
// SERVICE.NODE-ID for a global service's task.
func TaskName(t *stypes.Task) string {
	if t.Slot > 0 {
		return fmt.Sprintf("%s.%d", t.ServiceName, t.Slot)
	}
	return t.ServiceName + "." + t.NodeID
}

// TaskInspect finds a task.
func (s *Service) TaskInspect(ctx context.Context, ref string) (*stypes.Task, error) {
	r, _, err := s.records()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	t, err := r.findTask(ctx, ref)
	return t, storeErr(err)
}
