// Package moby runs moby's own API integration tests (the integration/...
// packages of github.com/docker/docker at the version whose API berthd
// serves) against a private berthd's docker.sock.
//
// allowlist.txt names every top-level test of the packages it runs: the ones
// berth is expected to pass ("run", "short") and the excluded ones with their
// reason. TestMobyShort runs the "short" entries (make test);
// TestMobyIntegration runs every "run" and "short" entry with
// BERTH_TEST_MOBY_FULL=1 (make test-moby) and prints the figures per package.
//
// moby's source comes from the Go module proxy (go mod download) into the
// module cache; it is copied to $TMPDIR/berth-moby/<version>, given a go.mod
// from its vendor.mod and its test binaries compiled there, once per version.
package moby

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// mobyModule is moby's module at the version of the API berthd advertises
// (1.50: Docker 28.2).
const mobyModule = "github.com/docker/docker@v28.2.2+incompatible"

// entry is one line of allowlist.txt.
type entry struct {
	status string // run, short or exclude
	pkg    string // container, image, network, volume, system
	test   string
	reason string
	line   int
	// netns: the test runs in a network namespace of its own (newNetns),
	// its reason starting with "[netns]" ("netns") or "[netns docker0]"
	// ("docker0": with a docker0 link there before the test).
	netns string
}

