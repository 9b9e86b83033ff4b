// Command berth-cni-overlay is berth's CNI plugin for overlay networks: per
// network and node a vxlan device enslaved to a bridge, and the
// container's veth leg on that bridge (package cni/overlay). berthd's
// control plane allocates the address and writes the forwarding entries.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/berthproject/berth/cni/overlay"
)

func main() {
	skel.PluginMainFuncs(overlay.PluginFuncs(), overlay.PluginVersions(), "berth overlay (vxlan) plugin")
}
