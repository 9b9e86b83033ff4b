package main

import (
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// berthd links no BuildKit: it runs berth-buildkitd on demand and splices
// or forwards to it (docs/build.md), so its idle memory does not grow by
// BuildKit's ~16 MB of code.
func TestBerthdDoesNotLinkBuildKit(t *testing.T) {
	for _, pkg := range harness.LinkedPackages(t) {
		if strings.HasPrefix(pkg, "github.com/moby/buildkit") || strings.HasPrefix(pkg, "github.com/tonistiigi/fsutil") {
			t.Errorf("berthd links %s", pkg)
		}
	}
}
