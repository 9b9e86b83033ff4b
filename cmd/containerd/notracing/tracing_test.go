package tracing

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// upstreamSums are the sha256 sums of the files of containerd's pkg/tracing
// this package was written against (v2.3.7).
var upstreamSums = map[string]string{
	"tracing.go":          "ca424309d4d89f20f4d05e7519f2e62e4475565139e8e14c268806568bba8063",
	"helpers.go":          "533082c08800988b90411bc2acf7a6e31aacc57d37e3fdc66e5d97716d341325",
	"helpers_spanopts.go": "28df6a96858cb02e2103e3a39a618a62cdf3ccd64f5637513230d05ad7c0e4d1",
	"log.go":              "b231931d5361f8ba9bb394d8a78f2d188f6feffccd996b9fbe9439d2b4c30f4b",
}

// TestUpstreamUnchanged fails when the containerd that cmd/containerd
// builds has another pkg/tracing than the one this package was written
// against: read the new one, port what changed here (build.sh replaces
// every non-test file of it), and update upstreamSums.
func TestUpstreamUnchanged(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool to find containerd's module with")
	}
	out, err := exec.Command("go", "list", "-mod=readonly", "-f", "{{.Dir}}\n{{join .GoFiles \"\\n\"}}", "github.com/containerd/containerd/v2/pkg/tracing").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir, files := lines[0], lines[1:]
	if len(files) != len(upstreamSums) {
		t.Errorf("containerd's pkg/tracing has the files %v, this package was written against %d", files, len(upstreamSums))
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if sum := fmt.Sprintf("%x", sha256.Sum256(b)); sum != upstreamSums[f] {
			t.Errorf("containerd's pkg/tracing/%s has changed (sha256 %s, this package was written against %q): port the change to cmd/containerd/notracing", f, sum, upstreamSums[f])
		}
	}
}
