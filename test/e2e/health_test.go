package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestHealthcheck covers healthchecks end to end on a stack of its own (it
// restarts berthd): status starting → healthy / unhealthy with Docker's
// rules, the probe log in inspect, ps's status and filter, the
// health_status events, a hanging probe killed at its timeout,
// --no-healthcheck, restart policies (unhealthy does not restart) and the
// probes resuming after a berthd restart.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	health := func(n string) string { return c.inspect(n, "{{if .State.Health}}{{.State.Health.Status}}{{end}}") }
	waitHealth := func(n, want string) {
		t.Helper()
		eventually(t, 30*time.Second, n+" to be "+want, func() bool { return health(n) == want })
	}
	since := time.Now().Add(-time.Second).Format(time.RFC3339Nano)

	good, bad, hang, flip := c.name("hc-good"), c.name("hc-bad"), c.name("hc-hang"), c.name("hc-flip")
	c.ok("run", "-d", "--name", good, "--health-cmd", "echo probe-ok", "--health-interval", "200ms", "busybox", "sleep", "1000")
	c.ok("run", "-d", "--name", bad, "--restart", "always", "--health-cmd", "echo probe-bad; exit 3",
		"--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep", "1000")
	c.ok("run", "-d", "--name", hang, "--health-cmd", "echo started; sleep 100", "--health-timeout", "300ms",
		"--health-interval", "200ms", "--health-retries", "1", "busybox", "sleep", "1000")
	c.ok("run", "-d", "--name", flip, "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
		"--health-start-period", "1h", "--health-start-interval", "200ms", "busybox", "sleep", "1000")

	t.Run("healthy", func(t *testing.T) {
		c := cli{t: t, s: s}
		waitHealth(good, "healthy")
		if got := c.inspect(good, "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}}{{end}}"); !strings.HasPrefix(got, "0:probe-ok") {
			t.Errorf("probe log of %s = %q, want entries 0:probe-ok", good, got)
		}
		if got := c.ok("ps", "--filter", "name="+good, "--format", "{{.Status}}"); !strings.HasSuffix(got, "(healthy)") {
			t.Errorf("ps status of %s = %q, want (healthy)", good, got)
		}
		if got := c.inspect(good, "{{json .Config.Healthcheck.Test}}"); got != `["CMD-SHELL","echo probe-ok"]` {
			t.Errorf("Config.Healthcheck.Test = %s", got)
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		c := cli{t: t, s: s}
		waitHealth(bad, "unhealthy")
		log := c.inspect(bad, "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}}{{end}}")
		if !strings.HasPrefix(log, "3:probe-bad") {
			t.Errorf("probe log of %s = %q, want entries 3:probe-bad", bad, log)
		}
		if got := c.ok("ps", "--filter", "name="+bad, "--format", "{{.Status}}"); !strings.HasSuffix(got, "(unhealthy)") {
			t.Errorf("ps status of %s = %q, want (unhealthy)", bad, got)
		}
		// Unhealthy does not restart the container, even with --restart
		// always: more probes fail, the container keeps running.
		eventually(t, 30*time.Second, "more failed probes", func() bool {
			return atoi(t, c.inspect(bad, "{{.State.Health.FailingStreak}}")) >= 5
		})
		if got := c.inspect(bad, "{{.State.Status}} {{.RestartCount}} {{len .State.Health.Log}}"); got != "running 0 5" {
			t.Errorf("unhealthy container with --restart always: status, restarts, log entries = %q, want running 0 5", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c := cli{t: t, s: s}
		waitHealth(hang, "unhealthy")
		log := c.inspect(hang, "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}};{{end}}")
		if !strings.HasPrefix(log, "-1:Health check exceeded timeout (300ms): started\n;") {
			t.Errorf("probe log of %s = %q, want a killed probe (-1, exceeded timeout) with what it printed", hang, log)
		}
	})
	t.Run("filter", func(t *testing.T) {
		c := cli{t: t, s: s}
		waitHealth(good, "healthy")
		waitHealth(bad, "unhealthy")
		got := c.ok("ps", "--filter", "health=healthy", "--format", "{{.Names}}")
		if !strings.Contains(got, good) || strings.Contains(got, bad) {
			t.Errorf("ps --filter health=healthy = %q, want %s and not %s", got, good, bad)
		}
		got = c.ok("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}")
		if !strings.Contains(got, bad) || strings.Contains(got, good) {
			t.Errorf("ps --filter health=unhealthy = %q, want %s and not %s", got, bad, good)
		}
		c.fails(1, []string{"health=sick", "starting, healthy, unhealthy or none"}, "ps", "--filter", "health=sick")
	})
	t.Run("events", func(t *testing.T) {
		c := cli{t: t, s: s}
		waitHealth(good, "healthy")
		waitHealth(bad, "unhealthy")
		out := c.ok("events", "--since", since, "--until", time.Now().Format(time.RFC3339Nano),
			"--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
		for _, want := range []string{"health_status: healthy " + good, "health_status: unhealthy " + bad} {
			if !strings.Contains(out, want) {
				t.Errorf("events lack %q:\n%s", want, out)
			}
		}
	})
	t.Run("no-healthcheck", func(t *testing.T) {
		c := cli{t: t, s: s}
		n := c.name("hc-none")
		c.ok("run", "-d", "--name", n, "--no-healthcheck", "busybox", "sleep", "1000")
		if got := c.inspect(n, "{{json .Config.Healthcheck.Test}} {{if .State.Health}}health{{else}}none{{end}}"); got != `["NONE"] none` {
			t.Errorf("--no-healthcheck: %s", got)
		}
		if got := c.ok("ps", "--filter", "health=none", "--format", "{{.Names}}"); !strings.Contains(got, n) || strings.Contains(got, good) {
			t.Errorf("ps --filter health=none = %q", got)
		}
		c.fails(125, []string{"--no-healthcheck conflicts with --health-*"}, "run", "-d", "--no-healthcheck", "--health-cmd", "true", "busybox")
		c.fails(125, []string{"at least 1ms"}, "run", "-d", "--health-cmd", "true", "--health-interval", "1us", "busybox")
	})
	t.Run("docker-api", func(t *testing.T) {
		a := newDockerAPI(t, s)
		n := c.name("hc-docker")
		id := a.create(n, `{"Image":"busybox","Cmd":["sleep","1000"],
			"Healthcheck":{"Test":["CMD","echo","via-docker"],"Interval":200000000,"Retries":2}}`)
		a.expect("POST", "/containers/"+id+"/start", nil, 204, "")
		var got struct {
			Config struct {
				Healthcheck struct {
					Test     []string
					Interval int64
					Retries  int
				}
			}
			State struct {
				Health *struct {
					Status string
					Log    []struct {
						ExitCode int
						Output   string
					}
				}
			}
		}
		eventually(t, 30*time.Second, n+" to be healthy through the Docker API", func() bool {
			_, b := a.do("GET", "/containers/"+id+"/json", nil)
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("inspect: %v: %s", err, b)
			}
			return got.State.Health != nil && got.State.Health.Status == "healthy"
		})
		if h := got.Config.Healthcheck; strings.Join(h.Test, " ") != "CMD echo via-docker" || h.Interval != 200000000 || h.Retries != 2 {
			t.Errorf("Config.Healthcheck = %+v", h)
		}
		if l := got.State.Health.Log; len(l) == 0 || l[0].ExitCode != 0 || l[0].Output != "via-docker\n" {
			t.Errorf("State.Health.Log = %+v", l)
		}
		_, b := a.do("GET", `/containers/json?filters={"health":["healthy"]}`, nil)
		if !strings.Contains(string(b), `"Health":{"Status":"healthy"`) || !strings.Contains(string(b), id) {
			t.Errorf("list with health=healthy: %s", b)
		}
	})
	if t.Failed() {
		return
	}

	// Live restore: a restarted berthd resumes the probes where they were.
	waitHealth(flip, "starting")
	s.KillDaemon()
	s.StartDaemon()
	if got := health(good); got != "healthy" {
		t.Errorf("after a berthd restart, %s is %q, want healthy", good, got)
	}
	c.ok("exec", flip, "touch", "/tmp/ok")
	waitHealth(flip, "healthy")
	eventually(t, 30*time.Second, "probes of "+good+" after the restart", func() bool {
		return c.inspect(good, "{{len .State.Health.Log}}") != "0"
	})
	// Probes stop with the container, which is then unhealthy (Docker's).
	c.ok("stop", "-t", "0", good)
	if got := c.inspect(good, "{{.State.Health.Status}}"); got != "unhealthy" {
		t.Errorf("stopped container's health = %q, want unhealthy", got)
	}
}
