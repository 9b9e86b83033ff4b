// Package servicelb is the load balancer of berth's services on one node:
// it watches the services and tasks in the cluster store and makes this
// node's kernel rules and DNS match them, with no central programming
// (docs/services.md, "Load balancing and the routing mesh").
//
//   - a service's VIP on each of its overlay networks (an address of the
//     network's IPAM, engine/network/overlay.AllocateVIP) sits on the
//     network's bridge on every node; connections from the bridge to the
//     VIP (any port, as Docker's) are spread over the service's healthy
//     tasks by berth's nftables table (cni.SetServiceRules);
//   - the service's name resolves on its networks to the VIP (endpoint
//     mode vip) or to the healthy tasks' addresses (dnsrr), and
//     tasks.<name> to the healthy tasks' addresses;
//   - a published port (mode ingress) answers on every local address of
//     every node, 127.0.0.1 included, and reaches a healthy task wherever
//     it runs, over the overlay; mode host only on nodes running a task,
//     to their local tasks.
//
// Balanced connections leave with this node's load-balancer address on
// the task's network (overlay.EnsureLB), so the task's replies come back
// through this node. Compute is the whole decision, from records to the
// desired state; Controller applies it.
package servicelb

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/berthproject/berth/cni"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// Input is what a node knows when it decides.
type Input struct {
	// Self is this node's ID.
	Self     string
	Services []*stypes.Service
	Tasks    []*stypes.Task
	// Bridges are the overlay networks realised here: name -> bridge.
	Bridges map[string]string
	// LB is this node's load-balancer address per network (those it has
	// so far).
	LB map[string]netip.Addr
}

// Record is one name the node's DNS answers on a network.
type Record struct {
	Network string
	ID      string // the record's owner in the DNS server (never a container ID)
	IP      netip.Addr
	Names   []string
}

// Desired is the state a node makes real.
type Desired struct {
	Rules cni.ServiceRules
	// DNS records by Network+"/"+ID.
	DNS map[string]Record
	// Addrs are the /32 addresses each bridge holds besides its gateway:
	// the VIPs of the network's services and this node's load-balancer
	// address.
	Addrs map[string][]netip.Addr
	// NeedLB are the networks on which this node balances connections,
	// so needs a load-balancer address.
	NeedLB map[string]bool
}

