package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/test/harness"
)

// TestParityFS checks commit, diff and export (issue 15), with berth's CLI
// and the docker CLI over berth's Docker API: subtests share one stack,
// each with its own names.
func TestParityFS(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c cli)
	}{
		{"Commit", testCommit},
		{"Diff", testDiff},
		{"Export", testExport},
		{"RunningNoOverlayWarning", testRunningNoOverlayWarning},
		{"ImagePrune", testImagePruneFilters},
		{"Platform", testPlatform},
		{"InternalPorts", testInternalPorts},
		{"UsernsHost", testUsernsHost},
		{"DeviceThrottle", testDeviceThrottle},
		{"PsSize", testPsSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, cli{t: t, s: s})
		})
	}
	t.Run("Docker", func(t *testing.T) {
		t.Parallel()
		testDockerCommitDiffExport(t, dockerCLI(t, s, dockerBin(t), t.TempDir()))
	})
	t.Run("DockerPlatform", func(t *testing.T) {
		t.Parallel()
		d := dockerCLI(t, s, dockerBin(t), t.TempDir())
		// As dockerd: busybox here is not for that platform, a not found
		// (--pull never: the docker CLI would pull that platform's).
		d.fails(125, []string{"does not match the specified platform (" + foreignPlatform() + ")", "berth runs no emulation"},
			"run", "--rm", "--pull", "never", "--platform", foreignPlatform(), "busybox", "true")
	})
	t.Run("InspectShape", func(t *testing.T) {
		t.Parallel()
		testInspectShape(t, cli{t: t, s: s}, dockerCLI(t, s, dockerBin(t), t.TempDir()))
	})
}

// rmiAtEnd removes images at the end of a test.
func (c cli) rmiAtEnd(refs ...string) {
	c.t.Cleanup(func() {
		for _, r := range refs {
			c.run("rmi", "-f", r)
		}
	})
}

// testCommit: commit of a running container makes an image that runs with
// the container's files and configuration and the --change instructions;
// the container runs on; -m and -a are in the image; a bad change is
// refused and makes no image.
func testCommit(t *testing.T, c cli) {
	ctr := c.name("commit")
	img := "committed-" + strings.ToLower(ctr) + ":v1"
	c.rmiAtEnd(img)
	c.ok("run", "-d", "--name", ctr, "-e", "FROM_RUN=yes", "--label", "team=blue", "busybox",
		"sh", "-c", "echo hello > /greeting && rm /etc/group && touch /ready && exec sleep 1000")
	eventually(t, harness.Timeout(30*time.Second), "the container's files", func() bool {
		return c.run("exec", ctr, "test", "-e", "/ready").code == 0
	})
	id := c.ok("commit", "-c", `CMD ["cat", "/greeting"]`, "-c", "ENV MODE=prod PATH=$PATH:/opt", "-c", "EXPOSE 8080",
		"-c", "WORKDIR /srv", "-c", "LABEL stage=two",
		"-m", "greeting added", "-a", "Ann <ann@example.com>", ctr, img)
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Errorf("commit prints the image ID; got %q", id)
	}
	if got := c.status(ctr); got != "running" {
		t.Errorf("the container after a commit (paused meanwhile): want running; got %s", got)
	}
	if got := c.ok("image", "inspect", "--format", "{{.ID}}", img); got != id {
		t.Errorf("image %s: want ID %s; got %s", img, id, got)
	}
	if got := c.ok("run", "--rm", img); got != "hello" {
		t.Errorf("run of the committed image (CMD from --change): want hello; got %q", got)
	}
	env := c.ok("run", "--rm", img, "env")
	for _, want := range []string{"FROM_RUN=yes", "MODE=prod", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt"} {
		if !strings.Contains(env, want) {
			t.Errorf("env of the committed image: want %s; got\n%s", want, env)
		}
	}
	if got := c.ok("run", "--rm", img, "pwd"); got != "/srv" {
		t.Errorf("WORKDIR /srv: got %q", got)
	}
	if r := c.run("run", "--rm", img, "test", "-e", "/etc/group"); r.code == 0 {
		t.Errorf("a file the container deleted is still in the committed image")
	}
	for tmpl, want := range map[string]string{
		"{{.Author}}":                                      "Ann <ann@example.com>",
		"{{json .Config.ExposedPorts}}":                    `{"8080/tcp":{}}`,
		"{{.Config.Labels.team}} {{.Config.Labels.stage}}": "blue two",
	} {
		if got := c.ok("image", "inspect", "--format", tmpl, img); got != want {
			t.Errorf("image inspect %s: want %q; got %q", tmpl, want, got)
		}
	}
	if hist := c.ok("history", "--no-trunc", img); !strings.Contains(hist, "greeting added") {
		t.Errorf("history of the committed image: want the message; got\n%s", hist)
	}

	// ENTRYPOINT without CMD drops the container's command, as Docker.
	img2 := "committed-" + strings.ToLower(ctr) + ":v2"
	c.rmiAtEnd(img2)
	c.ok("commit", "--pause=false", "-c", `ENTRYPOINT ["cat", "/greeting"]`, ctr, img2)
	if got := c.ok("run", "--rm", img2); got != "hello" {
		t.Errorf("run of an image committed with ENTRYPOINT: want hello; got %q", got)
	}

	// Refused: an instruction commit does not take, a malformed one, an
	// unknown container; none makes an image. Each refused commit also
	// asks for a label of its own, which an image it made would carry
	// (other subtests make and prune images at the same time).
	mark := "refused=" + strings.ToLower(ctr)
	c.fails(1, []string{"RUN is not a valid change command"}, "commit", "-c", "LABEL "+mark, "-c", "RUN touch /x", ctr)
	c.fails(1, []string{"EXPOSE"}, "commit", "-c", "LABEL "+mark, "-c", "EXPOSE eighty", ctr)
	c.fails(1, []string{"No such container: nosuch-ctr"}, "commit", "nosuch-ctr", "x:y")
	if left := c.ok("images", "-a", "-q", "--filter", "label="+mark); left != "" {
		t.Errorf("a refused commit left an image: %s", left)
	}
	if r := c.run("image", "inspect", "x:y"); r.code == 0 {
		t.Errorf("a commit of an unknown container made x:y")
	}
}

