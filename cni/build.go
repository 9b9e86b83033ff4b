package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// BuildNetworkName names the CNI network of build steps (berth-buildkitd's
// RUN steps): its host-local store is <root>/cni/ipam/berth-build.
const BuildNetworkName = "berth-build"

// buildRange is the part of the default network's subnet that build steps
// take their addresses from: the last /24 of a subnet of /22 or larger,
// else its last quarter. The default network's own range stops before it.
func buildRange(subnet netip.Prefix) netip.Prefix {
	bits := 24
	if subnet.Bits() > 22 {
		bits = subnet.Bits() + 2
	}
	p, _ := lastAddr(subnet).Prefix(bits)
	return p
}

// BuildConflist is the CNI configuration of build steps: berth's default
// bridge (its interface, gateway and routes, so berth's masquerade and
// firewall apply as to its containers) with addresses from a range of the
// default subnet kept for builds, in a store of its own. pluginDir is the
// first plugin dir that has the bridge, host-local and loopback plugins
// (BuildKit's CNI provider takes one).
func (m *Manager) BuildConflist() (conf []byte, pluginDir string, err error) {
	m.mu.Lock()
	var def *networktypes.Network
	for _, n := range m.networks {
		if n.Default {
			nn := n.Network
			def = &nn
		}
	}
	m.mu.Unlock()
	if def == nil || !def.Subnet.Addr().Is4() {
		return nil, "", fmt.Errorf("no default IPv4 bridge network for build steps: %w", errdefs.ErrNotFound)
	}
	for _, d := range m.cfg.PluginDirs {
		ok := true
		for _, p := range []string{"bridge", "host-local", "loopback"} {
			if st, err := os.Stat(filepath.Join(d, p)); err != nil || !st.Mode().IsRegular() {
				ok = false
			}
		}
		if ok {
			pluginDir = d
			break
		}
	}
	if pluginDir == "" {
		return nil, "", fmt.Errorf("no CNI plugin dir of %v has bridge, host-local and loopback: %w", m.cfg.PluginDirs, errdefs.ErrNotFound)
	}
	r := buildRange(def.Subnet)
	start, end := r.Addr().Next(), lastAddr(r).Prev()
	ipam := map[string]any{
		"type":    "host-local",
		"ranges":  [][]map[string]any{{{"subnet": def.Subnet.String(), "gateway": def.Gateway.String(), "rangeStart": start.String(), "rangeEnd": end.String()}}},
		"dataDir": m.cfg.ipamDir(),
		"routes":  []map[string]any{{"dst": "0.0.0.0/0"}},
	}
	br := map[string]any{
		"type":             "bridge",
		"bridge":           def.Interface,
		"isGateway":        true,
		"isDefaultGateway": false,
		"ipMasq":           false,
		"hairpinMode":      true,
		"ipam":             ipam,
	}
	conf, err = json.MarshalIndent(map[string]any{"cniVersion": cniVersion, "name": BuildNetworkName, "plugins": []any{br}}, "", "  ")
	return conf, pluginDir, err
}
