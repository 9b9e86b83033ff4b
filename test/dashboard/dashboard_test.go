// Package dashboard tests berthd's web dashboard against a private stack:
// its security from Go (no browser needed), and its pages in a real
// browser, Debian's chromium driven headless by playwright-core (both
// installed by `make deps`). `make test` runs the short browser suite,
// `make test-dashboard` the full one (BERTH_DASHBOARD_FULL=1) with a
// screenshot of every page and an accessibility pass. See
// docs/dashboard.md.
package dashboard

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// Chromium is Debian's package.
const Chromium = "/usr/bin/chromium"

// startStack is a private stack serving the dashboard on a free loopback
// port; it returns the login address `berth ui` prints.
func startStack(t *testing.T) (*harness.Stack, string) {
	t.Helper()
	s := harness.Start(t, harness.WithDaemonArgs("--ui", "127.0.0.1:0", "--docker-api=false"))
	login := s.BerthOK("ui")
	if !strings.HasPrefix(login, "http://127.0.0.1:") || !strings.Contains(login, "/login?token=") {
		t.Fatalf("berth ui printed %q: want http://127.0.0.1:PORT/login?token=…", login)
	}
	return s, login
}

func base(login string) string { return login[:strings.Index(login, "/login")] }

// TestDashboardSecurity checks the dashboard's doors on a real berthd:
// nothing without the token, no change from another origin (the
// container keeps running), no terminal without the cookie.
func TestDashboardSecurity(t *testing.T) {
	s, login := startStack(t)
	s.LoadBusybox()
	s.BerthOK("run", "-d", "--name", "target", "busybox", "sleep", "1d")
	id := s.BerthOK("inspect", "--format", "{{.ID}}", "target")
	b := base(login)
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: time.Minute}

	status := func(c *http.Client, method, u string, hdr map[string]string) int {
		t.Helper()
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, p := range []string{"/", "/containers/" + id, "/live/containers", "/ws/containers/" + id + "/exec", "/containers/" + id + "/file?path=/etc/passwd"} {
		if got := status(plain, "GET", b+p, nil); got != http.StatusUnauthorized {
			t.Errorf("GET %s without the cookie: %d, want 401", p, got)
		}
	}
	if got := status(plain, "GET", b+"/login?token=0000", nil); got != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d, want 401", got)
	}
	if got := status(plain, "POST", b+"/containers/"+id+"/stop", map[string]string{"Origin": b}); got != http.StatusUnauthorized {
		t.Errorf("stop without the cookie: %d, want 401", got)
	}

	// A logged-in browser visits another site, whose page posts to the
	// dashboard: the cookie goes along (were it not SameSite=Strict), the
	// CSRF token does not, the Origin is the other site's.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: time.Minute}
	if got := status(browser, "GET", login, nil); got != http.StatusOK {
		t.Fatalf("login: %d", got)
	}
	attack := map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"}
	for _, action := range []string{"stop", "remove"} {
		if got := status(browser, "POST", b+"/containers/"+id+"/"+action, attack); got != http.StatusForbidden {
			t.Errorf("cross-origin %s: %d, want 403", action, got)
		}
	}
	// Same origin but no CSRF token (a form on a page of the dashboard's
	// own origin cannot be forged without it).
	if got := status(browser, "POST", b+"/containers/"+id+"/stop", map[string]string{"Origin": b}); got != http.StatusForbidden {
		t.Errorf("stop without the CSRF token: %d, want 403", got)
	}
	if st := s.BerthOK("inspect", "--format", "{{.State.Status}}", "target"); st != "running" {
		t.Fatalf("after the refused requests the container is %q, want running", st)
	}
	// A DNS-rebinding page: its own name, our address.
	req, _ := http.NewRequest("GET", b+"/", nil)
	req.Host = "rebind.example:80"
	res, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d, want 421", res.StatusCode)
	}
	// The terminal from another origin, with the cookie.
	if got := status(browser, "GET", b+"/ws/containers/"+id+"/exec", map[string]string{"Origin": "http://evil.example", "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}); got != http.StatusForbidden {
		t.Errorf("terminal from another origin: %d, want 403", got)
	}
	// The page itself works with the cookie: the list shows the container.
	res, err = browser.Get(b + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(">target<")) {
		t.Fatalf("the containers page: %d, target not listed:\n%.2000s", res.StatusCode, body)
	}
}

