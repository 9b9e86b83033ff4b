package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

const buildDockerfile = `FROM busybox
ARG GREETING=hello
RUN echo "$GREETING from a RUN step" > /built
COPY msg.txt /msg.txt
CMD ["cat", "/msg.txt", "/built"]
`

// buildContext writes a build context whose image prints msg.
func buildContext(t *testing.T, msg string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"Dockerfile": buildDockerfile, "msg.txt": msg + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDockerBuild builds busybox Dockerfiles through berth's Docker API
// with the unmodified docker CLI: the legacy POST /build
// (DOCKER_BUILDKIT=0, as docker-py and compose send it), and BuildKit
// through buildx (docker build, docker buildx build --load), whose /grpc
// and /session hijacks berthd splices onto berth-buildkitd. Each image
// runs at once.
func TestDockerBuild(t *testing.T) {
	bin := dockerBin(t)
	s := harness.Start(t)
	s.LoadBusybox()

	t.Run("Legacy", func(t *testing.T) {
		d := dockerCLI(t, s, bin, t.TempDir())
		n := d.name("blegacy")
		r := d.run("build", "-t", n+":1", "--build-arg", "GREETING=hi", buildContext(t, "legacy"))
		if r.code != 0 || !strings.Contains(r.stdout, "Successfully built ") || !strings.Contains(r.stdout, "Successfully tagged "+n+":1") {
			t.Fatalf("docker build (legacy): %s", r)
		}
		t.Cleanup(func() { d.run("rmi", "-f", n+":1") })
		if out := d.ok("run", "--rm", n+":1"); out != "legacy\nhi from a RUN step" {
			t.Errorf("the built image runs: %q", out)
		}
		id := d.ok("build", "-q", buildContext(t, "quiet"))
		if !strings.HasPrefix(id, "sha256:") {
			t.Errorf("docker build -q: %q, want the image ID", id)
		}
		d.fails(1, []string{"unknown instruction: UNKNOWNINSTRUCTION"}, "build", writeContext(t, "FROM busybox\nUNKNOWNINSTRUCTION x\n"))
		d.fails(1, []string{"/bin/sh -c exit 7", "exit code: 7"}, "build", writeContext(t, "FROM busybox\nRUN exit 7\n"))
		// The builder's cache in system df, and builder prune (POST /build/prune).
		if df := d.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}"); !strings.Contains(df, "Build Cache ") || strings.Contains(df, "Build Cache 0") {
			t.Errorf("system df after builds: %q", df)
		}
		if out := d.ok("builder", "prune", "-af"); !strings.Contains(out, "Total reclaimed space") {
			t.Errorf("builder prune: %q", out)
		}
		if df := d.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}"); !strings.Contains(df, "Build Cache 0") {
			t.Errorf("system df after builder prune: %q", df)
		}
	})

	cfg := dockerPlugins(t, "buildx")
	bk := cli{t: t, s: s, command: func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+s.DockerHost(), "DOCKER_CONFIG="+cfg, "DOCKER_CLI_HINTS=false", "DOCKER_BUILDKIT=1",
			"BUILDX_NO_DEFAULT_ATTESTATIONS=1")
		return cmd
	}}
	t.Run("BuildKit", func(t *testing.T) {
		d := bk
		d.t = t
		n := d.name("bkit")
		d.ok("build", "--progress", "plain", "-t", n+":1", buildContext(t, "buildkit"))
		t.Cleanup(func() { d.run("rmi", "-f", n+":1") })
		if out := d.ok("run", "--rm", n+":1"); out != "buildkit\nhello from a RUN step" {
			t.Errorf("the image docker build made runs: %q", out)
		}
		d.ok("buildx", "build", "--progress", "plain", "--load", "-t", n+":2", "--build-arg", "GREETING=bonjour", buildContext(t, "buildx"))
		t.Cleanup(func() { d.run("rmi", "-f", n+":2") })
		if out := d.ok("run", "--rm", n+":2"); out != "buildx\nbonjour from a RUN step" {
			t.Errorf("the image buildx build --load made runs: %q", out)
		}
		d.fails(1, []string{"exit code: 7"}, "build", "--progress", "plain", writeContext(t, "FROM busybox\nRUN exit 7\n"))
	})
}

// writeContext writes a context holding only a Dockerfile.
func writeContext(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
