// Package compose tests `berth compose` end to end: the projects under
// projects/ (what people run, on the local busybox image) brought up on a
// private berth stack, checked from the host, scaled, changed and brought
// down with nothing left behind, and the bad input docker compose refuses.
//
//	make build && BERTH_BUILD=$PWD/.build go test -count=1 -v ./test/compose/
//
// make test runs TestComposeShort; the whole suite runs with
// BERTH_TEST_COMPOSE_FULL=1 (make test-compose).
package compose

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// project runs `berth compose` for one project directory.
type project struct {
	t   *testing.T
	s   *harness.Stack
	dir string
	env []string
}

func newProject(t *testing.T, s *harness.Stack, name string, env ...string) project {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return project{t: t, s: s, dir: filepath.Join(root, "test", "compose", "projects", name), env: env}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run is `berth --host STACK compose ARGS` in the project's directory:
// through the berth CLI, so that its exec of berth-compose is tested too.
func (p project) run(args ...string) result {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.Timeout(3*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.s.Build(), "berth"), append([]string{"--host", p.s.Host(), "compose"}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), p.env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			p.t.Fatalf("berth compose %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
		if ctx.Err() != nil {
			p.t.Fatalf("berth compose %s: killed after a timeout\n%s", strings.Join(args, " "), r)
		}
	}
	return r
}

func (p project) ok(args ...string) string {
	p.t.Helper()
	r := p.run(args...)
	if r.code != 0 {
		p.t.Fatalf("berth compose %s: %s", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.stdout)
}

// fails checks that a command exits code with msg on stderr.
func (p project) fails(code int, msg string, args ...string) result {
	p.t.Helper()
	r := p.run(args...)
	if r.code != code || !strings.Contains(r.stderr, msg) {
		p.t.Errorf("berth compose %s: want exit %d and %q on stderr, got %s", strings.Join(args, " "), code, msg, r)
	}
	return r
}

// psRows is `ps --format json`, one object per line, by container name.
func (p project) ps(args ...string) map[string]map[string]any {
	p.t.Helper()
	rows := map[string]map[string]any{}
	for _, line := range strings.Split(p.ok(append([]string{"ps", "--format", "json"}, args...)...), "\n") {
		if line == "" {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			p.t.Fatalf("ps json line %q: %v", line, err)
		}
		rows[row["Name"].(string)] = row
	}
	return rows
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// get fetches a page from the host, retrying for a while (a published port
// may take a moment to forward under load).
func get(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(harness.Timeout(30 * time.Second))
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("status %d, %v", resp.StatusCode, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// nothingLeft checks that the stack has no container, no network but the
// default bridge and no volume.
func nothingLeft(t *testing.T, s *harness.Stack) {
	t.Helper()
	if out := s.BerthOK("ps", "-a", "-q"); out != "" {
		t.Errorf("containers left behind:\n%s", s.BerthOK("ps", "-a"))
	}
	if out := s.BerthOK("network", "ls", "--format", "{{.Name}}"); out != "bridge" {
		t.Errorf("networks left behind:\n%s", out)
	}
	if out := s.BerthOK("volume", "ls", "-q"); out != "" {
		t.Errorf("volumes left behind:\n%s", out)
	}
}

func startStack(t *testing.T) *harness.Stack {
	s := harness.Start(t)
	if _, err := os.Stat(filepath.Join(s.Build(), "berth-compose")); err != nil {
		t.Skipf("berth-compose is not built (make build): %v", err)
	}
	s.LoadBusybox()
	return s
}

// TestComposeShort is the version make test runs: the shop project (web
// server, an API it waits for to be healthy, a seeding job it waits for to
// complete, a worker, two networks, a volume, a secret) up with --wait,
// checked from the host and from inside, a one-off run, and down -v with
// nothing left behind.
func TestComposeShort(t *testing.T) {
	s := startStack(t)
	port := freePort(t)
	p := newProject(t, s, "shop", "WEB_PORT="+strconv.Itoa(port))
	p.ok("up", "-d", "--wait")
	checkShop(t, p, port)
	if out := p.ok("run", "--rm", "-T", "seed", "cat", "/run/secrets/token"); out != "s3cr3t" {
		t.Errorf("run --rm seed cat the secret = %q, want s3cr3t", out)
	}
	if r := p.run("run", "--rm", "-T", "worker", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("run of a command that exits 7: %s", r)
	}
	p.ok("down", "-v")
	nothingLeft(t, s)
}

// checkShop checks the running shop project the way its user would.
func checkShop(t *testing.T, p project, port int) {
	t.Helper()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if got := get(t, base+"/"); got != "hello from compose\n" {
		t.Errorf("GET / = %q, want the page the seed job wrote", got)
	}
	if got := get(t, base+"/token"); got != "s3cr3t\n" {
		t.Errorf("GET /token = %q, want the secret's content", got)
	}
	rows := p.ps("-a")
	want := map[string]string{"shop-web-1": "running", "shop-api-1": "running", "shop-worker-1": "running", "shop-seed-1": "exited"}
	for n, st := range want {
		if rows[n] == nil || rows[n]["State"] != st {
			t.Errorf("ps: %s state %v, want %s (rows %v)", n, rows[n]["State"], st, rows)
		}
	}
	if h := rows["shop-api-1"]["Health"]; h != "healthy" {
		t.Errorf("api health = %v, want healthy", h)
	}
	// DNS: service names and aliases on the project's networks; env_file
	// and .env interpolation reached the API.
	if out := p.ok("exec", "-T", "web", "wget", "-qO-", "http://backend:7000/"); out != "api production" {
		t.Errorf("web → backend alias: %q", out)
	}
	if out := p.ok("exec", "-T", "worker", "wget", "-qO-", "http://api:7000/"); out != "api production" {
		t.Errorf("worker → api: %q", out)
	}
	if out := p.ok("exec", "-T", "api", "sh", "-c", "echo $API_LEVEL"); out != "3" {
		t.Errorf("api's env_file variable = %q, want 3", out)
	}
	// Each service is on its networks only.
	nets := func(c string) string {
		return p.s.BerthOK("inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", c)
	}
	if got := nets("shop-worker-1"); got != "shop_back" {
		t.Errorf("worker's networks = %q, want shop_back only", got)
	}
	if got := nets("shop-web-1"); got != "shop_back shop_front" {
		t.Errorf("web's networks = %q, want shop_back and shop_front", got)
	}
	deadline := time.Now().Add(harness.Timeout(30 * time.Second))
	for {
		out := p.ok("logs", "--no-color", "worker")
		if out == "worker-1  | worker started" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("logs worker = %q", out)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func full(t *testing.T) {
	if os.Getenv("BERTH_TEST_COMPOSE_FULL") != "1" {
		t.Skip("the full compose suite runs with BERTH_TEST_COMPOSE_FULL=1 (make test-compose)")
	}
}

// TestComposeLifecycle: up again changes nothing, a changed service is
// recreated (and only it), data in a volume survives down without -v,
// scale up and down, stop/start/restart, and down -v leaves nothing.
func TestComposeLifecycle(t *testing.T) {
	full(t)
	s := startStack(t)
	port := freePort(t)
	p := newProject(t, s, "shop", "WEB_PORT="+strconv.Itoa(port))
	p.ok("up", "-d", "--wait")
	ids := func() map[string]string {
		out := map[string]string{}
		for n, r := range p.ps("-a") {
			out[n] = r["ID"].(string)
		}
		return out
	}
	before := ids()
	p.ok("up", "-d", "--wait")
	if after := ids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("up of an unchanged project recreated containers: %v → %v", before, after)
	}

	// A changed environment recreates the API; dependents without
	// restart: true keep their containers.
	changed := newProject(t, s, "shop", "WEB_PORT="+strconv.Itoa(port), "API_MODE=staging")
	changed.ok("up", "-d", "--wait")
	after := ids()
	if after["shop-api-1"] == before["shop-api-1"] {
		t.Error("a changed API_MODE did not recreate shop-api-1")
	}
	if after["shop-worker-1"] != before["shop-worker-1"] {
		t.Error("shop-worker-1 was recreated though its configuration did not change")
	}
	if out := changed.ok("exec", "-T", "web", "wget", "-qO-", "http://api:7000/"); out != "api staging" {
		t.Errorf("after the change, api says %q", out)
	}

	// down keeps the named volume: the seed job appends a line per run
	// (up starts it again each time, as docker compose does).
	runs := len(lines(p.ok("exec", "-T", "web", "cat", "/www/visits")))
	p.ok("down")
	if out := s.BerthOK("volume", "ls", "-q"); out != "shop_site" {
		t.Errorf("volumes after down = %q, want shop_site", out)
	}
	p.ok("up", "-d", "--wait")
	if got := len(lines(p.ok("exec", "-T", "web", "cat", "/www/visits"))); got != runs+1 {
		t.Errorf("visits after down and up: %d lines, want %d (the volume survived)", got, runs+1)
	}

	// Scale.
	p.ok("up", "-d", "--wait", "--scale", "worker=3")
	rows := p.ps()
	for i := 1; i <= 3; i++ {
		if rows[fmt.Sprintf("shop-worker-%d", i)] == nil {
			t.Errorf("after --scale worker=3, no shop-worker-%d: %v", i, rows)
		}
	}
	p.ok("up", "-d", "--wait")
	rows = p.ps("-a")
	if rows["shop-worker-2"] != nil || rows["shop-worker-3"] == nil && rows["shop-worker-1"] == nil {
		t.Errorf("after up without --scale, workers = %v, want shop-worker-1 only", rows)
	}

	// --force-recreate replaces every container and starts them all
	// (services converge in parallel: none may be left created).
	old := ids()
	p.ok("up", "-d", "--wait", "--force-recreate")
	for n, r := range p.ps("-a") {
		want := "running"
		if n == "shop-seed-1" {
			want = "exited"
		}
		if r["State"] != want || r["ID"] == old[n] {
			t.Errorf("after --force-recreate, %s is %v (ID %v, was %v), want a new container %s", n, r["State"], r["ID"], old[n], want)
		}
	}

	// stop, start, restart, pause, unpause.
	p.ok("stop", "worker")
	if st := p.ps("-a")["shop-worker-1"]["State"]; st != "exited" {
		t.Errorf("after stop, worker is %v", st)
	}
	p.ok("start", "worker")
	p.ok("pause", "api")
	if st := p.ps()["shop-api-1"]["State"]; st != "paused" {
		t.Errorf("after pause, api is %v", st)
	}
	p.ok("unpause", "api")
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	p.ok("restart", "worker")
	if st := p.ps()["shop-worker-1"]["State"]; st != "running" {
		t.Errorf("after restart, worker is %v", st)
	}
	until := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	if out := p.ok("events", "--json", "--since", since, "--until", until); !strings.Contains(out, `"action":"restart"`) || !strings.Contains(out, `"service":"worker"`) {
		t.Errorf("events of the restart:\n%s", out)
	}

	// cp both ways, top, images.
	src := filepath.Join(t.TempDir(), "note")
	if err := os.WriteFile(src, []byte("copied\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.ok("cp", src, "worker:/tmp/note")
	back := filepath.Join(t.TempDir(), "back")
	p.ok("cp", "worker:/tmp/note", back)
	if b, err := os.ReadFile(back); err != nil || string(b) != "copied\n" {
		t.Errorf("cp round trip: %q, %v", b, err)
	}
	if out := p.ok("top", "worker"); !strings.Contains(out, "sleep 100000") {
		t.Errorf("top worker:\n%s", out)
	}
	if out := p.ok("images"); !strings.Contains(out, "shop-web-1") || !strings.Contains(out, "busybox") {
		t.Errorf("images:\n%s", out)
	}
	// kill, rm, create, start: the worker comes back.
	p.ok("kill", "worker")
	p.ok("rm", "-f", "worker")
	if rows := p.ps("-a"); rows["shop-worker-1"] != nil {
		t.Errorf("after kill and rm, worker is still there: %v", rows)
	}
	p.ok("create", "worker")
	if st := p.ps("-a")["shop-worker-1"]["State"]; st != "created" {
		t.Errorf("after create, worker is %v", st)
	}
	p.ok("start", "worker")
	if out := p.ok("port", "web", "8080"); out != "127.0.0.1:"+strconv.Itoa(port) {
		t.Errorf("port web 8080 = %q", out)
	}
	if out := p.ok("ls", "--format", "json"); !strings.Contains(out, `"Name":"shop"`) {
		t.Errorf("ls = %s", out)
	}
	p.ok("down", "-v")
	nothingLeft(t, s)
}

// TestComposeProfiles: .env interpolation, the override file, a profile
// enabled with --profile, and --env-file recreating what it changes.
func TestComposeProfiles(t *testing.T) {
	full(t)
	s := startStack(t)
	p := newProject(t, s, "profiles")
	p.ok("up", "-d")
	rows := p.ps()
	if len(rows) != 1 || rows["profiles-main-1"] == nil {
		t.Errorf("up without --profile: %v, want profiles-main-1 only", rows)
	}
	if out := p.ok("exec", "-T", "main", "sh", "-c", "echo $MESSAGE"); out != "from-dotenv" {
		t.Errorf("MESSAGE = %q, want .env's", out)
	}
	if out := s.BerthOK("inspect", "--format", "{{index .Config.Labels \"layer\"}}", "profiles-main-1"); out != "override" {
		t.Errorf("label from compose.override.yaml = %q", out)
	}
	p.ok("--profile", "debug", "up", "-d")
	if rows := p.ps(); rows["profiles-debug-1"] == nil {
		t.Errorf("--profile debug did not start debug: %v", rows)
	}
	p.ok("--env-file", "other.env", "up", "-d")
	if out := p.ok("exec", "-T", "main", "sh", "-c", "echo $MESSAGE"); out != "from-other-env" {
		t.Errorf("after --env-file other.env, MESSAGE = %q", out)
	}
	// A second project side by side: up, ps and down of one never touch
	// the other's containers (label filters must all match).
	p.ok("-p", "second", "up", "-d")
	if rows := p.ps(); len(rows) != 2 {
		t.Errorf("ps of profiles lists %d containers with another project up: %v", len(rows), rows)
	}
	if r := p.run("up", "-d"); strings.Contains(r.stderr, "orphan") {
		t.Errorf("up saw the other project's containers as orphans:\n%s", r.stderr)
	}
	// down without --profile still removes the profile's container (it is
	// the project's).
	p.ok("down", "-v")
	if rows := (project{t: t, s: s, dir: p.dir}).ps("--all"); len(rows) != 0 {
		t.Errorf("profiles' containers after its down: %v", rows)
	}
	if out := s.BerthOK("ps", "--format", "{{.Names}}"); out != "second-main-1" {
		t.Errorf("after down of profiles, running containers = %q, want the second project's", out)
	}
	p.ok("-p", "second", "down", "-v")
	nothingLeft(t, s)
}

// TestComposeBadInput: docker compose's refusals, each with a message that
// names the problem, and nothing left behind.
func TestComposeBadInput(t *testing.T) {
	full(t)
	s := startStack(t)
	dir := t.TempDir()
	write := func(name, content string) project {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "compose.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return project{t: t, s: s, dir: d}
	}
	write("unknown", "services:\n  a:\n    image: busybox\n    bogus: 1\n").
		fails(1, "services.a.bogus: unknown field", "up", "-d")
	write("cycle", "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n").
		fails(1, "dependency cycle detected: a -> b -> a", "up", "-d")
	write("envfile", "services:\n  a:\n    image: busybox\n    env_file: missing.env\n").
		fails(1, "missing.env not found", "up", "-d")
	write("unsupported", "services:\n  a:\n    image: busybox\n    userns_mode: host\n").
		fails(1, `service "a": "userns_mode" is not supported by berth compose`, "up", "-d")
	// A build context without its Dockerfile.
	b := write("build", "services:\n  a:\n    build: .\n    image: never-built\n")
	b.fails(1, `service "a": failed to build never-built`, "up", "-d")
	b.fails(1, "Dockerfile does not exist", "build")
	nothingLeft(t, s)

	// An unhealthy dependency: up fails as docker compose's, naming the
	// container; --wait on the project as well.
	u := newProject(t, s, "unhealthy")
	u.fails(1, "dependency failed to start: container unhealthy-db-1 is unhealthy", "up", "-d")
	if rows := u.ps("-a"); rows["unhealthy-app-1"] != nil {
		t.Errorf("app was created though its dependency failed: %v", rows)
	}
	u.fails(1, "container unhealthy-db-1 is unhealthy", "up", "-d", "--wait", "db")
	u.ok("down")
	// A healthcheck that has not reported yet: --wait-timeout ends the wait.
	slow := write("slow", "services:\n  db:\n    image: busybox\n    init: true\n    command: [sleep, \"100000\"]\n"+
		"    healthcheck: {test: [CMD, \"true\"], interval: 1h}\n")
	slow.fails(1, "application not healthy after 1s", "up", "-d", "--wait", "--wait-timeout", "1")
	slow.ok("down")

	// A job that fails: its dependents are not started.
	job := write("job", "services:\n  migrate:\n    image: busybox\n    command: [sh, -c, \"exit 3\"]\n"+
		"  app:\n    image: busybox\n    command: [sleep, \"100000\"]\n    init: true\n"+
		"    depends_on: {migrate: {condition: service_completed_successfully}}\n")
	job.fails(1, `service "migrate" didn't complete successfully: exit 3`, "up", "-d")
	job.ok("down")

	// Two directories, one project name.
	shop := newProject(t, s, "shop", "WEB_PORT="+strconv.Itoa(freePort(t)))
	prof := newProject(t, s, "profiles")
	prof.ok("-p", "clash", "up", "-d")
	shop.fails(1, `project name "clash" is already used by the project in `+prof.dir, "-p", "clash", "up", "-d")
	prof.ok("-p", "clash", "down", "-v")
	nothingLeft(t, s)
}

// TestComposeAttached: up without -d follows the output, prefixed, and
// --exit-code-from returns a service's exit code and stops the rest.
func TestComposeAttached(t *testing.T) {
	full(t)
	s := startStack(t)
	dir := filepath.Join(t.TempDir(), "attached")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  job:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo job done; exit 3"]
  side:
    image: busybox
    init: true
    command: ["sh", "-c", "echo side up; exec sleep 100000"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := project{t: t, s: s, dir: dir}
	r := p.run("up", "--exit-code-from", "job")
	if r.code != 3 || !regexp.MustCompile(`(?m)^job-1 +\| job done$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^side-1 +\| side up$`).MatchString(r.stdout) {
		t.Errorf("up --exit-code-from job: %s", r)
	}
	if st := p.ps("-a")[filepath.Base(dir)+"-side-1"]; st == nil || st["State"] != "exited" {
		t.Errorf("side after the abort: %v, want exited", st)
	}
	// wait: blocks until the job exits and returns its code.
	p.ok("up", "-d")
	if r := p.run("wait", "job"); r.code != 3 || strings.TrimSpace(r.stdout) != "3" {
		t.Errorf("wait job: %s, want 3 printed and exit 3", r)
	}
	p.ok("down")
	nothingLeft(t, s)
}

// TestComposeDockerCompose: the real docker compose, through berth's
// Docker API, sees the project berth compose made (same names, labels and
// config hashes) and brings it down.
func TestComposeDockerCompose(t *testing.T) {
	full(t)
	dc := filepath.Join(os.Getenv(harness.EnvLibexec), "tools", "cli-plugins", "docker-compose")
	if os.Getenv(harness.EnvLibexec) == "" {
		dc = "/usr/local/lib/berth/tools/cli-plugins/docker-compose"
	}
	if _, err := os.Stat(dc); err != nil {
		t.Skipf("no docker compose at %s", dc)
	}
	s := startStack(t)
	port := strconv.Itoa(freePort(t))
	p := newProject(t, s, "shop", "WEB_PORT="+port)
	p.ok("up", "-d", "--wait")
	docker := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(dc, args...)
		cmd.Dir = p.dir
		cmd.Env = append(os.Environ(), "WEB_PORT="+port, "DOCKER_HOST="+s.DockerHost(), "DOCKER_CONFIG="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got, want := docker("config", "--hash", "*"), p.ok("config", "--hash", "*"); got != want {
		t.Errorf("config hashes differ:\ndocker compose:\n%s\nberth compose:\n%s", got, want)
	}
	// docker compose up on berth compose's project changes nothing
	// running: same configuration, same containers.
	before := map[string]any{}
	for n, r := range p.ps() {
		before[n] = r["ID"]
	}
	docker("up", "-d", "--wait")
	for n, r := range p.ps() {
		if before[n] != r["ID"] {
			t.Errorf("docker compose up recreated %s", n)
		}
	}
	ps := docker("ps", "--format", "{{.Name}} {{.Service}} {{.State}}")
	for _, want := range []string{"shop-web-1 web running", "shop-api-1 api running", "shop-worker-1 worker running"} {
		if !strings.Contains(ps, want) {
			t.Errorf("docker compose ps lacks %q:\n%s", want, ps)
		}
	}
	docker("down", "-v")
	nothingLeft(t, s)
}

// TestComposeDependsOnRestart: a dependency recreated by up restarts the
// dependents that ask for it (depends_on restart: true), not the others.
func TestComposeDependsOnRestart(t *testing.T) {
	full(t)
	s := startStack(t)
	dir := filepath.Join(t.TempDir(), "restarts")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  db:
    image: busybox
    init: true
    command: [sleep, "100000"]
    environment: {VERSION: "${DB_VERSION:-1}"}
  app:
    image: busybox
    init: true
    command: [sleep, "100000"]
    depends_on: {db: {condition: service_started, restart: true}}
  other:
    image: busybox
    init: true
    command: [sleep, "100000"]
    depends_on: [db]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := project{t: t, s: s, dir: dir}
	p.ok("up", "-d")
	started := func(n string) string {
		return s.BerthOK("inspect", "--format", "{{.State.StartedAt}}", n)
	}
	app, other := started("restarts-app-1"), started("restarts-other-1")
	p2 := project{t: t, s: s, dir: dir, env: []string{"DB_VERSION=2"}}
	p2.ok("up", "-d")
	if started("restarts-app-1") == app {
		t.Error("app (restart: true) was not restarted when db was recreated")
	}
	if started("restarts-other-1") != other {
		t.Error("other (no restart: true) was restarted when db was recreated")
	}
	p2.ok("down")
	nothingLeft(t, s)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestComposeBuild: up builds the images of services with build contexts
// (multi-stage, target, build args, another Dockerfile name) through berth
// build, runs them, does not build again when nothing asks for it, and
// build rebuilds.
func TestComposeBuild(t *testing.T) {
	full(t)
	s := startStack(t)
	p := newProject(t, s, "build")
	p.ok("up", "-d")
	if out := p.ok("logs", "--no-log-prefix", "app"); out != "hello from the build\nfrom the context" {
		t.Errorf("app's output = %q, want the build arg and the context's file", out)
	}
	if r := p.run("exec", "-T", "app", "cat", "/debug.txt"); r.code == 0 {
		t.Errorf("the debug stage, after the target, was built: %s", r)
	}
	if out := p.ok("logs", "--no-log-prefix", "tool"); out != "tool built" {
		t.Errorf("tool's output = %q", out)
	}
	if out := s.BerthOK("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "build-app:latest") || !strings.Contains(out, "shop/tool:dev") {
		t.Errorf("images after up:\n%s", out)
	}
	// Present images are not built again by up; build rebuilds them.
	if r := p.run("up", "-d"); strings.Contains(r.stderr, "Building") {
		t.Errorf("up with the images present built again:\n%s", r.stderr)
	}
	p.ok("build", "--build-arg", "GREETING=rebuilt", "app")
	p.ok("up", "-d", "--force-recreate", "app")
	if out := p.ok("exec", "-T", "app", "cat", "/greeting.txt"); out != "rebuilt" {
		t.Errorf("after build --build-arg GREETING=rebuilt, greeting = %q (the command line wins, as docker compose's)", out)
	}
	p.ok("down", "--rmi", "all")
	if out := s.BerthOK("images", "--format", "{{.Repository}}"); strings.Contains(out, "build-app") || strings.Contains(out, "shop/tool") {
		t.Errorf("images after down --rmi all:\n%s", out)
	}
}
