package compose

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// debianImage is the image the debian project's services run: Debian's
// redis-server, postgresql, nginx-light and python3 on bookworm, made by
// test/images/mkdebianstack.sh with mmdebstrap from Debian's packages.
const debianImage = "berth-test/debian-stack:bookworm"

// loadDebianStack puts debianImage into the stack. The root file system
// tar is mkdebianstack.sh's (cached under its recipe's hash); the image
// made from it by `berth import` is saved next to it the first time
// (import compresses the layer, which takes a minute), and loaded from
// there after that. With build false (make test), only cached images are
// used: the test is skipped when there are none.
func loadDebianStack(t *testing.T, s *harness.Stack, build bool) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "test", "images", "mkdebianstack.sh")
	args := []string{"--cached"}
	if build {
		args = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), harness.Timeout(20*time.Minute))
	defer cancel()
	out, err := exec.CommandContext(ctx, script, args...).Output()
	if err != nil {
		if !build {
			t.Skip("the Debian image is not cached: make test-compose makes it (test/images/mkdebianstack.sh)")
		}
		t.Fatalf("mkdebianstack.sh: %v", err)
	}
	rootfs := strings.TrimSpace(string(out))
	saved := strings.TrimSuffix(rootfs, ".tar") + ".image.tar"
	if _, err := os.Stat(saved); err == nil {
		s.BerthOK("load", "-i", saved)
		return
	}
	if !build {
		t.Skip("the Debian image is not cached: make test-compose makes it (test/images/mkdebianstack.sh)")
	}
	s.BerthOK("import", rootfs, debianImage)
	tmp := saved + ".tmp" + strconv.Itoa(os.Getpid())
	s.BerthOK("save", "-o", tmp, debianImage)
	if err := os.Rename(tmp, saved); err != nil {
		t.Fatal(err)
	}
}

