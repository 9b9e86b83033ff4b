package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestResolveHostGateway: host-gateway becomes the steps' gateway; without
// one the build is refused with the reason.
func TestResolveHostGateway(t *testing.T) {
	gw := netip.MustParseAddr("172.17.0.1")
	got, err := resolveHostGateway([]string{"a=10.0.0.1", "b=host-gateway"}, gw)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a=10.0.0.1", "b=172.17.0.1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := resolveHostGateway([]string{"b=host-gateway"}, netip.Addr{}); err == nil || !strings.Contains(err.Error(), "no gateway") {
		t.Errorf("without a gateway: %v, want an error naming it", err)
	}
}

// TestStepGateway reads the gateway of the conflist berthd writes
// (cni.Manager.BuildConflist's shape).
func TestStepGateway(t *testing.T) {
	p := filepath.Join(t.TempDir(), "steps.conflist")
	conf := `{"cniVersion":"1.0.0","name":"berth-build","plugins":[{"type":"bridge","bridge":"berth0",
"ipam":{"type":"host-local","ranges":[[{"subnet":"172.17.0.0/16","gateway":"172.17.0.1","rangeStart":"172.17.255.1","rangeEnd":"172.17.255.254"}]]}}]}`
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	gw, err := stepGateway(p)
	if err != nil || gw.String() != "172.17.0.1" {
		t.Errorf("stepGateway: %v, %v; want 172.17.0.1", gw, err)
	}
	if err := os.WriteFile(p, []byte(`{"plugins":[{"type":"bridge"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := stepGateway(p); err == nil {
		t.Error("a conflist without a gateway gave no error")
	}
}
