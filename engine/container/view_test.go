package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWritesGoThroughTheView: the in-memory view of List is current only if
// every write to containerd's containers and tasks marks it dirty, which
// containerStore and taskClient do. A call on the client's own services
// would bypass them.
func TestWritesGoThroughTheView(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(string(b), "client.ContainerService()") + strings.Count(string(b), "client.TaskService()")
		if f == "view.go" {
			n -= 2 // containerStore and taskClient themselves
		}
		if n != 0 {
			t.Errorf("%s calls containerd's container or task service directly: use s.containerStore() or s.taskClient(), which keep List's view current", f)
		}
	}
}
