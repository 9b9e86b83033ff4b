package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// buildCtx writes files (name → content) into a new context directory.
func buildCtx(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// stepsRun are the Dockerfile steps ("[2/3] RUN …") a plain progress log
// shows as run, and stepsCached those it shows as CACHED.
func buildSteps(log string) (run, cached []string) {
	names := map[string]string{}
	re := regexp.MustCompile(`^#(\d+) (\[.*)$`)
	for _, l := range strings.Split(log, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			names[m[1]] = m[2]
		}
	}
	done := regexp.MustCompile(`^#(\d+) (DONE|CACHED)`)
	for _, l := range strings.Split(log, "\n") {
		m := done.FindStringSubmatch(l)
		if m == nil || names[m[1]] == "" || strings.Contains(names[m[1]], "internal]") || strings.Contains(names[m[1]], " FROM ") {
			continue
		}
		if m[2] == "CACHED" {
			cached = append(cached, names[m[1]])
		} else {
			run = append(run, names[m[1]])
		}
	}
	return run, cached
}

// TestBuild: berth build with busybox, as people write Dockerfiles:
// multi-stage with COPY --from, ARG and ENV, .dockerignore, --target,
// labels, -q and --iidfile, --output; the image runs with berth run.
func TestBuild(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}

	dir := buildCtx(t, map[string]string{
		"Dockerfile": `ARG GREETING=hello
FROM busybox AS base
ARG GREETING
ENV WHO=berth
RUN echo "$GREETING $WHO" > /greeting

FROM base AS test
RUN echo test-stage > /stage

FROM busybox
COPY --from=base /greeting /greeting
COPY app/ /app/
LABEL built.by=berth
CMD ["sh", "-c", "cat /greeting; ls /app"]
`,
		"app/main.txt":  "main",
		"app/debug.log": "excluded",
		".dockerignore": "**/*.log\n",
	})
	iid := filepath.Join(t.TempDir(), "iid")
	id := c.ok("build", "-q", "--iidfile", iid, "--build-arg", "GREETING=hi", "--label", "extra=1", "-t", "app:1", "-t", "app:latest", dir)
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("build -q printed %q, want the image ID", id)
	}
	if b, _ := os.ReadFile(iid); string(b) != id {
		t.Errorf("--iidfile holds %q, want %q", b, id)
	}
	out := c.ok("run", "--rm", "app:1")
	if out != "hi berth\nmain.txt" {
		t.Errorf("the built image printed %q, want the greeting from the first stage and only main.txt (debug.log is in .dockerignore)", out)
	}
	if got := c.ok("image", "inspect", "--format", `{{index .Config.Labels "built.by"}} {{index .Config.Labels "extra"}}`, "app:latest"); got != "berth 1" {
		t.Errorf("labels = %q, want the Dockerfile's and --label's", got)
	}
	// --target builds the named stage only.
	c.ok("build", "-q", "--target", "test", "-t", "app:test", dir)
	if out := c.ok("run", "--rm", "app:test", "cat", "/stage", "/greeting"); out != "test-stage\nhello berth" {
		t.Errorf("--target test: %q", out)
	}
	// -f - reads the Dockerfile from stdin; --output exports files.
	dest := t.TempDir()
	r := c.runIn(strings.NewReader("FROM busybox\nRUN echo exported > /out.txt\n"), "build", "--progress", "plain", "-f", "-", "-o", "type=local,dest="+dest, dir)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "out.txt")); err != nil || string(b) != "exported\n" {
		t.Errorf("--output type=local: out.txt = %q, %v", b, err)
	}
	// Build steps are no containers of berth's, and leave none in containerd.
	if ps := c.ok("ps", "-aq"); ps != "" {
		t.Errorf("berth ps -a lists build steps: %q", ps)
	}
	if r := s.Ctr("containers", "ls", "-q"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("containers left in containerd after the builds: %s", r.Stdout)
	}
	// The build cache is in system df and goes with builder prune.
	df := c.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}")
	if !regexp.MustCompile(`Build Cache [1-9]`).MatchString(df) {
		t.Errorf("system df shows no build cache: %q", df)
	}
	c.ok("builder", "prune", "-a", "-f")
	if df := c.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}"); !strings.Contains(df, "Build Cache 0") {
		t.Errorf("after builder prune -a: %q", df)
	}
}

