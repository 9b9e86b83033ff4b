package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestPythonClient: a Python program that knows berth only by its .proto
// files (docs/examples/python/berth_client.py, stubs generated here with
// the recipe of docs/api.md, Debian's python3-grpcio) lists containers,
// pulls an image, runs containers and uses every streaming call: events,
// pull progress, wait, attach, logs -f, exec IO, and a cancelled logs -f.
func TestPythonClient(t *testing.T) {
	t.Parallel()
	const python = "/usr/bin/python3" // Debian's, where python3-grpcio is
	for _, p := range []string{python, "/usr/bin/protoc", "/usr/bin/grpc_python_plugin"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing: run make deps", p)
		}
	}
	if err := exec.Command(python, "-c", "import grpc").Run(); err != nil {
		t.Skip("python3-grpcio missing: run make deps")
	}
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}

	// The recipe of docs/api.md, "Clients in other languages".
	stubs := t.TempDir()
	protos, _ := filepath.Glob(filepath.Join(repo, "proto", "berth", "v1", "*.proto"))
	gen := exec.Command("/usr/bin/protoc", append([]string{"-I", filepath.Join(repo, "proto"), "-I", "/usr/include",
		"--python_out=" + stubs, "--grpc_python_out=" + stubs,
		"--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"}, protos...)...)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}

	// An image in a real registry, for the pull; its layers exist locally,
	// its name does not.
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	ref := reg.Addr() + "/e2e/pyclient:1"
	c.ok("tag", "busybox", ref)
	c.ok("push", ref)
	c.ok("rmi", ref)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join(repo, "docs", "examples", "python", "berth_client.py"),
		"--socket", s.Socket(), "--pull", ref)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+stubs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("berth_client.py: %v\n%s", err, out)
	}
	t.Logf("berth_client.py:\n%s", out)
	for _, want := range []string{
		"ok version: berthd ", "ok events: subscribed",
		"ok pull: sha256:", "ok list: ",
		"ok run: attach output 'hello from python\\ngot python\\n', exit code 3",
		"ok logs: 3 lines followed to the container's exit",
		"ok exec: stdout 'exec got hi\\n', stderr 'oops\\n', exit code 5",
		"ok cancel: logs -f cancelled",
		"ok cancel: attach cancelled, the container runs on",
		"ok deadline: logs -f ended with DEADLINE_EXCEEDED",
		"ok events: create start die destroy",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("berth_client.py's output lacks %q", want)
		}
	}
	// What the CLI sees: the pulled image, and no container left.
	c.ok("image", "inspect", ref)
	if left := c.ok("ps", "-aq", "--filter", "label=example=python"); left != "" {
		t.Errorf("containers left by the client: %q", left)
	}
}