// testDiff: diff lists what the container added, changed and deleted, as
// Docker prints it, without its volumes or the runtime's mount points.
func testDiff(t *testing.T, c cli) {
	ctr := c.name("diff")
	c.ok("run", "--name", ctr, "-v", "/data", "busybox", "sh", "-c",
		"touch /tmp/new && echo x >> /etc/passwd && rm /etc/group && mkdir -p /srv/a && echo y > /srv/a/f && echo v > /data/in-volume")
	want := "C /etc\nD /etc/group\nC /etc/passwd\nA /srv\nA /srv/a\nA /srv/a/f\nC /tmp\nA /tmp/new"
	if got := c.ok("diff", ctr); got != want {
		t.Errorf("diff: want\n%s\ngot\n%s", want, got)
	}
	fresh := c.name("diff")
	c.ok("create", "--name", fresh, "busybox", "true")
	if got := c.ok("diff", fresh); got != "" {
		t.Errorf("diff of an unchanged container: want nothing; got\n%s", got)
	}
	c.fails(1, []string{"No such container: nosuch-ctr"}, "diff", "nosuch-ctr")
}

// testExport: export writes the container's root file system (image and
// changes, no volume) to stdout or -o; import makes it an image again.
func testExport(t *testing.T, c cli) {
	ctr := c.name("export")
	c.ok("run", "-d", "--name", ctr, "-v", "/data", "busybox", "sh", "-c",
		"echo exported > /greeting && echo v > /data/in-volume && touch /ready && exec sleep 1000")
	eventually(t, harness.Timeout(30*time.Second), "the container's files", func() bool {
		return c.run("exec", ctr, "test", "-e", "/ready").code == 0
	})
	out := filepath.Join(t.TempDir(), "rootfs.tar")
	if got := c.ok("export", "-o", out, ctr); got != "" {
		t.Errorf("export -o prints nothing; got %q", got)
	}
	f, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, f)
	if got := files["greeting"]; got != "exported\n" {
		t.Errorf("export: /greeting: want the container's content; got %q (present: %v)", got, files["greeting"] != "")
	}
	if _, ok := files["bin/busybox"]; !ok {
		t.Errorf("export: the image's /bin/busybox is missing")
	}
	for name := range files {
		if strings.HasPrefix(name, "data/") && name != "data/" || strings.HasPrefix(name, "proc/") && name != "proc/" {
			t.Errorf("export holds %s: volumes and the runtime's mounts are not the container's file system", name)
		}
	}
	// stdout, the same content.
	r := c.run("export", ctr)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if got := tarFiles(t, []byte(r.stdout))["greeting"]; got != "exported\n" {
		t.Errorf("export to stdout: /greeting: got %q", got)
	}
	// Round trip through import.
	img := "exported-" + strings.ToLower(ctr)
	c.rmiAtEnd(img)
	c.ok("import", out, img)
	if got := c.ok("run", "--rm", img, "cat", "/greeting"); got != "exported" {
		t.Errorf("run of the imported export: got %q", got)
	}
	// An unknown container: an error, no file left.
	bad := filepath.Join(t.TempDir(), "bad.tar")
	c.fails(1, []string{"No such container: nosuch-ctr"}, "export", "-o", bad, "nosuch-ctr")
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed export left %s (%v)", bad, err)
	}
}