// TestBuildCache: an unchanged rebuild runs no step, a changed file re-runs
// only the steps from its COPY on, --no-cache runs them all.
func TestBuildCache(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n",
		"a.txt":      "a1",
		"b.txt":      "b1",
	})
	build := func() (run, cached []string) {
		t.Helper()
		r := c.run("build", "--progress", "plain", "-t", "cache:1", dir)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		return buildSteps(r.stderr)
	}
	if run, _ := build(); len(run) != 4 {
		t.Fatalf("first build ran %q, want the 4 steps", run)
	}
	if run, cached := build(); len(run) != 0 || len(cached) != 4 {
		t.Errorf("unchanged rebuild ran %q (cached %q), want every step cached", run, cached)
	}
	// An unchanged rebuild skips the export of an image its names still
	// have, never of one they lost: removed, or the name given to another.
	id := c.ok("image", "inspect", "-f", "{{.Id}}", "cache:1")
	c.ok("rmi", "cache:1")
	build()
	if got := c.ok("image", "inspect", "-f", "{{.Id}}", "cache:1"); got != id {
		t.Errorf("unchanged rebuild after rmi: cache:1 is %q, want %q again", got, id)
	}
	c.ok("tag", "busybox", "cache:1")
	build()
	if got := c.ok("run", "--rm", "cache:1", "cat", "/copy"); got != "a1" {
		t.Errorf("unchanged rebuild after the name went to busybox: cache:1 has /copy %q, want a1", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a2"), 0o644); err != nil {
		t.Fatal(err)
	}
	run, cached := build()
	if len(cached) != 1 || !strings.Contains(cached[0], "RUN echo one") || len(run) != 3 {
		t.Errorf("after a.txt changed: ran %q, cached %q; want only the first RUN cached", run, cached)
	}
	if out := c.ok("run", "--rm", "cache:1", "cat", "/copy"); out != "a2" {
		t.Errorf("the rebuilt image has %q, want the changed file", out)
	}
	r := c.run("build", "--progress", "plain", "--no-cache", "-t", "cache:1", dir)
	if run, cached := buildSteps(r.stderr); r.code != 0 || len(run) != 4 || len(cached) != 0 {
		t.Errorf("--no-cache ran %q, cached %q: %s", run, cached, r)
	}
}

