package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/berthproject/berth/test/harness"
)

// TestTestcontainers runs testcontainers-go against berth's Docker API:
// a container started, waited for by its log line and its listening
// port, reached at the mapped port, its logs and an exec read, and
// terminated. Ryuk (the reaper) is off: its image is not on this machine.
func TestTestcontainers(t *testing.T) {
	s := harness.Start(t)
	s.LoadBusybox()
	// testcontainers reads its Docker host once per process: this test is
	// the only one in the package that uses it.
	t.Setenv("DOCKER_HOST", s.DockerHost())
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), harness.Timeout(3*time.Minute))
	defer cancel()

	c, err := testcontainers.Run(ctx, "busybox:latest",
		testcontainers.WithCmd("sh", "-c", "echo starting; sleep 1; echo server ready; exec httpd -f -p 8080"),
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithLabels(map[string]string{"suite": "testcontainers"}),
		testcontainers.WithWaitStrategy(
			wait.ForLog("server ready").WithStartupTimeout(harness.Timeout(time.Minute)),
			wait.ForListeningPort("8080/tcp").WithStartupTimeout(harness.Timeout(time.Minute)),
		),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("testcontainers.Run: %v", err)
	}

	endpoint, err := c.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatalf("PortEndpoint: %v", err)
	}
	resp, err := http.Get(endpoint + "/etc/hostname")
	if err != nil {
		t.Fatalf("GET %s: %v", endpoint, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if host := strings.TrimSpace(string(body)); resp.StatusCode != 200 || !strings.HasPrefix(c.GetContainerID(), host) {
		t.Errorf("GET %s/etc/hostname: %d %q, want the container's short ID", endpoint, resp.StatusCode, body)
	}

	code, out, err := c.Exec(ctx, []string{"cat", "/etc/hostname"})
	if err != nil || code != 0 {
		t.Fatalf("Exec: %d %v", code, err)
	}
	if b, _ := io.ReadAll(out); !strings.Contains(string(b), c.GetContainerID()[:12]) {
		t.Errorf("Exec output %q", b)
	}
	logs, err := c.Logs(ctx)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	b, _ := io.ReadAll(logs)
	logs.Close()
	if !strings.Contains(string(b), "starting\nserver ready") {
		t.Errorf("Logs: %q", b)
	}

	id := c.GetContainerID()
	if err := testcontainers.TerminateContainer(c); err != nil {
		t.Fatalf("TerminateContainer: %v", err)
	}
	a := newDockerAPI(t, s)
	if resp, _ := a.do("GET", "/containers/"+id+"/json", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after Terminate the container is still there: %d", resp.StatusCode)
	}
}