// testRunningNoOverlayWarning: diff, export and commit of a running
// container leave no overlayfs warning in the kernel log (an overlay mounted with the
// container's upper directory as a lower one, while the container's own
// overlay writes to it, is "undefined behavior" in the kernel's words).
func testRunningNoOverlayWarning(t *testing.T, c cli) {
	ctr := c.name("overlaywarn")
	c.ok("run", "-d", "--name", ctr, "busybox", "sh", "-c", "while true; do echo $RANDOM >> /file; sleep 0.1; done")
	eventually(t, harness.Timeout(30*time.Second), "the container's file", func() bool {
		return c.run("exec", ctr, "test", "-s", "/file").code == 0
	})
	before := kernelLog(t)
	if got := c.ok("diff", ctr); !strings.Contains(got, "A /file") {
		t.Errorf("diff of a running container: want A /file in\n%s", got)
	}
	if r := c.run("export", ctr); r.code != 0 || tarFiles(t, []byte(r.stdout))["file"] == "" {
		t.Errorf("export of a running container: exit code %d, stderr %q, want /file in its tar", r.code, r.stderr)
	}
	img := "overlaywarn-" + strings.ToLower(ctr)
	c.rmiAtEnd(img)
	c.ok("commit", ctr, img)
	if got := c.ok("run", "--rm", img, "sh", "-c", "test -s /file && echo yes"); got != "yes" {
		t.Errorf("the image committed from a running container has no /file: %q", got)
	}
	for _, l := range newKernelLines(before, kernelLog(t)) {
		if strings.Contains(l, "overlayfs:") && strings.Contains(l, "in-use as") {
			t.Errorf("diff, export and commit of a running container: kernel warning %s", l)
		}
	}
}

// kernelLog is the kernel's log buffer, one line a message.
func kernelLog(t *testing.T) []string {
	t.Helper()
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_SIZE_BUFFER, nil)
	if err != nil {
		t.Fatalf("kernel log size: %v", err)
	}
	buf := make([]byte, n)
	if n, err = unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf); err != nil {
		t.Fatalf("kernel log: %v", err)
	}
	return strings.Split(strings.TrimRight(string(buf[:n]), "\n"), "\n")
}

// newKernelLines are the lines of after that came since before was read:
// the log grows at its end (each line has its time) and drops its start.
func newKernelLines(before, after []string) []string {
	if len(before) == 0 {
		return after
	}
	last := before[len(before)-1]
	for i := len(after) - 1; i >= 0; i-- {
		if after[i] == last {
			return after[i+1:]
		}
	}
	return after
}

// tarFiles maps a tar's entries to the content of its regular files ("" for
// the others).
func tarFiles(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read the exported tar: %v", err)
		}
		body, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "./")] = string(body)
	}
}

