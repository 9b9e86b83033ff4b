package compose

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// dockerComposeCmd returns a function running the real docker compose
// (the CLI plugin make deps builds, run by the docker CLI through
// DOCKER_CONFIG's cliPluginsExtraDirs) on p against s's Docker API, failing
// the test unless it exits 0. The test is skipped when either is missing.
func dockerComposeCmd(t *testing.T, s *harness.Stack, p project) func(args ...string) string {
	t.Helper()
	run := dockerComposeRun(t, s, p)
	return func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
}

// dockerComposeRun is dockerComposeCmd's function that returns the error:
// stdout, and stderr too when the command failed.
func dockerComposeRun(t *testing.T, s *harness.Stack, p project) func(args ...string) (string, error) {
	t.Helper()
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI on $PATH (make deps)")
	}
	plugins := filepath.Dir(harness.Tool(t, filepath.Join("cli-plugins", "docker-compose")))
	cfg := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(fmt.Sprintf(`{"cliPluginsExtraDirs": [%q]}`, plugins)), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), harness.Timeout(3*time.Minute))
		defer cancel()
		cmd := exec.CommandContext(ctx, docker, append([]string{"compose"}, args...)...)
		cmd.Dir = p.dir
		cmd.Env = append(append(os.Environ(), p.env...), "DOCKER_HOST="+s.DockerHost(), "DOCKER_CONFIG="+cfg)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return strings.TrimSpace(stdout.String() + "\n" + stderr.String()), err
		}
		return strings.TrimSpace(stdout.String()), nil
	}
}

// TestComposeDockerComposeFailedRecreate: docker compose recreates a
// changed service by creating the new container as <old id12>_svc-1
// first. When that create fails (here a bind source that does not exist),
// the old container keeps running, and once the file is fixed the
// recreate goes through: the failed create gave its name back (berthd
// kept it until restarted).
func TestComposeDockerComposeFailedRecreate(t *testing.T) {
	full(t)
	s := startStack(t)
	dir := filepath.Join(t.TempDir(), "recreate")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  svc:
    image: busybox
    init: true
    command: [sleep, "100000"]
    environment: {V: "${V:-1}"}
    volumes:
      - type: bind
        source: ${SRC:-.}
        target: /src
        bind: {create_host_path: false}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := project{t: t, s: s, dir: dir}
	dc := dockerComposeCmd(t, s, p)
	dc("up", "-d")
	old := p.ps()["recreate-svc-1"]["ID"]
	bad := dockerComposeRun(t, s, project{t: t, s: s, dir: dir, env: []string{"V=2", "SRC=./missing"}})
	if out, err := bad("up", "-d"); err == nil || !strings.Contains(out, "bind source path does not exist") {
		t.Errorf("docker compose up with a missing bind source: %v\n%s", err, out)
	}
	if rows := p.ps(); rows["recreate-svc-1"] == nil || rows["recreate-svc-1"]["ID"] != old {
		t.Errorf("after the failed recreate: %v, want the old container still running", rows)
	}
	good := dockerComposeCmd(t, s, project{t: t, s: s, dir: dir, env: []string{"V=2"}})
	good("up", "-d")
	if rows := p.ps(); rows["recreate-svc-1"] == nil || rows["recreate-svc-1"]["ID"] == old {
		t.Errorf("after fixing the file, up did not recreate svc: %v", rows)
	}
	good("down")
	nothingLeft(t, s)
}
