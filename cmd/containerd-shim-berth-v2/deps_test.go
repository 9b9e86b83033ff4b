package main

import (
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// One shim runs per container: what it links costs memory in every one of
// them (the protobuf registry, gogo, gRPC's status and the generated API
// packages alone cost ~0.7-1 MB of private memory per process at init).
// The shim speaks containerd's wire format by hand (shim/internal/taskwire,
// ttrpcwire), without even protowire (whose internal/errors import opens
// and reads the executable at init).
func TestShimLinksNoProtobufRuntime(t *testing.T) {
	forbidden := []string{
		"google.golang.org/protobuf",
		"google.golang.org/grpc",
		"google.golang.org/genproto",
		"github.com/gogo/",
		"github.com/containerd/containerd/",
		"github.com/containerd/ttrpc",
		"github.com/containerd/typeurl",
		"github.com/containerd/cgroups",
		"net/http",
		"crypto/", // the socket name needs no cryptographic hash
	}
	for _, pkg := range harness.LinkedPackages(t) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("the shim links %s", pkg)
			}
		}
	}
}