// testDockerCommitDiffExport: docker commit, diff and export against
// berth's Docker API.
func testDockerCommitDiffExport(t *testing.T, d cli) {
	ctr := d.name("dcommit")
	img := "dcommitted-" + strings.ToLower(ctr) + ":v1"
	t.Cleanup(func() { d.run("rmi", "-f", img) })
	d.ok("run", "--name", ctr, "busybox", "sh", "-c", "echo docker > /greeting")
	if got := d.ok("diff", ctr); got != "A /greeting" {
		t.Errorf("docker diff: want A /greeting; got\n%s", got)
	}
	id := d.ok("commit", "-c", `CMD ["cat", "/greeting"]`, "-c", "ENV MODE=prod", "-m", "via docker", ctr, img)
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("docker commit prints the image ID; got %q", id)
	}
	if got := d.ok("run", "--rm", img); got != "docker" {
		t.Errorf("docker run of the committed image: want docker; got %q", got)
	}
	if got := d.ok("image", "inspect", "--format", "{{json .Config.Env}}", img); !strings.Contains(got, "MODE=prod") {
		t.Errorf("docker image inspect: Env %s lacks MODE=prod", got)
	}
	out := filepath.Join(t.TempDir(), "rootfs.tar")
	d.ok("export", "-o", out, ctr)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := tarFiles(t, b)["greeting"]; got != "docker\n" {
		t.Errorf("docker export: /greeting: got %q", got)
	}
}

// testInspectShape: `network inspect` and `volume inspect` print Docker's
// document, the one the docker CLI prints of the same objects (berth adds
// a few fields of its own), with Docker's values: a user-defined network is
// not attachable (a swarm notion), IPv4 is enabled.
func testInspectShape(t *testing.T, c, d cli) {
	n := "shape-" + strings.ToLower(c.name("n"))
	t.Cleanup(func() { c.run("network", "rm", n) })
	c.ok("network", "create", "--label", "team=blue", n)
	ctr := c.name("shape")
	c.ok("run", "-d", "--name", ctr, "--network", n, "busybox", "sleep", "1000")
	v := "shape-" + strings.ToLower(c.name("v"))
	t.Cleanup(func() { c.run("volume", "rm", "-f", v) })
	c.ok("volume", "create", "--label", "team=blue", v)

	for _, obj := range []struct{ kind, name string }{{"network", n}, {"volume", v}} {
		var berth, docker []map[string]any
		if err := json.Unmarshal([]byte(c.ok(obj.kind, "inspect", obj.name)), &berth); err != nil || len(berth) != 1 {
			t.Fatalf("berth %s inspect: %v", obj.kind, err)
		}
		if err := json.Unmarshal([]byte(d.ok(obj.kind, "inspect", obj.name)), &docker); err != nil || len(docker) != 1 {
			t.Fatalf("docker %s inspect: %v", obj.kind, err)
		}
		for k, want := range docker[0] {
			got, ok := berth[0][k]
			if !ok {
				t.Errorf("berth %s inspect lacks Docker's %s (docker: %v)", obj.kind, k, want)
				continue
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Errorf("%s inspect %s: berth %s; docker %s", obj.kind, k, gb, wb)
			}
		}
	}
	for tmpl, want := range map[string]string{
		"{{.Attachable}} {{.EnableIPv4}} {{.EnableIPv6}} {{.Internal}} {{.Scope}}": "false true false false local",
		"{{json .ConfigFrom}} {{.Labels.team}}":                                    `{"Network":""} blue`,
		"{{range .Containers}}{{.Name}}{{end}}":                                    ctr,
	} {
		if got := c.ok("network", "inspect", "-f", tmpl, n); got != want {
			t.Errorf("network inspect -f %s: want %q; got %q", tmpl, want, got)
		}
	}
	if got := c.ok("inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels.team}}", v); got != v+" local local blue" {
		t.Errorf("inspect of a volume by name: got %q", got)
	}
}

