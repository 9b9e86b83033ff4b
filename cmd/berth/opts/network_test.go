package opts

import (
	"reflect"
	"strings"
	"testing"

	"github.com/berthproject/berth/pkg/types/container"
)

func TestPortBindings(t *testing.T) {
	for spec, want := range map[string][]container.PortBinding{
		"80":                  {{ContainerPort: 80, Proto: "tcp"}},
		"8080:80":             {{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
		"127.0.0.1:8080:80":   {{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
		"127.0.0.1::80/udp":   {{HostIP: "127.0.0.1", ContainerPort: 80, Proto: "udp"}},
		"0.0.0.0:53:53/udp":   {{HostPort: 53, ContainerPort: 53, Proto: "udp"}},
		"8000-8001:80-81":     {{HostPort: 8000, ContainerPort: 80, Proto: "tcp"}, {HostPort: 8001, ContainerPort: 81, Proto: "tcp"}},
		"8000-8001:80-81/tcp": {{HostPort: 8000, ContainerPort: 80, Proto: "tcp"}, {HostPort: 8001, ContainerPort: 81, Proto: "tcp"}},
	} {
		got, err := PortBindings([]string{spec})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("PortBindings(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "0", "70000", "80/sctp", "1:2:3:4", "8000-8002:80-81", "::1:80:80", "host:80:80"} {
		if got, err := PortBindings([]string{bad}); err == nil {
			t.Errorf("PortBindings(%q) = %+v, want an error", bad, got)
		} else if strings.HasSuffix(err.Error(), "invalid argument") {
			t.Errorf("PortBindings(%q): error %q keeps the class suffix", bad, err)
		}
	}
}

func TestExposedPorts(t *testing.T) {
	got, err := ExposedPorts([]string{"80", "53/udp", "8000-8002/TCP"})
	want := []string{"80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ExposedPorts = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "0", "x", "90-80", "80/icmp"} {
		if _, err := ExposedPorts([]string{bad}); err == nil {
			t.Errorf("ExposedPorts(%q): want an error", bad)
		}
	}
}

func TestNetworkApply(t *testing.T) {
	var cfg container.Config
	err := Network{
		Mode: "app", IP: "10.1.0.5", Aliases: []string{"db"}, MAC: "92:d0:c6:0a:29:33",
		Publish: []string{"8080:80"}, PublishAll: true, Expose: []string{"81"},
		DNS: []string{"192.0.2.1"}, DNSSearch: []string{"x.test"}, DNSOptions: []string{"ndots:2"},
		AddHosts: []string{"a:192.0.2.9", "gw:host-gateway"},
	}.Apply(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := container.Config{
		NetworkMode:     "app",
		Networks:        []container.NetworkAttachment{{Network: "app", IPv4: "10.1.0.5", Aliases: []string{"db"}, MAC: "92:d0:c6:0a:29:33"}},
		PortBindings:    []container.PortBinding{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
		PublishAllPorts: true,
		ExposedPorts:    []string{"81/tcp"},
		DNS:             []string{"192.0.2.1"}, DNSSearch: []string{"x.test"}, DNSOptions: []string{"ndots:2"},
		ExtraHosts: []string{"a:192.0.2.9", "gw:host-gateway"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Apply:\n got %+v\nwant %+v", cfg, want)
	}

	// A MAC on the default network is kept for it.
	cfg = container.Config{}
	if err := (Network{MAC: "92:d0:c6:0a:29:33"}).Apply(&cfg); err != nil || len(cfg.Networks) != 1 || cfg.Networks[0].Network != "bridge" {
		t.Errorf("--mac-address on the default network: %+v, %v", cfg.Networks, err)
	}

	for name, n := range map[string]Network{
		"ip on bridge":        {IP: "172.17.0.9"},
		"ip on default":       {Mode: "bridge", IP: "172.17.0.9"},
		"alias on bridge":     {Aliases: []string{"x"}},
		"bad ip":              {Mode: "app", IP: "10.1.0"},
		"v6 ip":               {Mode: "app", IP: "fd00::1"},
		"bad mac":             {MAC: "92:d0:c6"},
		"mac with host":       {Mode: "host", MAC: "92:d0:c6:0a:29:33"},
		"publish with none":   {Mode: "none", Publish: []string{"80"}},
		"publish container":   {Mode: "container:web", PublishAll: true},
		"empty container":     {Mode: "container:"},
		"bad dns":             {DNS: []string{"dns.example"}},
		"bad add-host":        {AddHosts: []string{"noip"}},
		"bad add-host ip":     {AddHosts: []string{"a:b"}},
		"bad publish":         {Publish: []string{"80:80:80:80"}},
		"bad expose":          {Expose: []string{"http"}},
		"alias on host":       {Mode: "host", Aliases: []string{"x"}},
		"ip on container:web": {Mode: "container:web", IP: "10.0.0.2"},
	} {
		var cfg container.Config
		if err := n.Apply(&cfg); err == nil {
			t.Errorf("%s: Apply(%+v) succeeded", name, n)
		}
	}
}

func TestFormatPorts(t *testing.T) {
	got := FormatPorts([]container.PortBinding{
		{HostPort: 8443, ContainerPort: 443},
		{HostIP: "127.0.0.1", HostPort: 5353, ContainerPort: 53, Proto: "udp"},
		{HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
	})
	want := "127.0.0.1:5353->53/udp, 0.0.0.0:8080->80/tcp, 0.0.0.0:8443->443/tcp"
	if got != want {
		t.Errorf("FormatPorts = %q, want %q", got, want)
	}
	if FormatPorts(nil) != "" {
		t.Errorf("FormatPorts(nil) is not empty")
	}
}

func TestNetworkApplyMoreNetworks(t *testing.T) {
	var cfg container.Config
	err := Network{
		Mode: "name=app,alias=db,gw-priority=10", More: []string{"back", "name=front,ip=10.2.0.5,gw-priority=-5,driver-opt=com.docker.network.endpoint.ifname=front0"},
		IP: "10.1.0.5",
	}.Apply(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []container.NetworkAttachment{
		{Network: "app", IPv4: "10.1.0.5", Aliases: []string{"db"}, GwPriority: 10},
		{Network: "back"},
		{Network: "front", IPv4: "10.2.0.5", GwPriority: -5, IfName: "front0"},
	}
	if cfg.NetworkMode != "app" || !reflect.DeepEqual(cfg.Networks, want) {
		t.Errorf("Apply: mode %q networks %+v, want app %+v", cfg.NetworkMode, cfg.Networks, want)
	}
	// The first network's interface name is kept too.
	var one container.Config
	if err := (Network{Mode: "name=app,driver-opt=com.docker.network.endpoint.ifname=app0"}).Apply(&one); err != nil || len(one.Networks) != 1 || one.Networks[0].IfName != "app0" {
		t.Errorf("Apply with the first network's ifname: %v, networks %+v", err, one.Networks)
	}
	for name, n := range map[string]Network{
		"no name":            {Mode: "alias=x"},
		"bad priority":       {Mode: "name=app,gw-priority=high"},
		"unknown key":        {Mode: "name=app,color=red"},
		"other driver-opt":   {Mode: "name=app,driver-opt=com.docker.network.bridge.name=x"},
		"alias twice":        {Mode: "name=app,alias=x", Aliases: []string{"y"}},
		"ip twice":           {Mode: "name=app,ip=10.1.0.6", IP: "10.1.0.5"},
		"bad ip":             {Mode: "name=app,ip=fd00::1"},
		"same network twice": {Mode: "app", More: []string{"name=app"}},
		"host and a network": {Mode: "host", More: []string{"app"}},
		"a network and none": {Mode: "app", More: []string{"none"}},
	} {
		var cfg container.Config
		if err := n.Apply(&cfg); err == nil {
			t.Errorf("%s: Apply(%+v) succeeded", name, n)
		}
	}
}
