package cni

import (
	"net/netip"
	"testing"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// The build steps' range is the end of the default subnet, and the default
// network's own range stops before it.
func TestBuildRange(t *testing.T) {
	for subnet, want := range map[string]string{
		"172.17.0.0/16": "172.17.255.0/24",
		"10.1.0.0/22":   "10.1.3.0/24",
		"10.2.0.0/24":   "10.2.0.192/26",
	} {
		p := netip.MustParsePrefix(subnet)
		if got := buildRange(p).String(); got != want {
			t.Errorf("buildRange(%s) = %s, want %s", subnet, got, want)
		}
		r := ipamRange(&networktypes.Network{Default: true, Subnet: p, Gateway: p.Addr().Next()})
		end := netip.MustParseAddr(r["rangeEnd"].(string))
		if buildRange(p).Contains(end) || end.Next() != buildRange(p).Addr() {
			t.Errorf("the default network's range of %s ends at %s, want just before %s", subnet, end, buildRange(p))
		}
	}
}