// testImagePruneFilters: image prune --filter until, label, label! and
// dangling remove exactly the images Docker's would. Every prune here has
// this test's label, so no other test's image is touched.
func testImagePruneFilters(t *testing.T, c cli) {
	ctr := c.name("prune")
	c.ok("create", "--name", ctr, "busybox", "true")
	mark := "prunetest=" + strings.ToLower(ctr)
	commit := func(args ...string) string {
		return c.ok(append([]string{"commit", "-c", "LABEL " + mark}, args...)...)
	}
	a := commit(ctr)                                  // dangling
	b := commit("-c", "LABEL keep=yes", ctr)          // dangling, kept by label!
	tagged := "prune-" + strings.ToLower(ctr) + ":v1" // tagged: only -a / dangling=false
	cID := commit(ctr, tagged)
	c.rmiAtEnd(a, b, cID)
	exists := func(id string) bool { return c.run("image", "inspect", id).code == 0 }
	check := func(step string, want map[string]bool) {
		t.Helper()
		for id, w := range want {
			if got := exists(id); got != w {
				t.Errorf("%s: image %s exists %v; want %v", step, id[:19], got, w)
			}
		}
	}

	c.ok("image", "prune", "-f", "--filter", "label="+mark, "--filter", "until=1h")
	check("until=1h (all made just now)", map[string]bool{a: true, b: true, cID: true})

	out := c.ok("image", "prune", "-f", "--filter", "label="+mark, "--filter", "label!=keep=yes")
	check("label!=keep=yes", map[string]bool{a: false, b: true, cID: true})
	if !strings.Contains(out, "deleted: "+a) {
		t.Errorf("image prune prints the deleted image %s; got\n%s", a, out)
	}

	c.fails(1, []string{"invalid filter 'nope'"}, "image", "prune", "-f", "--filter", "nope=1")
	c.fails(1, []string{"invalid filter 'dangling=maybe'"}, "image", "prune", "-f", "--filter", "dangling=maybe")
	check("refused filters", map[string]bool{b: true, cID: true})

	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	c.ok("image", "prune", "-f", "--filter", "dangling=false", "--filter", "label="+mark, "--filter", "until="+later)
	check("dangling=false until=later", map[string]bool{b: false, cID: false})
	if !exists("busybox") {
		t.Errorf("a prune filtered by label removed busybox")
	}
}

// foreignPlatform is a platform this host cannot run.
func foreignPlatform() string {
	if runtime.GOARCH == "arm64" {
		return "linux/amd64"
	}
	return "linux/arm64"
}

// testPlatform: run --platform takes the host's platform, refuses one the
// host cannot run (berth runs no emulation) and, as Docker, an image that
// is not for the platform asked (in dockerd's words, saying too that berth
// could not run it); a refused run leaves no container.
func testPlatform(t *testing.T, c cli) {
	host := "linux/" + runtime.GOARCH
	if got := c.ok("run", "--rm", "--platform", host, "busybox", "echo", "ok"); got != "ok" {
		t.Errorf("run --platform %s: got %q", host, got)
	}
	name := c.name("platform")
	c.fails(125, []string{"image with reference busybox was found but its platform (" + host + ") does not match the specified platform (" + foreignPlatform() + "); " +
		"--platform " + foreignPlatform() + ": this host runs " + host + " containers and berth runs no emulation"},
		"run", "--name", name, "--platform", foreignPlatform(), "busybox", "true")
	if c.exists(name) {
		t.Errorf("a run refused for its platform left container %s", name)
	}
	// A missing image for a platform the host cannot run is not pulled.
	c.fails(125, []string{"--platform " + foreignPlatform() + ": this host runs " + host + " containers and berth runs no emulation"},
		"run", "--rm", "--platform", foreignPlatform(), "localhost:1/nosuch:1", "true")
	if runtime.GOARCH == "amd64" {
		// 386 runs on an amd64 host, but busybox here is amd64.
		c.fails(125, []string{"image with reference busybox was found but its platform (linux/amd64) does not match the specified platform (linux/386)"},
			"run", "--rm", "--platform", "linux/386", "busybox", "true")
	}
	c.fails(125, []string{"invalid --platform"}, "create", "--platform", "linux/arm64/v8/extra", "busybox")
}

