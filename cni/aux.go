package cni

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// validateAux checks a network's aux addresses (Docker's --aux-address):
// each a host address of the subnet, not the gateway, not twice.
func validateAux(n *networktypes.Network) error {
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(n.AuxAddresses)) {
		a := n.AuxAddresses[name]
		switch {
		case name == "":
			return errInvalid("invalid aux-address =%s: want NAME=IP", a)
		case !n.Subnet.Contains(a) || a == n.Subnet.Addr() || a == lastAddr(n.Subnet):
			return errInvalid("aux-address %s=%s is not a host address of subnet %s", name, a, n.Subnet)
		case a == n.Gateway:
			return errInvalid("aux-address %s=%s is the network's gateway", name, a)
		case seen[a.String()] != "":
			return errInvalid("aux-address %s=%s is also given to %s", name, a, seen[a.String()])
		}
		seen[a.String()] = name
	}
	return nil
}

// reserveAux marks the aux addresses taken in the network's host-local
// store, as a container's address would be: the plugin never hands them
// out, and a static --ip on one is refused as "not available". The store
// goes with the network (Remove deletes its directory).
func (m *Manager) reserveAux(n *networktypes.Network) error {
	if len(n.AuxAddresses) == 0 {
		return nil
	}
	dir := filepath.Join(m.cfg.ipamDir(), n.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, a := range n.AuxAddresses {
		// host-local's file format: owner, then interface; no container
		// has this owner, so no release ever frees it.
		if err := writeFile(filepath.Join(dir, a.String()), []byte("aux-address\r\n"+name), 0o600); err != nil {
			return fmt.Errorf("reserve aux-address %s=%s: %w", name, a, err)
		}
	}
	return nil
}
