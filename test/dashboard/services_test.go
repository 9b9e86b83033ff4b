package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/test/cluster"
	"github.com/berthproject/berth/test/harness"
)

// TestDashboardServices: the Services page and a service's tasks in
// chromium, on a one-node cluster (a network namespace host of the
// cluster harness; the browser runs in that namespace, where the
// dashboard listens on 127.0.0.1). The pages are live: when the browser
// says so, the test scales the service with berth service scale and the
// browser waits for the third task in the open page, without a reload.
// Then the service events the engine published (docs/services.md) are
// read back through berth events and the Docker API's /events.
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
	start := time.Now()
	dockerCmd("service", "create", "--detach", "--name", "web", "--replicas", "2", "--no-resolve-image", "busybox", "sleep", "1d")
	login := strings.TrimSpace(h.BerthOK("ui"))

	cmd := exec.Command("nsenter", "--net=/run/netns/"+h.Netns, "--", node, "services.mjs")
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+modules, "DASH_MODULES="+modules, "DASH_CHROMIUM="+Chromium,
		"DASH_URL="+login, "DASH_SHOTS="+shots, "DASH_SERVICE=web", "DASH_NODE="+h.Name)
	// The browser prints "SCALE N" when a page is open: the test scales
	// the service to N replicas then.
	var mu sync.Mutex
	var out bytes.Buffer
	var scaleErr error
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if n, ok := strings.CutPrefix(sc.Text(), "SCALE "); ok {
				if r := h.Berth("service", "scale", "--detach", "web="+n); r.ExitCode != 0 {
					mu.Lock()
					scaleErr = fmt.Errorf("berth service scale: %s", r.String())
					mu.Unlock()
				}
			}
		}
	}()
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
	_ = pw.Close()
	<-read
	t.Logf("browser:\n%s\nscreenshots in %s", out.String(), shots)
	if scaleErr != nil {
		t.Fatal(scaleErr)
	}
	if err != nil {
		t.Fatalf("services browser suite: %v", err)
	}

	// The engine's service events: the service made, scaled, its tasks'
	// states, through both edges.
	since := fmt.Sprint(start.Unix())
	berthEvents := h.BerthOK("events", "--since", since, "--until", "0s", "--filter", "type=service", "--format", "{{json .}}")
	// The Docker API's /events, read directly: `docker events --until 0s`
	// (CLI 28.2.2) printed only a first part of the stream in 2 of 3
	// runs here (not reproduced in 8 later runs), while the API answer
	// read directly was whole every time (open: docs/services.md).
	sock := strings.TrimPrefix(h.Stack.DockerHost(), "unix://")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	now := time.Now()
	q := url.Values{"since": {since}, "until": {fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())}, "filters": {`{"type":{"service":true},"service":{"web":true}}`}}
	resp, err := hc.Get("http://docker/v1.47/events?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	dockerEvents, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %d %v: %s", resp.StatusCode, err, dockerEvents)
	}
	for name, text := range map[string]string{"berth events": berthEvents, "Docker API /events": string(dockerEvents)} {
		var created, scaled, running bool
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			var m struct {
				Type, Action string
				Actor        struct {
					ID         string
					Attributes map[string]string
				}
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			if m.Type != "service" || m.Actor.Attributes["name"] != "web" || m.Actor.ID == "" {
				t.Errorf("%s: an event not of service web: %s", name, line)
			}
			a := m.Actor.Attributes
			switch {
			case m.Action == "create":
				created = true
			case m.Action == "update" && a["replicas.old"] == "2" && a["replicas.new"] == "3":
				scaled = true
			case m.Action == "update" && a["task.slot"] == "3" && a["task.state.new"] == "running" && a["task.id"] != "":
				running = true
			}
		}
		if !created || !scaled || !running {
			t.Errorf("%s: created %v, scaled 2→3 %v, task 3 running %v in:\n%s", name, created, scaled, running, text)
		}
	}
	dockerCmd("service", "rm", "web")
}