func readAllowlist(t *testing.T) []entry {
	t.Helper()
	f, err := os.Open("allowlist.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []entry
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			t.Fatalf("allowlist.txt:%d: want STATUS PACKAGE TEST [REASON], got %q", n, line)
		}
		e := entry{status: fields[0], pkg: fields[1], test: fields[2], line: n}
		if len(fields) > 3 {
			e.reason = strings.Join(fields[3:], " ")
		}
		if tag, ok := strings.CutPrefix(e.reason, "["); ok {
			tag, rest, _ := strings.Cut(tag, "]")
			switch tag {
			case "netns":
				e.netns = "netns"
			case "netns docker0":
				e.netns = "docker0"
			default:
				t.Fatalf("allowlist.txt:%d: tag [%s] is not [netns] or [netns docker0]", n, tag)
			}
			if e.reason = strings.TrimSpace(rest); e.reason == "" {
				t.Fatalf("allowlist.txt:%d: a test in a network namespace of its own needs the reason", n)
			}
		}
		switch e.status {
		case "run", "short":
		case "exclude":
			if e.reason == "" {
				t.Fatalf("allowlist.txt:%d: an excluded test needs its reason", n)
			}
		default:
			t.Fatalf("allowlist.txt:%d: status %q is not run, short or exclude", n, e.status)
		}
		key := e.pkg + "/" + e.test
		if prev, ok := seen[key]; ok {
			t.Fatalf("allowlist.txt:%d: %s is already listed on line %d", n, key, prev)
		}
		seen[key] = n
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMobyShort runs the allow-list's "short" tests: a small, fast, stable
// subset, so a regression fails make test.
func TestMobyShort(t *testing.T) {
	runAllowlist(t, func(e entry) bool { return e.status == "short" }, false)
}

// TestMobyIntegration runs the whole allow-list (make test-moby).
func TestMobyIntegration(t *testing.T) {
	if os.Getenv("BERTH_TEST_MOBY_FULL") != "1" {
		t.Skip("moby's integration tests run with BERTH_TEST_MOBY_FULL=1 (make test-moby)")
	}
	runAllowlist(t, func(e entry) bool { return e.status != "exclude" }, true)
}

func runAllowlist(t *testing.T, want func(entry) bool, full bool) {
	list := readAllowlist(t)
	byPkg := map[string][]entry{}
	var pkgs []string
	for _, e := range list {
		if _, ok := byPkg[e.pkg]; !ok {
			pkgs = append(pkgs, e.pkg)
		}
		byPkg[e.pkg] = append(byPkg[e.pkg], e)
	}
	var runPkgs []string
	for _, p := range pkgs {
		for _, e := range byPkg[p] {
			if want(e) {
				runPkgs = append(runPkgs, p)
				break
			}
		}
	}
	if os.Getenv("BERTH_MOBY_ONLY") != "" { // exploring: BERTH_MOBY_ONLY=container runs every test
		runPkgs = strings.Split(os.Getenv("BERTH_MOBY_ONLY"), ",")
	}
	if len(runPkgs) == 0 {
		t.Skip("no test selected")
	}

	// Before the compile: a test that cannot run here skips at once.
	s := harness.Start(t)
	src := mobySource(t)
	bins := map[string]string{}
	for _, p := range runPkgs {
		bins[p] = compile(t, src, p)
	}
	loadFrozenImages(t, s)
	// The daemons the tests start (./dockerd) take their networks in a
	// /16 of their own, claimed for the whole run: the tests run one at a
	// time and each one's stacks are removed before the next.
	pool, release := harness.ClaimPool()
	defer release()
	adapter := compileAdapter(t)

	type figure struct{ listed, run, passed, excluded int }
	var report []string
	total := figure{}
	for _, p := range runPkgs {
		// Every top-level test of the package is listed, so a new test
		// (another moby version) is a decision, not an accident.
		all := listTests(t, s, bins[p])
		listed := map[string]entry{}
		for _, e := range byPkg[p] {
			listed[e.test] = e
		}
		for _, name := range all {
			if _, ok := listed[name]; !ok {
				t.Errorf("allowlist.txt: integration/%s %s is not listed (add it as run, short or exclude REASON)", p, name)
			}
		}
		exists := map[string]bool{}
		for _, name := range all {
			exists[name] = true
		}
		var names []string
		netns := map[string]string{}
		excluded := 0
		for _, e := range byPkg[p] {
			if !exists[e.test] {
				t.Errorf("allowlist.txt:%d: integration/%s has no test %s", e.line, p, e.test)
				continue
			}
			if e.status == "exclude" {
				excluded++
			}
			if want(e) && (os.Getenv("BERTH_MOBY_RUN") == "" || regexp.MustCompile(os.Getenv("BERTH_MOBY_RUN")).MatchString(e.test)) {
				names = append(names, e.test)
				netns[e.test] = e.netns
			}
		}
		if os.Getenv("BERTH_MOBY_ONLY") != "" && len(byPkg[p]) == 0 {
			names = all
		}
		if len(names) == 0 {
			continue
		}
		results := runPackage(t, s, src, p, bins[p], names, netns, pool, adapter)
		passed := 0
		var failed []string
		for _, n := range names {
			switch results[n] {
			case "PASS":
				passed++
			case "":
				failed = append(failed, n+" (no result)")
			default:
				failed = append(failed, n+" ("+results[n]+")")
			}
		}
		sort.Strings(failed)
		for _, f := range failed {
			t.Errorf("integration/%s %s did not pass: an allow-listed test", p, f)
		}
		f := figure{listed: len(all), run: len(names), passed: passed, excluded: excluded}
		total.listed += f.listed
		total.run += f.run
		total.passed += f.passed
		total.excluded += f.excluded
		report = append(report, fmt.Sprintf("integration/%-10s %3d tests, %3d run, %3d passed, %3d excluded (%.0f%% of the package passes)",
			p, f.listed, f.run, f.passed, f.excluded, 100*float64(f.passed)/float64(max(f.listed, 1))))
	}
	if full {
		report = append(report, fmt.Sprintf("%-22s %3d tests, %3d run, %3d passed, %3d excluded (%.0f%%)",
			"total", total.listed, total.run, total.passed, total.excluded, 100*float64(total.passed)/float64(max(total.listed, 1))))
	}
	t.Log("moby " + mobyModule + " against berthd:\n" + strings.Join(report, "\n"))
}

// workDir is where moby's source and test binaries are kept between runs.
func workDir() string {
	v := strings.NewReplacer("/", "_", "@", "-", "+", "-").Replace(mobyModule)
	return filepath.Join(os.TempDir(), "berth-moby", v)
}

var srcOnce struct {
	sync.Mutex
	dir string
}

// mobySource downloads moby's module through the Go module proxy (or finds
// it in the module cache) and returns a writable copy that builds as a
// module: vendor.mod as go.mod, without the vendor dir the zip leaves out.
func mobySource(t *testing.T) string {
	t.Helper()
	srcOnce.Lock()
	defer srcOnce.Unlock()
	if srcOnce.dir != "" {
		return srcOnce.dir
	}
	dst := filepath.Join(workDir(), "src")
	if _, err := os.Stat(filepath.Join(dst, "go.mod")); err == nil {
		srcOnce.dir = dst
		return dst
	}
	gobin := goBinary(t)
	cmd := exec.Command(gobin, "mod", "download", "-json", mobyModule)
	cmd.Dir = os.TempDir() // outside berth's module
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", mobyModule, err, out)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s\n%s", mobyModule, err, mod.Error, out)
	}
	if err := os.MkdirAll(workDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(workDir(), ".src-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("cp", "-a", mod.Dir+"/.", tmp).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", mod.Dir, err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", tmp).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
	for _, p := range [][2]string{{"vendor.mod", "go.mod"}, {"vendor.sum", "go.sum"}} {
		b, err := os.ReadFile(filepath.Join(tmp, p[0]))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, p[1]), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(tmp, "vendor")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	srcOnce.dir = dst
	return dst
}

func goBinary(t *testing.T) string {
	t.Helper()
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	g, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go toolchain is needed to compile moby's integration tests")
	}
	return g
}

