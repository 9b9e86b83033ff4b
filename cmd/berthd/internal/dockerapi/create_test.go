package dockerapi

import (
	"strings"
	"testing"

	dcontainer "github.com/moby/moby/api/types/container"
	dnetwork "github.com/moby/moby/api/types/network"
)

// TestCreateKeepsCPUQuota: CpuQuota and CpuPeriod reach the engine as
// given (inspect shows them, as dockerd), not turned into NanoCpus.
func TestCreateKeepsCPUQuota(t *testing.T) {
	req := &dcontainer.CreateRequest{Config: &dcontainer.Config{Image: "busybox"},
		HostConfig: &dcontainer.HostConfig{Resources: dcontainer.Resources{CPUQuota: 15000, CPUPeriod: 100000}}}
	cfg, err := createConfig("", req)
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Resources; r.CPUQuota != 15000 || r.CPUPeriod != 100000 || r.NanoCPUs != 0 {
		t.Errorf("resources %+v, want the quota and period as given", r)
	}
}

// Older clients get dockerd's router rules: one endpoint before 1.44, no
// GwPriority before 1.48.
func TestVersionedNetworking(t *testing.T) {
	nc := func() *dnetwork.NetworkingConfig {
		return &dnetwork.NetworkingConfig{EndpointsConfig: map[string]*dnetwork.EndpointSettings{
			"net2": {GwPriority: 10}, "net1": {}, "net3": nil,
		}}
	}
	err := versionedNetworking(nc(), "1.43")
	if err == nil || !strings.Contains(err.Error(), "Container cannot be created with multiple network endpoints: net1, net2, net3") {
		t.Fatalf("1.43: %v", err)
	}
	c := nc()
	if err := versionedNetworking(c, "1.47"); err != nil || c.EndpointsConfig["net2"].GwPriority != 0 {
		t.Fatalf("1.47: %v, GwPriority %d", err, c.EndpointsConfig["net2"].GwPriority)
	}
	c = nc()
	if err := versionedNetworking(c, "1.48"); err != nil || c.EndpointsConfig["net2"].GwPriority != 10 {
		t.Fatalf("1.48: %v, GwPriority %d", err, c.EndpointsConfig["net2"].GwPriority)
	}
}
