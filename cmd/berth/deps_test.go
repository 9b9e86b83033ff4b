package main

import (
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// The CLI links the leaf pkg/types packages, never the engine: no
// containerd client, CNI, netlink, bbolt or OpenTelemetry (start-up time
// and size of the binary every `berth run` starts).
func TestCLIDoesNotLinkTheEngine(t *testing.T) {
	forbidden := []string{
		"github.com/containerd/containerd/v2",
		"github.com/containernetworking/",
		"github.com/vishvananda/",
		"go.etcd.io/bbolt",
		"go.opentelemetry.io/",
		"github.com/berthproject/berth/engine",
		"github.com/berthproject/berth/cni",
		"github.com/berthproject/berth/cmd/berthd",
		"github.com/moby/buildkit", // docs/build.md: the CLI sends a tar
	}
	for _, pkg := range harness.LinkedPackages(t) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("berth links %s", pkg)
			}
		}
	}
}