// compile builds integration/<pkg>'s test binary once per moby version.
func compile(t *testing.T, src, pkg string) string {
	t.Helper()
	bin := filepath.Join(workDir(), pkg+".test")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), harness.Timeout(20*time.Minute))
	defer cancel()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, goBinary(t), "test", "-c", "-o", tmp, "./integration/"+pkg)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile moby's integration/%s: %v\n%s", pkg, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// listTests returns the package's top-level tests. Its TestMain asks the
// daemon for its info and images first, so it runs against s too.
func listTests(t *testing.T, s *harness.Stack, bin string) []string {
	t.Helper()
	ensureFrozenImages(t, s) // the previous package's tests may have removed some
	cmd := exec.Command(bin, "-test.list", ".")
	cmd.Env = mobyEnv(s)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -test.list: %v\n%s", bin, err, out)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Test") {
			names = append(names, l)
		}
	}
	return names
}

// frozenImages are the images moby's test environment expects
// (testutil/environment): TestMain pulls any that is missing.
var frozenImages = []string{"busybox:latest", "busybox:glibc", "hello-world:frozen", "debian:bookworm-slim", "hello-world:amd64", "hello-world:arm64"}

// loadFrozenImages gives berthd the frozen images so that moby's TestMain
// does not pull them: berth's offline busybox under each name. Tests that
// need the real hello-world or debian are excluded in the allow-list.
func loadFrozenImages(t *testing.T, s *harness.Stack) {
	t.Helper()
	s.LoadBusybox()
	for _, ref := range frozenImages[1:] {
		s.BerthOK("tag", "busybox:latest", ref)
	}
}

// ensureFrozenImages puts back frozen names a test removed. moby's cleanup
// removes every image reference that was not there when the test began,
// and a build from busybox gives it a repo digest (the build resolves it
// as from a registry), which the cleanup then removes with one of its tags.
func ensureFrozenImages(t *testing.T, s *harness.Stack) {
	t.Helper()
	if r := s.Berth("image", "inspect", "busybox:latest"); r.ExitCode != 0 {
		s.LoadBusybox()
	}
	for _, ref := range frozenImages[1:] {
		if r := s.Berth("image", "inspect", ref); r.ExitCode != 0 {
			s.BerthOK("tag", "busybox:latest", ref)
		}
	}
}

