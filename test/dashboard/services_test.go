package dashboard

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/cluster"
	"github.com/berthproject/berth/test/harness"
)

// TestDashboardServices: the Services page and a service's tasks in
// chromium, on a one-node cluster (a network namespace host of the
// cluster harness; the browser runs in that namespace, where the
// dashboard listens on 127.0.0.1).
func TestDashboardServices(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("needs node (Debian's nodejs; make deps)")
	}
	if _, err := os.Stat(Chromium); err != nil {
		t.Skip("needs Debian's chromium (make deps installs it)")
	}
	libexec := os.Getenv(harness.EnvLibexec)
	if libexec == "" {
		libexec = "/usr/local/lib/berth"
	}
	modules := filepath.Join(libexec, "tools", "playwright", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "playwright-core", "package.json")); err != nil {
		t.Skipf("needs playwright-core in %s (make deps installs it)", modules)
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("needs the docker CLI to make the service")
	}
	shots := os.Getenv("BERTH_DASHBOARD_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	c := cluster.New(t, 1, harness.WithDaemonArgs("--ui", "127.0.0.1:0"))
	c.Form()
	h := c.Hosts[0]
	h.Stack.LoadBusybox()
	// The service through the Docker API (the docker CLI), as a user of
	// docker service would make it.
	dockerCmd := func(args ...string) {
		t.Helper()
		d := exec.Command(docker, args...)
		d.Env = append(os.Environ(), "DOCKER_HOST="+h.Stack.DockerHost(), "DOCKER_CONFIG="+t.TempDir())
		if out, err := d.CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	dockerCmd("service", "create", "--detach", "--name", "web", "--replicas", "2", "--no-resolve-image", "busybox", "sleep", "1d")
	login := strings.TrimSpace(h.BerthOK("ui"))

	cmd := exec.Command("nsenter", "--net=/run/netns/"+h.Netns, "--", node, "services.mjs")
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+modules, "DASH_MODULES="+modules, "DASH_CHROMIUM="+Chromium,
		"DASH_URL="+login, "DASH_SHOTS="+shots, "DASH_SERVICE=web", "DASH_NODE="+h.Name)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(harness.Timeout(5 * time.Minute)):
		_ = cmd.Process.Kill()
		err = <-done
	}
	t.Logf("browser:\n%s\nscreenshots in %s", out.String(), shots)
	if err != nil {
		t.Fatalf("services browser suite: %v", err)
	}
	dockerCmd("service", "rm", "web")
}