// TestDashboardBrowser drives the dashboard in chromium.
func TestDashboardBrowser(t *testing.T) {
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
	full := os.Getenv("BERTH_DASHBOARD_FULL") == "1"
	shots := os.Getenv("BERTH_DASHBOARD_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	s, login := startStack(t)
	s.LoadBusybox()
	// A Compose project's container that prints a line a second, and a
	// container that is not running.
	s.BerthOK("run", "-d", "--name", "printer", "--stop-timeout", "2", "-p", "127.0.0.1::80", "--label", "com.docker.compose.project=demo", "--label", "com.docker.compose.service=printer",
		"busybox", "sh", "-c", "i=0; while true; i=$((i+1)); do echo line $i; sleep 1; done")
	s.BerthOK("create", "--name", "idle", "--stop-timeout", "1", "busybox", "sleep", "1d")
	s.BerthOK("volume", "create", "scratch")
	s.BerthOK("run", "--rm", "-v", "scratch:/data", "busybox", "sh", "-c", "mkdir /data/conf && echo on > /data/conf/app.ini && echo hello > /data/readme")
	pullRef := ""
	if full {
		// An image only in the harness's registry, with layers to download.
		reg := harness.StartRegistry(t, harness.RegistryOptions{})
		s.LoadImage(harness.Image{Name: "docker.io/dash/data:1", DataLayers: 2, LayerSizeMiB: 4})
		pullRef = reg.Addr() + "/dash/data:1"
		s.BerthOK("tag", "dash/data:1", pullRef)
		s.BerthOK("push", pullRef)
		s.BerthOK("rmi", "dash/data:1", pullRef)
		// A build, so that the Builds page has cache to show.
		if r := s.BerthIn("FROM busybox\nRUN echo built > /built\n", "build", "-q", "-t", "dash/built:1", "-f", "-", t.TempDir()); r.ExitCode != 0 {
			t.Fatalf("berth build: %s", r)
		}
	}

	cmd := exec.Command(node, "browser.mjs")
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+modules, "DASH_MODULES="+modules, "DASH_CHROMIUM="+Chromium,
		"DASH_URL="+login, "DASH_SHOTS="+shots, "DASH_PULL="+pullRef)
	if full {
		cmd.Env = append(cmd.Env, "DASH_FULL=1")
	}
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
		cmd.Process.Kill()
		err = <-done
	}
	t.Logf("browser:\n%s\nscreenshots in %s", out.String(), shots)
	if err != nil {
		t.Fatalf("browser suite: %v", err)
	}

	// What the clicks did, seen through the CLI.
	if st := s.BerthOK("inspect", "--format", "{{.State.Status}}", "idle"); st != "exited" {
		t.Errorf("idle after start then stop in the browser: %q, want exited", st)
	}
	if full {
		if r := s.Berth("volume", "inspect", "scratch"); r.ExitCode == 0 {
			t.Errorf("volume scratch still exists after its removal in the browser")
		}
		if r := s.Berth("image", "inspect", pullRef); r.ExitCode != 0 {
			t.Errorf("%s not pulled: %s", pullRef, r)
		}
		if r := s.Berth("image", "inspect", "dash/tagged:2"); r.ExitCode == 0 {
			t.Errorf("dash/tagged:2 still exists after its removal in the browser")
		}
		// The accessibility pass stopped printer: cp reads it anyway.
		dst := filepath.Join(t.TempDir(), "uploaded.txt")
		s.BerthOK("cp", "printer:/tmp/uploaded.txt", dst)
		if got, err := os.ReadFile(dst); err != nil || string(got) != "from the browser\n" {
			t.Errorf("the uploaded file holds %q (%v)", got, err)
		}
	}
}