// TestImportFailureLeavesNothing: a failed `berth import` (not a tar, a
// truncated archive, a bad name) leaves no image, no snapshot and, once
// containerd collects what nothing references, no content (issue 15,
// bug 5). A stack of its own: the content store is counted whole.
func TestImportFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	ctr := func(args ...string) string {
		t.Helper()
		r := s.Ctr(args...)
		if r.ExitCode != 0 {
			t.Fatalf("ctr %v: %s", args, r)
		}
		return strings.TrimSpace(r.Stdout)
	}
	collect := func() {
		t.Helper()
		id := ctr("leases", "create")
		ctr("leases", "rm", "--sync", strings.Fields(id)[0])
	}
	collect()
	images, content, snaps := c.ok("images", "-a", "-q", "--no-trunc"), ctr("content", "ls", "-q"), ctr("snapshots", "--snapshotter", "berth", "ls")

	// A real root file system tar, gzipped, cut in the middle.
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	payload := bytes.Repeat([]byte("berth "), 200_000)
	_ = tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: int64(len(payload)), Typeflag: tar.TypeReg})
	_, _ = tw.Write(payload)
	_ = tw.Close()
	truncated := tarBuf.Bytes()[:tarBuf.Len()/2]
	dir := t.TempDir()
	files := map[string][]byte{"garbage": []byte("not a tar at all, not at all"), "truncated": truncated, "good": tarBuf.Bytes()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.fails(1, []string{"not a tar archive"}, "import", filepath.Join(dir, "garbage"), "imp:garbage")
	c.fails(1, nil, "import", filepath.Join(dir, "truncated"), "imp:truncated")
	c.fails(1, []string{"invalid reference format"}, "import", filepath.Join(dir, "good"), "Imp:BadName")

	collect()
	if got := c.ok("images", "-a", "-q", "--no-trunc"); got != images {
		t.Errorf("failed imports changed the images:\nbefore\n%s\nafter\n%s", images, got)
	}
	if got := ctr("content", "ls", "-q"); got != content {
		t.Errorf("failed imports left content:\nbefore\n%s\nafter\n%s", content, got)
	}
	if got := ctr("snapshots", "--snapshotter", "berth", "ls"); got != snaps {
		t.Errorf("failed imports left snapshots:\nbefore\n%s\nafter\n%s", snaps, got)
	}
}

// testInternalPorts: as Docker's, a container on an --internal network
// publishes nothing: no host port is taken, `port` and `ps` show none.
func testInternalPorts(t *testing.T, c cli) {
	n := "int-" + strings.ToLower(c.name("n"))
	t.Cleanup(func() { c.run("network", "rm", n) })
	c.ok("network", "create", "--internal", n)
	name := c.name("intports")
	c.ok("run", "-d", "--name", name, "--network", n, "-p", "127.0.0.1::8080", "busybox", "sleep", "1000")
	if got := c.ok("port", name); got != "" {
		t.Errorf("port of a container on an internal network: want nothing; got %q", got)
	}
	if got := c.ok("ps", "--filter", "name="+name, "--format", "{{.Ports}}"); strings.Contains(got, "->") {
		t.Errorf("ps shows a published port on an internal network: %q", got)
	}
	if got := c.inspect(name, "{{json .HostConfig.PortBindings}}"); !strings.Contains(got, "8080/tcp") {
		t.Errorf("the container keeps its requested ports in HostConfig, as Docker: %s", got)
	}
}

// testUsernsHost: --userns host is berth's only mode (it remaps no users):
// accepted, the container's root is the host's (an identity uid_map);
// any other mode is refused before anything is created.
func testUsernsHost(t *testing.T, c cli) {
	if got := strings.Join(strings.Fields(c.ok("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map")), " "); got != "0 0 4294967295" {
		t.Errorf("--userns host: uid_map %q, want the host's identity map", got)
	}
	name := c.name("userns")
	c.fails(125, []string{`invalid --userns "private"`, "takes only host"}, "run", "--name", name, "--userns", "private", "busybox", "true")
	if c.exists(name) {
		t.Errorf("a refused --userns left container %s", name)
	}
}

// hostBlockDevice is a block device of this host (/dev/NAME) and its
// MAJOR:MINOR, or "" when there is none.
func hostBlockDevice() (path, majMin string) {
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "loop") || strings.HasPrefix(e.Name(), "ram") {
			continue
		}
		b, err := os.ReadFile("/sys/block/" + e.Name() + "/dev")
		if st, serr := os.Stat("/dev/" + e.Name()); err == nil && serr == nil && st.Mode()&os.ModeDevice != 0 {
			return "/dev/" + e.Name(), strings.TrimSpace(string(b))
		}
	}
	return "", ""
}

