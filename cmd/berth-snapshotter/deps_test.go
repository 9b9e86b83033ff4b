package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// berth-snapshotter's idle memory is mostly its binary's pages
// (docs/performance.md, "Idle daemons"): it serves containerd's Snapshots
// service over ttrpc with berth's copy of the messages, so it links no
// grpc-go (only the small codes and status packages ttrpc and errdefs use
// for error codes), and with it no HTTP/2 or TLS (grpc's credentials).
func TestSnapshotterLinksNoGRPC(t *testing.T) {
	forbidden := []string{
		"google.golang.org/grpc",
		"google.golang.org/grpc/internal/transport",
		"google.golang.org/grpc/credentials",
		"golang.org/x/net/http2",
		"crypto/tls",
		"net/http",
	}
	for _, pkg := range harness.LinkedPackages(t) {
		if slices.Contains(forbidden, pkg) || strings.HasPrefix(pkg, "github.com/containerd/containerd/api/services/") {
			t.Errorf("berth-snapshotter links %s", pkg)
		}
	}
}