// TestComposeDebian: the debian project (nginx in front of a Python
// application that uses redis and PostgreSQL, Debian's packages, every
// service with a healthcheck and started once what it needs is healthy)
// brought up with --wait, used from the host through the published port,
// brought down and up again with its data kept in named volumes, and down
// -v with nothing left behind. The application connects at its start and
// does not retry: that it runs at all shows depends_on waited for redis
// and PostgreSQL to be healthy. make test runs this when the image is
// cached; make test-compose makes the image and also runs the project
// through the real docker compose against berthd's Docker API.
func TestComposeDebian(t *testing.T) {
	t.Parallel()
	isFull := os.Getenv("BERTH_TEST_COMPOSE_FULL") == "1"
	s := startStack(t)
	loadDebianStack(t, s, isFull)
	port := freePort(t)
	p := newProject(t, s, "debian", "WEB_PORT="+strconv.Itoa(port))
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	p.ok("up", "-d", "--wait")
	checkDebian(t, p.ps("-a"))
	if got := visit(t, base); got != "1\n" {
		t.Errorf("first visit = %q, want 1", got)
	}
	if got := visit(t, base); got != "2\n" {
		t.Errorf("second visit = %q, want 2 (counted in redis)", got)
	}
	post(t, base+"/notes", "kept across down and up")
	if got := get(t, base+"/notes"); got != "kept across down and up\n" {
		t.Errorf("notes = %q, want the note just stored in PostgreSQL", got)
	}
	// The services reach each other by name on the project's network.
	if out := p.ok("exec", "-T", "app", "redis-cli", "-h", "redis", "get", "visits"); out != "2" {
		t.Errorf("redis-cli -h redis get visits from app = %q, want 2", out)
	}
	if out := p.ok("exec", "-T", "app", "env", "PGPASSWORD=s3cr3t", "psql", "-h", "db", "-U", "shop", "-d", "shop", "-tAc", "SELECT count(*) FROM notes"); out != "1" {
		t.Errorf("psql -h db from app: %q rows, want 1", out)
	}

	// A one-off container of the application's service, on the same
	// network and environment: it reads the note from PostgreSQL.
	count := "import os, psycopg2; c = psycopg2.connect(os.environ['DATABASE_URL']); cur = c.cursor(); " +
		"cur.execute('SELECT count(*) FROM notes'); print(cur.fetchone()[0])"
	if out := p.ok("run", "--rm", "-T", "app", "python3", "-c", count); out != "1" {
		t.Errorf("run --rm app (a one-off) counted %q notes, want 1", out)
	}

	if isFull {
		// Scaled: a second application container, healthy, reaching redis
		// and PostgreSQL by name too; up without --scale goes back to one.
		p.ok("up", "-d", "--wait", "--scale", "app=2")
		rows := p.ps()
		if r := rows["debian-app-2"]; r == nil || r["Health"] != "healthy" {
			t.Errorf("after --scale app=2, debian-app-2: %v, want running and healthy", r)
		}
		if out := p.ok("exec", "-T", "--index", "2", "app", "redis-cli", "-h", "redis", "get", "visits"); out != "2" {
			t.Errorf("redis-cli from app #2 = %q, want 2", out)
		}
		p.ok("up", "-d", "--wait")
		if rows := p.ps("-a"); rows["debian-app-2"] != nil {
			t.Errorf("after up without --scale, debian-app-2 is still there: %v", rows)
		}
	}

	// down keeps the named volumes: the data are there after up.
	p.ok("down")
	if out := s.BerthOK("volume", "ls", "-q"); out != "debian_cache\ndebian_db" {
		t.Errorf("volumes after down = %q, want debian_cache and debian_db", out)
	}
	p.ok("up", "-d", "--wait")
	checkDebian(t, p.ps("-a"))
	if got := get(t, base+"/notes"); got != "kept across down and up\n" {
		t.Errorf("notes after down and up = %q, want the note stored before", got)
	}
	if got := visit(t, base); got != "3\n" {
		t.Errorf("visit after down and up = %q, want 3 (redis's append-only file in its volume)", got)
	}
	// down -v removes them.
	p.ok("down", "-v")
	nothingLeft(t, s)

	if !isFull {
		return
	}
	// The same project through the real docker compose and berthd's
	// Docker API: fresh volumes, the same checks, down and up, down -v.
	dc := dockerComposeCmd(t, s, p)
	dc("up", "-d", "--wait")
	checkDebian(t, p.ps("-a"))
	if got := visit(t, base); got != "1\n" {
		t.Errorf("docker compose: first visit after down -v = %q, want 1 (a new volume)", got)
	}
	post(t, base+"/notes", "from docker compose")
	if out := dc("ps", "--format", "{{.Service}} {{.Health}}"); out != "app healthy\ndb healthy\nredis healthy\nweb healthy" {
		t.Errorf("docker compose ps:\n%s", out)
	}
	dc("down")
	dc("up", "-d", "--wait")
	if got := get(t, base+"/notes"); got != "from docker compose\n" {
		t.Errorf("docker compose: notes after down and up = %q", got)
	}
	if out := dc("run", "--rm", "-T", "app", "python3", "-c", count); out != "1" {
		t.Errorf("docker compose run --rm app counted %q notes, want 1", out)
	}
	if out := dc("exec", "-T", "db", "psql", "-h", "/run/postgresql", "-U", "shop", "-d", "shop", "-tAc", "SELECT body FROM notes"); out != "from docker compose" {
		t.Errorf("docker compose exec db psql: %q", out)
	}
	dc("down", "-v")
	nothingLeft(t, s)
}

// checkDebian checks that the project's four containers run and are
// healthy.
func checkDebian(t *testing.T, rows map[string]map[string]any) {
	t.Helper()
	for _, svc := range []string{"web", "app", "redis", "db"} {
		r := rows["debian-"+svc+"-1"]
		if r == nil || r["State"] != "running" || r["Health"] != "healthy" {
			t.Errorf("debian-%s-1: %v, want running and healthy", svc, r)
		}
	}
}

// visit counts a visit: GET /visits, retried only while the connection is
// refused (the published port not forwarding yet), never once a request
// may have reached the application and counted.
func visit(t *testing.T, base string) string {
	t.Helper()
	deadline := time.Now().Add(harness.Timeout(30 * time.Second))
	client := &http.Client{Timeout: harness.Timeout(time.Minute)}
	for {
		resp, err := client.Get(base + "/visits")
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /visits: status %d, %v: %s", resp.StatusCode, rerr, b)
			}
			return string(b)
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" || time.Now().After(deadline) {
			t.Fatalf("GET /visits: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: harness.Timeout(time.Minute)}).Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: status %d: %s", url, resp.StatusCode, b)
	}
}
