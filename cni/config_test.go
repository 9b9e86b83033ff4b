package cni

import (
	"net/netip"
	"testing"
)

// The default bridge takes 172.17.0.0/16 with Docker's pools, and the first
// subnet of the pools given otherwise, as dockerd's docker0 does with
// --default-address-pool (createDefault allocates it).
func TestDefaultSubnetFromGivenPools(t *testing.T) {
	c := Config{}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParsePrefix("172.17.0.0/16"); c.DefaultSubnet != want {
		t.Errorf("default subnet with Docker's pools: %s, want %s", c.DefaultSubnet, want)
	}
	c = Config{AddressPools: []AddressPool{{Base: netip.MustParsePrefix("175.30.0.0/16"), Size: 16}}}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.DefaultSubnet.IsValid() {
		t.Errorf("default subnet with pools given: %s, want none set (the pools' first free one)", c.DefaultSubnet)
	}
	c = Config{DefaultSubnet: netip.MustParsePrefix("172.60.0.0/16"), AddressPools: []AddressPool{{Base: netip.MustParsePrefix("175.30.0.0/16"), Size: 16}}}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParsePrefix("172.60.0.0/16"); c.DefaultSubnet != want {
		t.Errorf("default subnet given (--bip): %s, want %s", c.DefaultSubnet, want)
	}
}
