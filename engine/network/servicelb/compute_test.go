package servicelb

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/berthproject/berth/cni"
	"github.com/berthproject/berth/pkg/types/container"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

func svc(id, name, mode string, nets []string, vips map[string]string, ports ...stypes.PortConfig) *stypes.Service {
	s := &stypes.Service{ID: id, Spec: stypes.ServiceSpec{Name: name, EndpointSpec: &stypes.EndpointSpec{Mode: mode}}}
	for _, n := range nets {
		s.Spec.TaskTemplate.Networks = append(s.Spec.TaskTemplate.Networks, stypes.NetworkAttachmentConfig{Target: n})
	}
	for n, a := range vips {
		s.Endpoint.VirtualIPs = append(s.Endpoint.VirtualIPs, stypes.EndpointVirtualIP{NetworkID: "id-" + n, NetworkName: n, Addr: a})
	}
	s.Endpoint.Ports = ports
	return s
}

func task(id, service, node, state, health string, addrs map[string]string) *stypes.Task {
	t := &stypes.Task{ID: id, ServiceID: service, NodeID: node, DesiredState: stypes.TaskStateRunning,
		Status: stypes.TaskStatus{State: state, Health: health}}
	for n, a := range addrs {
		t.NetworksAttachments = append(t.NetworksAttachments, stypes.NetworkAttachment{Network: stypes.AttachedNetwork{Name: n}, Addresses: []string{a}})
	}
	return t
}

func ips(bs []cni.ServiceBackend) []string {
	var out []string
	for _, b := range bs {
		out = append(out, netip.AddrPortFrom(b.IP, b.Port).String())
	}
	return out
}

var a = netip.MustParseAddr