// taskIP is a healthy task's address on a network.
func taskIP(t *stypes.Task, network string) netip.Addr {
	for _, a := range t.NetworksAttachments {
		if a.Network.Name != network {
			continue
		}
		for _, s := range a.Addresses {
			if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
				return p.Addr()
			}
			if ip, err := netip.ParseAddr(s); err == nil && ip.Is4() {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// serviceNetworks are the overlay networks of a service's tasks (by
// name, as stored).
func serviceNetworks(s *stypes.Service) []string {
	var out []string
	for _, n := range s.Spec.TaskTemplate.Networks {
		if !slices.Contains(out, n.Target) {
			out = append(out, n.Target)
		}
	}
	return out
}

func vipOn(s *stypes.Service, network string) netip.Addr {
	for _, v := range s.Endpoint.VirtualIPs {
		if v.NetworkName != network && v.NetworkID != network {
			continue
		}
		if p, err := netip.ParsePrefix(v.Addr); err == nil {
			return p.Addr()
		}
		if ip, err := netip.ParseAddr(v.Addr); err == nil {
			return ip
		}
	}
	return netip.Addr{}
}

func endpointMode(s *stypes.Service) string {
	if s.Spec.EndpointSpec != nil && s.Spec.EndpointSpec.Mode == stypes.ResolutionModeDNSRR {
		return stypes.ResolutionModeDNSRR
	}
	return stypes.ResolutionModeVIP
}

// publishedPorts are the service's published ports (the leader fills
// Endpoint.Ports; before it has, the spec's with a port given).
func publishedPorts(s *stypes.Service) []stypes.PortConfig {
	ports := s.Endpoint.Ports
	if len(ports) == 0 && s.Spec.EndpointSpec != nil {
		ports = s.Spec.EndpointSpec.Ports
	}
	var out []stypes.PortConfig
	for _, p := range ports {
		if p.PublishedPort == 0 || p.PublishedPort > 65535 || p.TargetPort == 0 || p.TargetPort > 65535 {
			continue
		}
		if p.Protocol == "" {
			p.Protocol = stypes.PortProtocolTCP
		}
		if p.Protocol != stypes.PortProtocolTCP && p.Protocol != stypes.PortProtocolUDP {
			continue // sctp: not balanced
		}
		if p.PublishMode == "" {
			p.PublishMode = stypes.PortPublishModeIngress
		}
		out = append(out, p)
	}
	return out
}

// Compute decides a node's rules, DNS records and bridge addresses from
// the records. It is a pure function of in.
func Compute(in Input) Desired {
	d := Desired{DNS: map[string]Record{}, Addrs: map[string][]netip.Addr{}, NeedLB: map[string]bool{},
		Rules: cni.ServiceRules{SNAT: map[string]netip.Addr{}}}
	svcs := slices.Clone(in.Services)
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].ID < svcs[j].ID })
	healthy := map[string][]*stypes.Task{}
	for _, t := range in.Tasks {
		if t.Healthy() {
			healthy[t.ServiceID] = append(healthy[t.ServiceID], t)
		}
	}
	for _, ts := range healthy {
		sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	}
	addAddr := func(br string, a netip.Addr) {
		if !slices.Contains(d.Addrs[br], a) {
			d.Addrs[br] = append(d.Addrs[br], a)
		}
	}
	record := func(network, id string, ip netip.Addr, names ...string) {
		d.DNS[network+"/"+id] = Record{Network: network, ID: id, IP: ip, Names: names}
	}
	usedPorts := map[string]bool{}
	for _, s := range svcs {
		name := strings.ToLower(s.Spec.Name)
		tasks := healthy[s.ID]
		nets := serviceNetworks(s)
		for _, n := range nets {
			br, ok := in.Bridges[n]
			if !ok {
				continue
			}
			var ips []netip.Addr
			for _, t := range tasks {
				if ip := taskIP(t, n); ip.IsValid() {
					ips = append(ips, ip)
					record(n, "task:"+t.ID, ip, "tasks."+name)
				}
			}
			if endpointMode(s) == stypes.ResolutionModeDNSRR {
				for i, ip := range ips {
					record(n, "svc:"+s.ID+":"+tasks[i].ID, ip, name)
				}
				continue
			}
			vip := vipOn(s, n)
			if !vip.IsValid() {
				continue
			}
			record(n, "svc:"+s.ID, vip, name)
			addAddr(br, vip)
			d.NeedLB[n] = true
			v := cni.ServiceVIP{Bridge: br, VIP: vip}
			for _, ip := range ips {
				v.Backends = append(v.Backends, cni.ServiceBackend{IP: ip})
			}
			d.Rules.VIPs = append(d.Rules.VIPs, v)
		}
		for _, p := range publishedPorts(s) {
			key := p.Protocol + "/" + strconv.FormatUint(uint64(p.PublishedPort), 10)
			if usedPorts[key] {
				continue // two services on one port: the first (by ID) has it
			}
			sp := cni.ServicePort{Proto: p.Protocol, Port: uint16(p.PublishedPort)}
			if p.PublishMode == stypes.PortPublishModeHost {
				// Only this node's tasks, from their first network here;
				// the client's address is kept (no SNAT).
				sp.KeepSource = true
				for _, t := range tasks {
					if t.NodeID != in.Self {
						continue
					}
					for _, n := range nets {
						if _, ok := in.Bridges[n]; !ok {
							continue
						}
						if ip := taskIP(t, n); ip.IsValid() {
							sp.Backends = append(sp.Backends, cni.ServiceBackend{IP: ip, Port: uint16(p.TargetPort)})
							break
						}
					}
				}
				if len(sp.Backends) == 0 {
					continue // not published on a node without a task
				}
			} else {
				// The routing mesh: every healthy task, through its
				// first network of the service realised here.
				for _, t := range tasks {
					for _, n := range nets {
						if _, ok := in.Bridges[n]; !ok {
							continue
						}
						if ip := taskIP(t, n); ip.IsValid() {
							sp.Backends = append(sp.Backends, cni.ServiceBackend{IP: ip, Port: uint16(p.TargetPort)})
							d.NeedLB[n] = true
							break
						}
					}
				}
			}
			usedPorts[key] = true
			d.Rules.Ports = append(d.Rules.Ports, sp)
		}
	}
	for n := range d.NeedLB {
		br := in.Bridges[n]
		if lb, ok := in.LB[n]; ok && lb.IsValid() {
			d.Rules.SNAT[br] = lb
			addAddr(br, lb)
		}
	}
	for br := range d.Addrs {
		slices.SortFunc(d.Addrs[br], func(a, b netip.Addr) int { return a.Compare(b) })
	}
	return d
}
