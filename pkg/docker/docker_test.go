package docker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/registry"
	dsystem "github.com/moby/moby/api/types/system"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
)

func sample() *container.Container {
	return &container.Container{
		ID:      strings.Repeat("ab", 32),
		Name:    "/web",
		Created: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Image:   "sha256:" + strings.Repeat("1", 64), Snapshotter: "berth",
		Path:  "httpd",
		Args:  []string{"-f"},
		State: container.State{Status: "running", Running: true, Pid: 42, StartedAt: time.Now()},
		Config: container.Config{
			Name: "web", Image: "busybox", Cmd: []string{"httpd", "-f"}, Labels: map[string]string{"a": "b"},
			PortBindings:  []container.PortBinding{{HostPort: 8080, ContainerPort: 80}},
			RestartPolicy: container.RestartPolicy{Name: "unless-stopped"},
			Resources:     container.Resources{CPUQuota: 15000, CPUPeriod: 100000},
		},
		Env: []string{"PATH=/bin"},
		NetworkSettings: container.NetworkSettings{
			Ports: []container.PortBinding{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
			Networks: map[string]container.EndpointSettings{
				"bridge": {NetworkID: "n1", IPAddress: "10.88.0.2", IPPrefixLen: 16, Gateway: "10.88.0.1", MacAddress: "02:42:0a:58:00:02"},
				"app":    {NetworkID: "n2", IPAddress: "10.89.0.2", IPPrefixLen: 24, IfName: "app0"},
			},
		},
	}
}

// decode marshals v and decodes it as generic JSON, the way a template sees it.
func decode(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestContainerInspectShape(t *testing.T) {
	img := &image.Config{Cmd: []string{"sh"}, Labels: map[string]string{"img": "x"}, ExposedPorts: map[string]struct{}{"443/tcp": {}}}
	m := decode(t, ContainerInspect(sample(), img))
	hc := m["HostConfig"].(map[string]any)
	if hc["LogConfig"].(map[string]any)["Type"] != "json-file" || hc["NetworkMode"] != "bridge" {
		t.Errorf("HostConfig defaults: %v", hc)
	}
	if hc["CpuQuota"] != 15000.0 || hc["CpuPeriod"] != 100000.0 {
		t.Errorf("CPU quota and period: %v %v", hc["CpuQuota"], hc["CpuPeriod"])
	}
	if hc["RestartPolicy"].(map[string]any)["Name"] != "unless-stopped" {
		t.Errorf("restart policy: %v", hc["RestartPolicy"])
	}
	pb := hc["PortBindings"].(map[string]any)["80/tcp"].([]any)[0].(map[string]any)
	if pb["HostPort"] != "8080" {
		t.Errorf("port binding: %v", pb)
	}
	cfg := m["Config"].(map[string]any)
	if cfg["Hostname"] != "abababababab" || cfg["Labels"].(map[string]any)["img"] != "x" {
		t.Errorf("config: %v", cfg)
	}
	exposed := cfg["ExposedPorts"].(map[string]any)
	if _, ok := exposed["443/tcp"]; !ok {
		t.Errorf("exposed ports: %v", exposed)
	}
	ns := m["NetworkSettings"].(map[string]any)
	if got := ns["Networks"].(map[string]any)["bridge"].(map[string]any)["IPAddress"]; got != "10.88.0.2" {
		t.Errorf("bridge IP: %v", got)
	}
	// The interface name given shows as dockerd shows it: the endpoint's
	// DriverOpts; a dynamic eth<N> as none.
	nets := ns["Networks"].(map[string]any)
	if got := nets["app"].(map[string]any)["DriverOpts"]; got.(map[string]any)[IfnameOpt] != "app0" {
		t.Errorf("app's DriverOpts: %v", got)
	}
	if got := nets["bridge"].(map[string]any)["DriverOpts"]; got != nil {
		t.Errorf("bridge's DriverOpts: %v, want null", got)
	}
	if got := ns["Ports"].(map[string]any)["80/tcp"].([]any)[0].(map[string]any); got["HostIp"] != "0.0.0.0" || got["HostPort"] != "8080" {
		t.Errorf("published port: %v", got)
	}
	if _, ok := ns["IPAddress"]; ok {
		t.Errorf("the newest API has no top-level IPAddress")
	}
	if m["State"].(map[string]any)["FinishedAt"] != "0001-01-01T00:00:00Z" {
		t.Errorf("zero time: %v", m["State"])
	}
}

func TestVersionedContainer(t *testing.T) {
	c := sample()
	c.Config.Networks = []container.NetworkAttachment{{Network: "appnet", Aliases: []string{"web"}}}
	c.NetworkSettings.Networks["appnet"] = container.EndpointSettings{IPAddress: "10.89.0.2", Aliases: []string{"web"}}
	m := decode(t, VersionedContainer(ContainerInspect(c, nil), "1.44"))
	ns := m["NetworkSettings"].(map[string]any)
	if ns["IPAddress"] != "10.88.0.2" || ns["Gateway"] != "10.88.0.1" || ns["MacAddress"] != "02:42:0a:58:00:02" {
		t.Errorf("1.44 keeps the bridge's fields at the top: %v", ns)
	}
	aliases := ns["Networks"].(map[string]any)["appnet"].(map[string]any)["Aliases"].([]any)
	if len(aliases) != 2 || aliases[1] != "abababababab" {
		t.Errorf("1.44 adds the short ID to user network aliases: %v", aliases)
	}
	if _, ok := m["GraphDriver"]; !ok {
		t.Errorf("1.44 has GraphDriver")
	}
	m = decode(t, VersionedContainer(ContainerInspect(c, nil), "1.52"))
	if _, ok := m["NetworkSettings"].(map[string]any)["IPAddress"]; ok {
		t.Errorf("1.52 has no top-level IPAddress")
	}
}

// An older version's answer keeps every number as it is: 2^62+1 bytes of
// memory is no float64.
func TestVersionedContainerKeepsNumbers(t *testing.T) {
	c := sample()
	c.Config.Resources.Memory = 1<<62 + 1
	b, err := json.Marshal(VersionedContainer(ContainerInspect(c, nil), "1.44"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Memory":4611686018427387905`) {
		t.Errorf("1.44 inspect lost the memory limit's precision: %s", b)
	}
}

func TestVersionedImage(t *testing.T) {
	img := &image.Image{ID: "sha256:" + strings.Repeat("2", 64), Os: "linux", Architecture: "amd64", Config: image.Config{Cmd: []string{"sh"}}}
	m := decode(t, VersionedImage(ImageInspect(img), "1.41"))
	cfg := m["Config"].(map[string]any)
	if _, ok := cfg["Entrypoint"]; !ok || cfg["Cmd"].([]any)[0] != "sh" {
		t.Errorf("1.41 config: %v", cfg)
	}
	if m["RepoTags"] == nil || m["VirtualSize"] == nil {
		t.Errorf("1.41 image: %v", m)
	}
}

func TestVersionedInfo(t *testing.T) {
	info := func() dsystem.Info {
		return dsystem.Info{
			ContainerdCommit: dsystem.Commit{ID: "v2.3.7"},
			RegistryConfig:   &registry.ServiceConfig{},
			Containerd:       &dsystem.ContainerdInfo{Address: "/run/c.sock"},
			Runtimes:         map[string]dsystem.RuntimeWithStatus{"runc": {Runtime: dsystem.Runtime{Path: "runc"}, Status: map[string]string{"a": "b"}}},
		}
	}
	m := decode(t, VersionedInfo(info(), "1.41"))
	if m["BridgeNfIptables"] != false || m["ContainerdCommit"].(map[string]any)["Expected"] != "v2.3.7" || m["Containerd"] != nil {
		t.Errorf("1.41 info: %v", m)
	}
	if rc := m["RegistryConfig"].(map[string]any); rc["AllowNondistributableArtifactsCIDRs"] != nil {
		t.Errorf("1.41 RegistryConfig: %v", rc)
	} else if _, ok := rc["AllowNondistributableArtifactsCIDRs"]; !ok {
		t.Errorf("1.41 RegistryConfig lacks AllowNondistributableArtifactsCIDRs: %v", rc)
	}
	if rt := m["Runtimes"].(map[string]any)["runc"].(map[string]any); rt["status"] != nil {
		t.Errorf("1.41 runtime has a status: %v", rt)
	}
	m = decode(t, VersionedInfo(info(), "1.50"))
	if _, ok := m["BridgeNfIptables"]; ok || m["Containerd"] == nil {
		t.Errorf("1.50 info: %v", m)
	}
	if _, ok := m["ContainerdCommit"].(map[string]any)["Expected"]; ok {
		t.Errorf("1.50 info has ContainerdCommit.Expected")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"1.44", "1.5", 1}, {"1.9", "1.10", -1}, {"1.50", "1.50", 0}, {"1", "1.0", 0}} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("%s vs %s: %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// A container in host or none mode lists that network, as dockerd's inspect
// does (moby's TestNetworkAliasesAreEmpty reads its Aliases), and the
// default IPC mode reads "private".
func TestContainerInspectNetworkModeAndIpcDefault(t *testing.T) {
	for _, mode := range []string{"host", "none"} {
		c := sample()
		c.State = container.State{Status: "created"}
		c.NetworkSettings = container.NetworkSettings{}
		c.Config.NetworkMode = mode
		got := ContainerInspect(c, nil)
		ep, ok := got.NetworkSettings.Networks[mode]
		if !ok || ep == nil || ep.Aliases != nil {
			t.Errorf("%s: Networks = %v, want the %s network without aliases", mode, got.NetworkSettings.Networks, mode)
		}
		if got.HostConfig.IpcMode != "private" {
			t.Errorf("IpcMode %q, want private", got.HostConfig.IpcMode)
		}
	}
}

// The container list carries HostConfig.Annotations (API 1.46), as
// dockerd's (moby's TestContainerList_Annotations).
func TestContainerSummaryAnnotations(t *testing.T) {
	got := ContainerSummary(container.Summary{ID: "x", Annotations: map[string]string{"foo": "bar"}})
	if got.HostConfig.Annotations["foo"] != "bar" {
		t.Errorf("HostConfig.Annotations = %v, want foo=bar", got.HostConfig.Annotations)
	}
}
