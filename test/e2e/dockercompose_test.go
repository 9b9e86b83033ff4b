package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// dockerPlugins returns a docker config dir whose cliPluginsExtraDirs
// names the plugin dir `make deps` builds compose and buildx into
// ($BERTH_LIBEXEC/tools/cli-plugins); the test is skipped when plugin is
// missing there.
func dockerPlugins(t *testing.T, plugin string) string {
	t.Helper()
	dir := filepath.Dir(harness.Tool(t, filepath.Join("cli-plugins", "docker-"+plugin)))
	cfg := t.TempDir()
	b, err := json.Marshal(map[string]any{"cliPluginsExtraDirs": []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// composeProject is a two-service project: web serves HTTP and is healthy
// once it answers; app waits for that, keeps a named volume and reaches
// web by its service name on the project's network.
const composeProject = `
services:
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "80"]
    ports: ["127.0.0.1::80"]
    networks: [appnet]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/etc/hostname"]
      interval: 1s
      timeout: 10s
      retries: 60
  app:
    image: busybox
    command: ["sh", "-c", "echo app started; echo kept > /data/f; exec sleep 3600"]
    depends_on:
      web:
        condition: service_healthy
    volumes: [data:/data]
    networks: [appnet]
networks:
  appnet: {}
volumes:
  data: {}
`

// TestDockerCompose drives the real docker compose v2 (built by make deps)
// through berth's Docker API: up --wait with a healthcheck and
// depends_on service_healthy, ps, logs, exec, service-name DNS, a named
// volume, run --rm, stop/start, a published port and down -v.
func TestDockerCompose(t *testing.T) {
	bin := dockerBin(t)
	cfg := dockerPlugins(t, "compose")
	s := harness.Start(t)
	s.LoadBusybox()
	d := dockerCLI(t, s, bin, cfg)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(composeProject), 0o644); err != nil {
		t.Fatal(err)
	}
	p := "cp" + strings.ToLower(d.name("x")[2:])
	compose := func(args ...string) []string {
		return append([]string{"compose", "--project-directory", dir, "-p", p}, args...)
	}
	t.Cleanup(func() { d.run(compose("down", "-v", "-t", "1")...) })

	d.ok(compose("up", "-d", "--wait")...)
	ps := d.ok(compose("ps", "-a", "--format", "{{.Service}} {{.State}} {{.Health}}")...)
	if lines := strings.Split(ps, "\n"); len(lines) != 2 || !strings.Contains(ps, "web running healthy") || !strings.Contains(ps, "app running") {
		t.Errorf("compose ps: %q", ps)
	}
	if logs := d.ok(compose("logs", "--no-log-prefix", "app")...); logs != "app started" {
		t.Errorf("compose logs app: %q", logs)
	}
	if out := d.ok(compose("exec", "-T", "app", "cat", "/data/f")...); out != "kept" {
		t.Errorf("compose exec app cat: %q", out)
	}
	// web's httpd serves its root: its /etc/hostname tells who answered
	// the service name.
	host := d.ok(compose("exec", "-T", "web", "hostname")...)
	if out := d.ok(compose("exec", "-T", "app", "wget", "-q", "-O-", "http://web/etc/hostname")...); out != host {
		t.Errorf("app reaching web by its service name: %q, want %q", out, host)
	}
	if out := d.ok(compose("run", "--rm", "-T", "app", "cat", "/data/f")...); out != "kept" {
		t.Errorf("compose run --rm: %q", out)
	}
	label := "label=com.docker.compose.project=" + p
	if out := d.ok("ps", "-aq", "--filter", label, "--filter", "label=com.docker.compose.oneoff=True"); out != "" {
		t.Errorf("compose run --rm left %q", out)
	}

	d.ok(compose("stop", "-t", "1")...)
	if ps := d.ok(compose("ps", "-a", "--format", "{{.Service}} {{.State}}")...); strings.Count(ps, "exited") != 2 {
		t.Errorf("after stop: %q", ps)
	}
	d.ok(compose("start", "--wait")...)
	port := d.ok(compose("port", "web", "80")...)
	resp, err := http.Get("http://" + port + "/etc/hostname")
	if err != nil {
		t.Fatalf("the published port %s: %v", port, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != host {
		t.Errorf("GET %s/etc/hostname: %q, want %q", port, b, host)
	}

	d.ok(compose("down", "-v", "-t", "1")...)
	if out := d.ok("ps", "-aq", "--filter", label); out != "" {
		t.Errorf("down left containers %q", out)
	}
	if out := d.ok("volume", "ls", "-q", "--filter", "name="+p+"_data"); out != "" {
		t.Errorf("down -v left the volume %q", out)
	}
	if out := d.ok("network", "ls", "-q", "--filter", "name="+p+"_appnet"); out != "" {
		t.Errorf("down left the network %q", out)
	}
}