// TestBuildContextChanged: berth-buildkitd keeps a context's files between
// builds and writes only those that differ; a file changed (same size),
// made executable or deleted, and a directory deleted, are seen by the next
// build, never the kept copy.
func TestBuildContextChanged(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY . /ctx\nRUN cd /ctx && find . -type f | sort | xargs ls -l | awk '{print $1, $NF}' > /list && cat sub/b.txt > /b && md5sum big*.bin > /md5\n",
		"a.txt":      "a1",
		"keep.txt":   "k",
		"sub/b.txt":  "b1",
		"gone/c.txt": "c1",
		// Large files: those the builder keeps unchanged are sent
		// without their content (Options.ContextSync).
		"big-keep.bin": strings.Repeat("k", 64<<10),
		"big-chg.bin":  strings.Repeat("1", 64<<10),
		"big-x.bin":    strings.Repeat("x", 64<<10),
		"big-gone.bin": strings.Repeat("g", 64<<10),
	})
	md5s := func(img string) string {
		return c.ok("run", "--rm", img, "cat", "/md5")
	}
	c.ok("build", "-q", "-t", "ctxchg:1", dir)
	if out := c.ok("run", "--rm", "ctxchg:1", "cat", "/b"); out != "b1" {
		t.Fatalf("first build has sub/b.txt %q, want b1", out)
	}
	first := md5s("ctxchg:1")
	if err := os.WriteFile(filepath.Join(dir, "sub/b.txt"), []byte("b2"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Same size, other content.
	if err := os.WriteFile(filepath.Join(dir, "big-chg.bin"), []byte(strings.Repeat("2", 64<<10)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"keep.txt", "big-x.bin"} {
		if err := os.Chmod(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"a.txt", "gone", "big-gone.bin"} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	c.ok("build", "-q", "-t", "ctxchg:2", dir)
	if out := c.ok("run", "--rm", "ctxchg:2", "cat", "/b"); out != "b2" {
		t.Errorf("second build has sub/b.txt %q, want the changed b2", out)
	}
	want := "-rw-r--r-- ./Dockerfile\n-rw-r--r-- ./big-chg.bin\n-rw-r--r-- ./big-keep.bin\n-rwxr-xr-x ./big-x.bin\n-rwxr-xr-x ./keep.txt\n-rw-r--r-- ./sub/b.txt"
	if out := strings.TrimSpace(c.ok("run", "--rm", "ctxchg:2", "cat", "/list")); out != want {
		t.Errorf("second build's context:\n%s\nwant (a.txt, gone/ and big-gone.bin deleted, keep.txt and big-x.bin executable):\n%s", out, want)
	}
	// The unchanged large files are the first build's, the changed one
	// has its new content.
	wantMD5 := map[string]string{"big-keep.bin": md5Line(first, "big-keep.bin"), "big-x.bin": md5Line(first, "big-x.bin")}
	second := md5s("ctxchg:2")
	for f, sum := range wantMD5 {
		if got := md5Line(second, f); sum == "" || got != sum {
			t.Errorf("%s: md5 %q in the second build, want the first's %q", f, got, sum)
		}
	}
	if a, b := md5Line(first, "big-chg.bin"), md5Line(second, "big-chg.bin"); a == "" || a == b {
		t.Errorf("big-chg.bin: md5 %q in both builds, want the changed content's", a)
	}
	// A third, unchanged build sends the large files as headers only and
	// gives the same files.
	c.ok("build", "-q", "-t", "ctxchg:3", dir)
	if out := md5s("ctxchg:3"); out != second {
		t.Errorf("unchanged rebuild's md5s:\n%s\nwant the second build's:\n%s", out, second)
	}
}

// md5Line is the md5 of file in md5sum's output.
func md5Line(out, file string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == file {
			return f[0]
		}
	}
	return ""
}

// TestBuildSecret: a secret is readable by the RUN that mounts it and is in
// no layer of the image.
func TestBuildSecret(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	const secret = "s3cr3t-value-8d1f"
	dir := buildCtx(t, map[string]string{
		"Dockerfile":    "FROM busybox\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token > /token-length\n",
		"token.txt":     secret,
		".dockerignore": "token.txt\n",
	})
	c.ok("build", "-q", "--secret", "id=token,src="+filepath.Join(dir, "token.txt"), "-t", "secret:1", dir)
	if out := c.ok("run", "--rm", "secret:1", "cat", "/token-length"); strings.TrimSpace(out) != strconv.Itoa(len(secret)) {
		t.Errorf("the RUN saw a secret of %q bytes, want %d", out, len(secret))
	}
	archive := filepath.Join(t.TempDir(), "img.tar")
	c.ok("save", "-o", archive, "secret:1")
	if n := grepTar(t, archive, secret); n > 0 {
		t.Errorf("the secret is in %d files of the saved image", n)
	}
}

// grepTar counts the files of a tar (and of the layer tars in it) holding s.
func grepTar(t *testing.T, path, s string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var count func(r io.Reader) int
	count = func(r io.Reader) int {
		n := 0
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err != nil {
				return n
			}
			b, _ := io.ReadAll(tr)
			if bytes.Contains(b, []byte(s)) {
				n++
			}
			if h.Typeflag == tar.TypeReg && len(b) > 512 {
				n += count(bytes.NewReader(b)) // a layer
			}
		}
	}
	return count(f)
}

// TestBuildErrors: bad Dockerfiles are named precisely and leave nothing.
func TestBuildErrors(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{"a.txt": "a"})
	write := func(df string) {
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FROM busybox\nRUN true\nBOGUS instruction\n")
	r := c.run("build", "--progress", "plain", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "Dockerfile:3") || !strings.Contains(strings.ToLower(r.stderr), "bogus") {
		t.Errorf("a syntax error on line 3: want Dockerfile:3 and the instruction named; %s", r)
	}
	write("FROM busybox\nCOPY missing.txt /\n")
	r = c.run("build", "--progress", "plain", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "missing.txt") {
		t.Errorf("a missing COPY source is not named: %s", r)
	}
	write("FROM busybox\nRUN exit 3\n")
	r = c.run("build", "--progress", "plain", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "exit code: 3") {
		t.Errorf("a failing RUN: %s", r)
	}
	// A symlink that leaves the context is sent as a link and resolved
	// inside the context, as Docker does: the host's file is never read,
	// and its target is not found there.
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	write("FROM busybox\nCOPY escape /escape\n")
	r = c.run("build", "-q", "-t", "escape:1", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "/escape") {
		t.Errorf("COPY of a symlink out of the context: %s", r)
	}
	c.fails(125, []string{"--progress"}, "build", "--progress", "fancy", dir)
	c.fails(1, []string{"Dockerfile", "does not exist"}, "build", "-f", filepath.Join(dir, "nope"), dir)
	if r := s.Ctr("containers", "ls", "-q"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("failed builds left containers: %s", r.Stdout)
	}
}

// TestBuildInterrupted: a build stopped by Ctrl-C, and one whose
// berth-buildkitd is killed, leave no container or task, and the next
// build works.
func TestBuildInterrupted(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 300\n"})
	pidFile := filepath.Join(s.State(), "buildkit", "berth-buildkitd.pid")
	noSteps := func(what string) {
		t.Helper()
		eventually(t, harness.Timeout(30*time.Second), what+": no container or task left in containerd", func() bool {
			return strings.TrimSpace(s.Ctr("containers", "ls", "-q").Stdout) == "" && strings.TrimSpace(s.Ctr("tasks", "ls", "-q").Stdout) == ""
		})
	}
	for _, how := range []string{"ctrl-c", "kill-builder"} {
		st := c.start("build", "--progress", "plain", dir)
		eventually(t, harness.Timeout(60*time.Second), "the RUN step started", func() bool {
			return strings.Contains(st.stderr(), "started")
		})
		if how == "ctrl-c" {
			_ = st.cmd.Process.Signal(syscall.SIGINT)
		} else {
			b, err := os.ReadFile(pidFile)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid == 0 {
				t.Fatalf("no berth-buildkitd pid: %v", err)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if code := st.wait(60 * time.Second); code == 0 {
			t.Errorf("%s: the build succeeded", how)
		}
		noSteps(how)
	}
	// The builder was restarted; the next build works.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo ok > /ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("build", "-q", "-t", "after:1", dir)
	if out := c.ok("run", "--rm", "after:1", "cat", "/ok"); out != "ok" {
		t.Errorf("build after the interruptions: %q", out)
	}
}

// TestBuildIdleStop: berth-buildkitd runs only while needed: started by
// the first build, stopped after builder_idle_timeout, started again by
// the next build, with its cache kept.
func TestBuildIdleStop(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.WithDaemonArgs("--builder-idle-timeout", "2s"))
	s.LoadBusybox()
	c := cli{t: t, s: s}
	pidFile := filepath.Join(s.State(), "buildkit", "berth-buildkitd.pid")
	if _, err := os.Stat(pidFile); err == nil {
		t.Fatal("berth-buildkitd runs before any build")
	}
	dir := buildCtx(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo cached > /c\n"})
	c.ok("build", "-q", "-t", "idle:1", dir)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no builder running after a build: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	eventually(t, harness.Timeout(30*time.Second), "the idle builder stopped", func() bool {
		return !pidAlive(pid)
	})
	r := c.run("build", "--progress", "plain", "-t", "idle:1", dir)
	if run, cached := buildSteps(r.stderr); r.code != 0 || len(run) != 0 || len(cached) != 1 {
		t.Errorf("the build after the idle stop ran %q, cached %q (want its cache kept): %s", run, cached, r)
	}
}

// TestBuildStepKilledWithItsShim: a RUN step whose shim, builder and
// containerd are killed together leaves nothing once the builder is back:
// no process in the step's cgroup, no step cgroup (berth-buildkitd's
// start kills and removes what steps left there, and the harness's leak
// check counts them).
func TestBuildStepKilledWithItsShim(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 300\n"})
	st := c.start("build", "--progress", "plain", dir)
	eventually(t, 60*time.Second, "the RUN step started", func() bool {
		return strings.Contains(st.stderr(), "started")
	})
	// The step's task: the only one in the namespace.
	var id string
	var pid int
	eventually(t, 30*time.Second, "the step's task", func() bool {
		f := strings.Fields(s.Ctr("tasks", "ls").Stdout)
		if len(f) < 6 { // header TASK PID STATUS, then one row
			return false
		}
		id = f[3]
		pid, _ = strconv.Atoi(f[4])
		return pid > 0
	})
	cg := stepCgroup(t, pid)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	shim := 0
	if i := bytes.LastIndexByte(b, ')'); i > 0 {
		if f := strings.Fields(string(b[i+1:])); len(f) > 1 {
			shim, _ = strconv.Atoi(f[1])
		}
	}
	if shim <= 1 {
		t.Fatalf("no shim for the step %s (pid %d)", id, pid)
	}
	for _, p := range []int{shim, builderPID(t, s)} {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	s.KillContainerd()
	_ = st.wait(60 * time.Second)
	// The next build starts the builder again.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo ok > /ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("build", "-q", "-t", "after:1", dir)
	eventually(t, 30*time.Second, "the step's process gone", func() bool { return !pidAlive(pid) })
	if _, err := os.Stat(cg); err == nil {
		t.Errorf("the step's cgroup %s is still there", cg)
	}
}

// stepCgroup is the directory of a process's cgroup in the pids hierarchy
// (cgroup v1) or the unified one.
func stepCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && (f[1] == "pids" || f[1] == "") {
			if f[1] == "pids" {
				return filepath.Join("/sys/fs/cgroup/pids", f[2])
			}
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				return filepath.Join("/sys/fs/cgroup", f[2])
			}
		}
	}
	t.Fatalf("no cgroup for %d: %s", pid, b)
	return ""
}

// TestBuildLeftoverLeasesRemoved: the leases of BuildKit's cache that no
// cache record names (what a build cut off by a kill leaves, or a builder
// start that forgot records while containerd or the snapshotter
// restarted: a record's own lease, its view's and its compression
// variants'), and the containerd client's own lease holding nothing (a
// step's NewContainer cut off), are removed by a prune, which sweeps them
// once no build runs, and by the builder's next start; anyone else's lease
// stays.
func TestBuildLeftoverLeasesRemoved(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	dir := buildCtx(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo x > /x\n"})
	c.ok("build", "-q", "-t", "leases:1", dir)
	leftovers := map[string][]string{
		"j8fo5a19l1mvtlnuln2o2xhf4-variants": nil,
		"k9gp6b20m2nwuomvomp3yig5b":          {"containerd.io/gc.flat=2026-01-01T00:00:00Z"},
		"k9gp6b20m2nwuomvomp3yig5b-view":     {"containerd.io/gc.flat=2026-01-01T00:00:00Z", "buildkit/lease.temporary=2026-01-01T00:00:00Z"},
	}
	const other = "someone-elses-lease"
	if r := s.Ctr("leases", "create", "--id", other, "purpose=test"); r.ExitCode != 0 {
		t.Fatalf("ctr leases create: %s", r)
	}
	var clientLeases []string
	create := func() {
		// The containerd client's own lease (as BuildKit's
		// NewContainer of a step takes), holding nothing.
		r := s.Ctr("leases", "create")
		if f := strings.Fields(r.Stdout); r.ExitCode != 0 || len(f) == 0 {
			t.Fatalf("ctr leases create: %s", r)
		} else {
			clientLeases = append(clientLeases, f[0])
		}
		for id, labels := range leftovers {
			// No expiry label: BuildKit's have none.
			if r := s.Ctr(append([]string{"leases", "create", "--expires", "0", "--id", id}, labels...)...); r.ExitCode != 0 {
				t.Fatalf("ctr leases create %s: %s", id, r)
			}
		}
	}
	leases := func() string { return s.Ctr("leases", "ls", "-q").Stdout }
	check := func(when string) {
		t.Helper()
		eventually(t, 30*time.Second, "the leases of no cache record removed "+when, func() bool {
			l := leases()
			for _, id := range clientLeases {
				if strings.Contains(l, id) {
					return false
				}
			}
			return !strings.Contains(l, "j8fo5a19l1mvtlnuln2o2xhf4") && !strings.Contains(l, "k9gp6b20m2nwuomvomp3yig5b")
		})
		if !strings.Contains(leases(), other) {
			t.Errorf("the builder removed a lease not BuildKit's (%s): %s", when, leases())
		}
	}
	create()
	c.ok("builder", "prune", "-a", "-f")
	check("by a prune")
	// The builder's next start.
	create()
	pid := builderPID(t, s)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	eventually(t, 30*time.Second, "berth-buildkitd gone", func() bool { return !pidAlive(pid) })
	c.ok("build", "-q", "-t", "leases:1", dir)
	check("by the builder's start")
	s.Ctr("leases", "rm", other)
}

func builderPID(t *testing.T, s *harness.Stack) int {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(s.State(), "buildkit", "berth-buildkitd.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 {
		t.Fatal("no berth-buildkitd pid")
	}
	return pid
}

// TestBuildCutOffByDaemonKill: a build whose berthd is killed in the
// middle of its RUN step leaves no cache record in use: BuildKit kept the
// step's input and mount (its exec error's) in use after such a build
// ended, and `builder prune -a` could not remove them; berth-buildkitd
// now finds them once no build runs and exits, so that its next start
// drops them. A few builds, killed at different moments of the step.
func TestBuildCutOffByDaemonKill(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.WithBerthSnapshotter())
	s.LoadBusybox()
	c := cli{t: t, s: s}
	for i, delay := range []time.Duration{0, 700 * time.Millisecond, 1400 * time.Millisecond} {
		dir := buildCtx(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM busybox\nRUN echo started%d && sleep 5 && echo x > /x\n", i)})
		st := c.start("build", "--progress", "plain", dir)
		eventually(t, harness.Timeout(60*time.Second), "the RUN step started", func() bool {
			return strings.Contains(st.stderr(), fmt.Sprintf("started%d", i))
		})
		time.Sleep(delay)
		s.KillDaemon()
		s.StartDaemon()
		if code := st.wait(60 * time.Second); code == 0 {
			t.Errorf("build %d: succeeded while its berthd was killed", i)
		}
	}
	// Each prune removes what is not in use; a record in use stays. The
	// builder's exit and restart come a moment after the last build.
	var du string
	for deadline := time.Now().Add(harness.Timeout(60 * time.Second)); ; time.Sleep(time.Second) {
		c.run("builder", "prune", "-a", "-f")
		r := c.run("builder", "du")
		du = r.stdout
		if r.code == 0 && !strings.Contains(du, "true") && !strings.Contains(du, "false") || time.Now().After(deadline) {
			break
		}
	}
	if strings.Contains(du, "true") || strings.Contains(du, "false") {
		t.Errorf("build cache records left after builder prune -a (RECLAIMABLE false: in use):\n%s", du)
	}
}