// TestCompute: what one node decides from the records.
func TestCompute(t *testing.T) {
	run, healthy, unhealthy := stypes.TaskStateRunning, container.HealthHealthy, container.HealthUnhealthy
	in := Input{
		Self: "n1",
		Services: []*stypes.Service{
			svc("s-web", "Web", "vip", []string{"front"}, map[string]string{"front": "10.0.1.2/24"},
				stypes.PortConfig{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"}),
			svc("s-db", "db", "dnsrr", []string{"front", "back"}, nil),
			svc("s-host", "edge", "vip", []string{"front"}, map[string]string{"front": "10.0.1.3/24"},
				stypes.PortConfig{Protocol: "udp", TargetPort: 53, PublishedPort: 5353, PublishMode: "host"}),
			svc("s-gone", "nowhere", "vip", []string{"elsewhere"}, map[string]string{"elsewhere": "10.0.9.2/24"}),
		},
		Tasks: []*stypes.Task{
			task("t1", "s-web", "n1", run, "", map[string]string{"front": "10.0.1.10/24"}),
			task("t2", "s-web", "n2", run, healthy, map[string]string{"front": "10.0.1.11/24"}),
			task("t3", "s-web", "n3", run, unhealthy, map[string]string{"front": "10.0.1.12/24"}),
			task("t4", "s-web", "n3", stypes.TaskStateStarting, "", map[string]string{"front": "10.0.1.13/24"}),
			task("t5", "s-db", "n2", run, "", map[string]string{"front": "10.0.1.20/24", "back": "10.0.2.20/24"}),
			task("t6", "s-db", "n3", run, "", map[string]string{"front": "10.0.1.21/24", "back": "10.0.2.21/24"}),
			task("t7", "s-host", "n1", run, "", map[string]string{"front": "10.0.1.30/24"}),
			task("t8", "s-host", "n2", run, "", map[string]string{"front": "10.0.1.31/24"}),
		},
		Bridges: map[string]string{"front": "ov-front", "back": "ov-back"},
		LB:      map[string]netip.Addr{"front": a("10.0.1.250")},
	}
	// A task that is to stop gets nothing either.
	stopping := task("t9", "s-web", "n2", run, "", map[string]string{"front": "10.0.1.14/24"})
	stopping.DesiredState = stypes.TaskStateShutdown
	in.Tasks = append(in.Tasks, stopping)

	d := Compute(in)
	if len(d.Rules.VIPs) != 2 {
		t.Fatalf("VIPs: %+v", d.Rules.VIPs)
	}
	web := d.Rules.VIPs[1] // by service ID: s-host, s-web
	if web.VIP != a("10.0.1.2") || web.Bridge != "ov-front" || !slices.Equal(ips(web.Backends), []string{"10.0.1.10:0", "10.0.1.11:0"}) {
		t.Fatalf("web's VIP: %+v (only the running, healthy or unchecked tasks)", web)
	}
	if len(d.Rules.Ports) != 2 {
		t.Fatalf("ports: %+v", d.Rules.Ports)
	}
	host, mesh := d.Rules.Ports[0], d.Rules.Ports[1]
	if mesh.Port != 8080 || mesh.Proto != "tcp" || mesh.KeepSource || !slices.Equal(ips(mesh.Backends), []string{"10.0.1.10:80", "10.0.1.11:80"}) {
		t.Fatalf("routing mesh port: %+v", mesh)
	}
	if host.Port != 5353 || host.Proto != "udp" || !host.KeepSource || !slices.Equal(ips(host.Backends), []string{"10.0.1.30:53"}) {
		t.Fatalf("host-mode port: %+v (this node's task only)", host)
	}
	if d.Rules.SNAT["ov-front"] != a("10.0.1.250") || len(d.Rules.SNAT) != 1 {
		t.Fatalf("SNAT: %v", d.Rules.SNAT)
	}
	if !d.NeedLB["front"] || d.NeedLB["back"] {
		t.Fatalf("NeedLB: %v (dnsrr balances nothing)", d.NeedLB)
	}
	if got := d.Addrs["ov-front"]; !slices.Equal(got, []netip.Addr{a("10.0.1.2"), a("10.0.1.3"), a("10.0.1.250")}) || len(d.Addrs) != 1 {
		t.Fatalf("bridge addresses: %v", d.Addrs)
	}
	want := map[string]Record{
		"front/svc:s-web":   {Network: "front", ID: "svc:s-web", IP: a("10.0.1.2"), Names: []string{"web"}},
		"front/task:t1":     {Network: "front", ID: "task:t1", IP: a("10.0.1.10"), Names: []string{"tasks.web"}},
		"front/task:t2":     {Network: "front", ID: "task:t2", IP: a("10.0.1.11"), Names: []string{"tasks.web"}},
		"front/svc:s-db:t5": {Network: "front", ID: "svc:s-db:t5", IP: a("10.0.1.20"), Names: []string{"db"}},
		"front/svc:s-db:t6": {Network: "front", ID: "svc:s-db:t6", IP: a("10.0.1.21"), Names: []string{"db"}},
		"back/svc:s-db:t5":  {Network: "back", ID: "svc:s-db:t5", IP: a("10.0.2.20"), Names: []string{"db"}},
		"back/svc:s-db:t6":  {Network: "back", ID: "svc:s-db:t6", IP: a("10.0.2.21"), Names: []string{"db"}},
		"front/task:t5":     {Network: "front", ID: "task:t5", IP: a("10.0.1.20"), Names: []string{"tasks.db"}},
		"front/task:t6":     {Network: "front", ID: "task:t6", IP: a("10.0.1.21"), Names: []string{"tasks.db"}},
		"back/task:t5":      {Network: "back", ID: "task:t5", IP: a("10.0.2.20"), Names: []string{"tasks.db"}},
		"back/task:t6":      {Network: "back", ID: "task:t6", IP: a("10.0.2.21"), Names: []string{"tasks.db"}},
		"front/svc:s-host":  {Network: "front", ID: "svc:s-host", IP: a("10.0.1.3"), Names: []string{"edge"}},
		"front/task:t7":     {Network: "front", ID: "task:t7", IP: a("10.0.1.30"), Names: []string{"tasks.edge"}},
		"front/task:t8":     {Network: "front", ID: "task:t8", IP: a("10.0.1.31"), Names: []string{"tasks.edge"}},
	}
	if len(d.DNS) != len(want) {
		t.Errorf("%d DNS records, want %d: %v", len(d.DNS), len(want), d.DNS)
	}
	for k, w := range want {
		g, ok := d.DNS[k]
		if !ok || g.IP != w.IP || !slices.Equal(g.Names, w.Names) {
			t.Errorf("DNS %s: %+v, want %+v", k, g, w)
		}
	}

	// Before this node has its load-balancer address: no SNAT, but the
	// need is there (the controller allocates, then computes again).
	in.LB = nil
	if d := Compute(in); len(d.Rules.SNAT) != 0 || !d.NeedLB["front"] {
		t.Fatalf("without an LB address: SNAT %v NeedLB %v", d.Rules.SNAT, d.NeedLB)
	}
	// No service: nothing.
	if d := Compute(Input{Self: "n1", Bridges: in.Bridges}); len(d.Rules.VIPs)+len(d.Rules.Ports)+len(d.DNS)+len(d.Addrs)+len(d.NeedLB) != 0 {
		t.Fatalf("no service: %+v", d)
	}
}
