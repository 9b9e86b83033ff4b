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

// Device requests: the "cdi" driver's names reach the engine (one request
// of several names too); another driver (--gpus), a count or options are
// refused, naming them.
func TestCreateCDIDeviceRequests(t *testing.T) {
	create := func(reqs ...dcontainer.DeviceRequest) ([]string, error) {
		req := &dcontainer.CreateRequest{Config: &dcontainer.Config{Image: "busybox"},
			HostConfig: &dcontainer.HostConfig{Resources: dcontainer.Resources{DeviceRequests: reqs}}}
		cfg, err := createConfig("", req)
		if err != nil {
			return nil, err
		}
		return cfg.Resources.CDIDevices, nil
	}
	got, err := create(dcontainer.DeviceRequest{Driver: "cdi", DeviceIDs: []string{"a.com/x=1"}},
		dcontainer.DeviceRequest{Driver: "cdi", DeviceIDs: []string{"b.com/y=2", "b.com/y=3"}})
	if err != nil || strings.Join(got, " ") != "a.com/x=1 b.com/y=2 b.com/y=3" {
		t.Errorf("cdi requests: %q, %v", got, err)
	}
	for _, tc := range []struct {
		req  dcontainer.DeviceRequest
		want string
	}{
		{dcontainer.DeviceRequest{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}}}, `driver "nvidia"`},
		{dcontainer.DeviceRequest{Count: -1, Capabilities: [][]string{{"gpu"}}}, `driver ""`},
		{dcontainer.DeviceRequest{Driver: "cdi", Count: 1, DeviceIDs: []string{"a.com/x=1"}}, "unexpected count in CDI device request"},
		{dcontainer.DeviceRequest{Driver: "cdi", Options: map[string]string{"k": "v"}, DeviceIDs: []string{"a.com/x=1"}}, "unexpected options in CDI device request"},
	} {
		if _, err := create(tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.req, err, tc.want)
		}
	}
}