var resultLine = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (Test\S+)`)

// runPackage runs names of one package's binary against s's docker.sock,
// each in a process of its own (a test that panics ends only itself), and
// returns each top-level test's result: PASS, FAIL, SKIP or "" (none: it
// crashed or timed out). A test marked netns runs in a network namespace
// of its own (ownNetns).
func runPackage(t *testing.T, s *harness.Stack, src, pkg, bin string, names []string, netns map[string]string, pool int, adapter string) map[string]string {
	t.Helper()
	logPath := filepath.Join(workDir(), "last-"+pkg+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	results := map[string]string{}
	for _, name := range names {
		ensureFrozenImages(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), harness.Timeout(10*time.Minute))
		args := []string{bin, "-test.v", "-test.count=1",
			"-test.timeout=" + harness.Timeout(8*time.Minute).String(), "-test.run", "^" + name + "$"}
		own := newOwnDaemons(t, pool, adapter)
		if netns[name] != "" {
			// The adapter then names the default bridge docker0, as dockerd.
			args = append([]string{"nsenter", "--net=" + own.newNetns(t, netns[name] == "docker0"), "--"}, args...)
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = filepath.Join(src, "integration", pkg) // testdata paths are relative
		cmd.Env = append(mobyEnv(s), own.env(s)...)
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		start := time.Now()
		err := cmd.Run()
		cancel()
		if left := own.reap(t); len(left) > 0 {
			fmt.Fprintf(&out, "##### the test's own daemons left running (ended by the runner):\n%s\n", strings.Join(left, "\n"))
		}
		for _, l := range strings.Split(out.String(), "\n") {
			if m := resultLine.FindStringSubmatch(l); m != nil && m[2] == name {
				results[name] = m[1]
			}
		}
		fmt.Fprintf(logf, "##### %s %s (%s, %v)\n%s\n", name, results[name], time.Since(start).Round(time.Millisecond), err, out.Bytes())
		if results[name] != "PASS" && results[name] != "SKIP" {
			t.Logf("integration/%s %s: %v\n%s", pkg, name, err, tail(out.String(), 6000))
		}
	}
	return results
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// mobyEnv is the environment moby's tests read: the daemon under test is
// berthd's docker.sock (client.FromEnv). berth's image IDs are config
// digests and its RepoDigests only those of pulled images, as dockerd's
// classic image store, so TEST_INTEGRATION_USE_SNAPSHOTTER (the containerd
// image store's expectations: manifest digests as IDs) is not set. PATH
// leaves out the machine's dockerd; it has distribution's registry under the
// name testutil/registry runs (mobyBin). runPackage puts berth's dockerd
// adapter before it, for the tests that start a daemon of their own
// (testutil/daemon; adapter_test.go).
func mobyEnv(s *harness.Stack) []string {
	return []string{"DOCKER_HOST=" + s.DockerHost(), "HOME=" + os.Getenv("HOME"),
		"PATH=" + mobyBin(), "TMPDIR=" + os.TempDir()}
}

// mobyBin is a dir of the tools moby's tests run from PATH: registry is
// Debian's docker-registry (make deps).
func mobyBin() string {
	dir := filepath.Join(workDir(), "bin")
	_ = os.MkdirAll(dir, 0o755)
	_ = os.Symlink("/usr/bin/docker-registry", filepath.Join(dir, "registry"))
	// containerd's runc shim of berth's containerd (not the machine's
	// older one), which TestRunWithAlternativeContainerdShim runs under a
	// name of its own.
	libexec := os.Getenv(harness.EnvLibexec)
	if libexec == "" {
		libexec = harness.DefaultLibexec
	}
	shim := filepath.Join(dir, "containerd-shim-runc-v2")
	if t, err := os.Readlink(shim); err != nil || t != filepath.Join(libexec, "containerd-shim-runc-v2") {
		// Renamed over the old one: other runs share this dir.
		tmp := fmt.Sprintf("%s.%d", shim, os.Getpid())
		if os.Symlink(filepath.Join(libexec, "containerd-shim-runc-v2"), tmp) == nil {
			_ = os.Rename(tmp, shim)
		}
	}
	// A shell and the tools tests run in it on the host
	// (TestRunContainerWithBridgeNone reads its own netns with ls and awk).
	for _, tool := range []string{"sh", "ls", "awk"} {
		if p, err := exec.LookPath(tool); err == nil {
			_ = os.Symlink(p, filepath.Join(dir, tool))
		}
	}
	return dir
}

// TestMobyHold keeps a stack with the frozen images up for debugging by
// hand while the file BERTH_MOBY_HOLD names exists; its DOCKER_HOST is
// written into that file.
func TestMobyHold(t *testing.T) {
	hold := os.Getenv("BERTH_MOBY_HOLD")
	if hold == "" {
		t.Skip("debugging aid: BERTH_MOBY_HOLD=/path/to/file")
	}
	s := harness.Start(t)
	loadFrozenImages(t, s)
	if err := os.WriteFile(hold, []byte(s.DockerHost()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(hold); err != nil {
			return
		}
		time.Sleep(time.Second)
	}
}
