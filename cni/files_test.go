package cni

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

func TestRenderFiles(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	hosts := filepath.Join(dir, "hosts")
	_ = os.WriteFile(rc, []byte("nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.test\noptions edns0\n"), 0o644)
	_ = os.WriteFile(hosts, []byte("127.0.0.1 localhost\n10.0.0.1 hosthost"), 0o644)
	m := &Manager{cfg: Config{HostResolvConf: rc, HostHosts: hosts}}
	user := &Sandbox{Hostname: "h1", Mode: ModeNetwork, ExtraHosts: []string{"db:10.9.9.9", "gw:host-gateway"},
		Endpoints: []Endpoint{{Network: "n", Driver: networktypes.DriverBridge, IPv4: netip.MustParsePrefix("10.5.0.2/24"),
			Gateway: netip.MustParseAddr("10.5.0.1"), DNSServer: netip.MustParseAddr("10.5.0.1")}}}
	cases := []struct {
		name string
		got  func() ([]byte, error)
		want []string
		not  []string
	}{
		{"user resolv.conf", func() ([]byte, error) { return m.ResolvConf(user) }, []string{"nameserver 10.5.0.1\n", "search corp.test\n", "options edns0\n"}, []string{"127.0.0.53", "192.0.2.53"}},
		{"user hosts", func() ([]byte, error) { return m.HostsFile(user) }, []string{"127.0.0.1\tlocalhost\n", "10.9.9.9\tdb\n", "10.5.0.1\tgw\n", "10.5.0.2\th1\n"}, []string{"hosthost"}},
		{"default bridge resolv.conf", func() ([]byte, error) {
			return m.ResolvConf(&Sandbox{Mode: ModeNetwork, Endpoints: []Endpoint{{Driver: networktypes.DriverBridge, Gateway: netip.MustParseAddr("10.6.0.1")}}})
		}, []string{"nameserver 192.0.2.53\n"}, []string{"127.0.0.53", "10.6.0.1"}},
		{"default bridge + user network", func() ([]byte, error) {
			return m.ResolvConf(&Sandbox{Mode: ModeNetwork, Endpoints: []Endpoint{
				{Driver: networktypes.DriverBridge, Gateway: netip.MustParseAddr("10.6.0.1")},
				{Driver: networktypes.DriverBridge, Gateway: netip.MustParseAddr("10.8.0.1"), DNSServer: netip.MustParseAddr("10.8.0.1")}}})
		}, []string{"nameserver 10.8.0.1\n"}, []string{"192.0.2.53", "10.6.0.1"}},
		{"--dns", func() ([]byte, error) {
			return m.ResolvConf(&Sandbox{Mode: ModeNone, DNS: []string{"10.7.7.7"}, DNSSearch: []string{"x.test"}})
		}, []string{"nameserver 10.7.7.7\n", "search x.test\n"}, []string{"corp.test"}},
		{"host hosts", func() ([]byte, error) {
			return m.HostsFile(&Sandbox{Mode: ModeHost, ExtraHosts: []string{"a=10.1.1.1"}})
		}, []string{"10.0.0.1 hosthost\n", "10.1.1.1\ta\n"}, nil},
	}
	for _, c := range cases {
		b, err := c.got()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: %q lacks %q", c.name, b, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(string(b), n) {
				t.Errorf("%s: %q has %q", c.name, b, n)
			}
		}
	}
	if _, err := m.HostsFile(&Sandbox{ExtraHosts: []string{"bad"}}); err == nil {
		t.Error("bad extra host accepted")
	}
	// host_gateway_ip: host-gateway is that address, in any mode.
	mg := &Manager{cfg: Config{HostResolvConf: rc, HostHosts: hosts, HostGatewayIP: netip.MustParseAddr("6.7.8.9")}}
	for _, sb := range []*Sandbox{user, {Mode: ModeHost, ExtraHosts: []string{"gw:host-gateway"}}} {
		if b, err := mg.HostsFile(sb); err != nil || !strings.Contains(string(b), "6.7.8.9\tgw\n") {
			t.Errorf("host_gateway_ip, mode %v: %q %v", sb.Mode, b, err)
		}
	}
	if got := string(HostnameFile(user)); got != "h1\n" {
		t.Errorf("hostname %q", got)
	}
}