// testDeviceThrottle: --device-read-bps and the other per-device throttles
// reach the container's cgroup (blkio.throttle.* on cgroup v1, io.max on
// v2, read from the host); a path that is not a block device is
// refused before anything is created.
func testDeviceThrottle(t *testing.T, c cli) {
	dev, majMin := hostBlockDevice()
	if dev == "" {
		t.Skip("no block device on this host")
	}
	ctr := c.name("throttle")
	id := c.ok("run", "-d", "--name", ctr, "--device-read-bps", dev+":1mb", "--device-write-bps", dev+":2mb",
		"--device-read-iops", dev+":300", "--device-write-iops", dev+":400", "busybox", "sleep", "1000")
	checkThrottles(t, c, id, majMin)
	name := c.name("throttle")
	c.fails(125, []string{"device throttle on /dev/null", "not a block device"}, "run", "--name", name, "--device-read-bps", "/dev/null:1mb", "busybox", "true")
	if c.exists(name) {
		t.Errorf("a refused throttle left container %s", name)
	}
	c.fails(125, []string{"invalid --device-write-iops"}, "run", "--rm", "--device-write-iops", dev+":lots", "busybox", "true")
}

// checkThrottles reads, from the host, the cgroup files of container id
// (majMin) for read/write 1mb/2mb bps and 300/400 iops.
func checkThrottles(t *testing.T, c cli, id, majMin string) {
	t.Helper()
	if cgroupV2() {
		got := cgroupFile(t, c, id, "", "", "io.max")
		if want := majMin + " rbps=1048576 wbps=2097152 riops=300 wiops=400"; !strings.Contains(got, want) {
			t.Errorf("io.max: want %q; got %q", want, got)
		}
	} else {
		for file, want := range map[string]string{
			"blkio.throttle.read_bps_device": "1048576", "blkio.throttle.write_bps_device": "2097152",
			"blkio.throttle.read_iops_device": "300", "blkio.throttle.write_iops_device": "400",
		} {
			if got := cgroupFile(t, c, id, "blkio", file, ""); got != majMin+" "+want {
				t.Errorf("%s: want %q; got %q", file, majMin+" "+want, got)
			}
		}
	}
}

// testPsSize: ps -s adds Docker's SIZE column, the writable layer then the
// whole root filesystem ("2.1MB (virtual 6.4MB)"); {{.Size}} in --format
// asks for it too; without either there is no SIZE column.
func testPsSize(t *testing.T, c cli) {
	n := c.name("pssize")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		"dd if=/dev/zero of=/two bs=1M count=2 && touch /ready && exec sleep 1000")
	eventually(t, harness.Timeout(30*time.Second), "the 2 MB file", func() bool {
		return c.run("exec", n, "test", "-e", "/ready").code == 0
	})
	out := c.ok("ps", "-s", "--filter", "name="+n)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "SIZE") {
		t.Fatalf("ps -s: want a header ending in SIZE and one row:\n%s", out)
	}
	size := c.ok("ps", "--filter", "name="+n, "--format", "{{.Size}}")
	var rw, virt float64
	if _, err := fmt.Sscanf(size, "%fMB (virtual %fMB)", &rw, &virt); err != nil {
		t.Fatalf("ps --format {{.Size}}: %q, want 2.1MB (virtual …MB): %v", size, err)
	}
	// 2 MiB written is 2.1 MB; the image under it (busybox) adds about 1–5 MB.
	if rw < 2 || rw > 2.5 || virt <= rw+0.5 || virt > rw+10 {
		t.Errorf("ps --format {{.Size}}: %q, want about 2.1MB (virtual a few MB more)", size)
	}
	if !strings.HasSuffix(strings.TrimSpace(lines[1]), size) {
		t.Errorf("ps -s row %q does not end in its size %q", lines[1], size)
	}
	if out := c.ok("ps", "--filter", "name="+n); strings.Contains(out, "SIZE") || strings.Contains(out, "virtual") {
		t.Errorf("ps without -s shows sizes:\n%s", out)
	}
}
