package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// loadDebian imports debian:bookworm, made by test/images/mkdebian.sh from
// Debian's packages (cached), into the stack. The Debian builds reach
// Debian's mirror from their RUN steps: they run in `make
// test-build-debian` (BERTH_TEST_DEBIAN=1), not in make test.
func loadDebian(t *testing.T, c cli) {
	t.Helper()
	if os.Getenv("BERTH_TEST_DEBIAN") == "" {
		t.Skip("Debian builds reach Debian's mirror: make test-build-debian runs them (BERTH_TEST_DEBIAN=1)")
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "test", "images", "mkdebian.sh")).Output()
	if err != nil {
		t.Fatalf("mkdebian.sh: %v", err)
	}
	c.ok("import", strings.TrimSpace(string(out)), "debian:bookworm")
}

// TestBuildDebian: Dockerfiles people write, on a real Debian base: nginx
// installed with apt and answered through a published port, a Go program
// built with Debian's golang in one stage and copied into busybox, and a
// cache mount that a second run reuses.
func TestBuildDebian(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	loadDebian(t, c)
	long := cli{t: t, s: s}

	t.Run("nginx", func(t *testing.T) {
		c := cli{t: t, s: s}
		dir := buildCtx(t, map[string]string{
			"Dockerfile": `FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/*
COPY index.html /var/www/html/index.html
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
`,
			"index.html": "built by berth\n",
		})
		longBuild(t, long, "build", "--progress", "plain", "-t", "web:1", dir)
		port := freePort(t)
		name := c.name("web")
		c.ok("run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "web:1")
		defer c.cleanup(name)
		body := ""
		eventually(t, harness.Timeout(30*time.Second), "nginx answers", func() bool {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
			return resp.StatusCode == 200
		})
		if body != "built by berth\n" {
			t.Errorf("nginx served %q", body)
		}
	})

	t.Run("go-multistage", func(t *testing.T) {
		c := cli{t: t, s: s}
		dir := buildCtx(t, map[string]string{
			"Dockerfile": `FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends golang-go && rm -rf /var/lib/apt/lists/*
ENV GOCACHE=/tmp/gocache GOPATH=/tmp/go CGO_ENABLED=0
WORKDIR /src
COPY main.go go.mod ./
RUN go build -o /hello .

FROM busybox
COPY --from=build /hello /hello
ENTRYPOINT ["/hello"]
`,
			"go.mod":  "module hello\n\ngo 1.19\n",
			"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from go, built by berth\") }\n",
		})
		longBuild(t, long, "build", "--progress", "plain", "-t", "hello-go:1", dir)
		if out := c.ok("run", "--rm", "hello-go:1"); out != "hello from go, built by berth" {
			t.Errorf("the Go program printed %q", out)
		}
	})

	t.Run("cache-mount", func(t *testing.T) {
		c := cli{t: t, s: s}
		dir := buildCtx(t, map[string]string{
			"Dockerfile": `FROM debian:bookworm
ARG RUN_AGAIN=1
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked \
    echo "run $RUN_AGAIN" && rm -f /etc/apt/apt.conf.d/docker-clean && \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep && \
    apt-get update && apt-get install -y --no-install-recommends hello && \
    ls /var/cache/apt/archives/ | grep -c '^hello_' > /hello-debs
`,
		})
		// apt's line for the download of the package: "Get:1 http://…
		// bookworm/main amd64 hello amd64 2.10-3 […]".
		download := regexp.MustCompile(`Get:\d+ \S+ \S+ \S+ hello `)
		r := longBuild(t, long, "build", "--progress", "plain", "-t", "cm:1", dir)
		if !download.MatchString(r) {
			t.Fatalf("the first run did not download hello:\n%s", r)
		}
		// A changed argument runs the RUN again: the .deb comes from the
		// cache mount, not the mirror. (--no-cache would not do: BuildKit
		// gives its steps fresh cache mounts too, as docker build does.)
		r = longBuild(t, long, "build", "--progress", "plain", "--build-arg", "RUN_AGAIN=2", "-t", "cm:1", dir)
		if !strings.Contains(r, "run 2") {
			t.Fatalf("the RUN did not run again:\n%s", r)
		}
		if download.MatchString(r) {
			t.Errorf("the second run downloaded hello again:\n%s", r)
		}
		if out := c.ok("run", "--rm", "cm:1", "hello"); out != "Hello, world!" {
			t.Errorf("hello printed %q", out)
		}
	})
}

// longBuild runs a build that downloads from Debian's mirror, with a
// longer deadline than cli's, and returns its progress log.
func longBuild(t *testing.T, c cli, args ...string) string {
	t.Helper()
	cmd := c.s.Cmd(args...)
	out, err := runWithTimeout(cmd, harness.Timeout(15*time.Minute))
	if err != nil {
		t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var b strings.Builder
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return b.String(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return b.String(), fmt.Errorf("no exit within %s", d)
	}
}
