package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestParity checks berth against what a Docker user expects on day one
// (issue 15): subtests share one stack, each with its own names.
func TestParity(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c cli)
	}{
		{"BinaryStdin", testBinaryStdin},
		{"CpSymlinks", testCpSymlinks},
		{"NetworkContainerShares", testNetworkContainerShares},
		{"FailedLoad", testFailedLoad},
		{"Messages", testMessages},
		{"Init", testInit},
		{"Namespaces", testNamespaces},
		{"CIDFile", testCIDFile},
		{"CPUAndMemoryFlags", testCPUAndMemoryFlags},
		{"AttachQuietSize", testAttachQuietSize},
		{"UpdateRestart", testUpdateRestart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, cli{t: t, s: s})
		})
	}
}

// binaryInput is a few MB of random data with Docker's detach sequence
// (ctrl-p ctrl-q) inside, and its SHA-256 as sha256sum prints it.
func binaryInput(t *testing.T) ([]byte, string) {
	t.Helper()
	data := make([]byte, 3<<20)
	if _, err := cryptoRand(data); err != nil {
		t.Fatal(err)
	}
	copy(data[1000:], "abc\x10\x11def")
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]) + "  -"
}

// testBinaryStdin: without -t, stdin is data, not keys: run -i, exec -i and
// attach pass it byte for byte, detach sequence included (bug 1).
func testBinaryStdin(t *testing.T, c cli) {
	data, want := binaryInput(t)

	r := c.runIn(bytes.NewReader(data), "run", "-i", "--rm", "busybox", "sha256sum")
	if r.code != 0 || r.out() != want {
		t.Errorf("run -i: want %q; got %s", want, r)
	}

	n := c.name("binstdin")
	c.ok("run", "-d", "-i", "--name", n, "busybox", "sleep", "1000")
	r = c.runIn(bytes.NewReader(data), "exec", "-i", n, "sha256sum")
	if r.code != 0 || r.out() != want {
		t.Errorf("exec -i: want %q; got %s", want, r)
	}

	// attach: the container reads exactly len(data) bytes, so the result
	// does not depend on whether attach's EOF closes its stdin.
	a := c.name("binattach")
	c.ok("run", "-d", "-i", "--name", a, "busybox", "sh", "-c", "head -c 3145728 | sha256sum")
	c.waitStatus(a, "running")
	r = c.runIn(bytes.NewReader(data), "attach", a)
	if r.code != 0 || r.out() != want {
		t.Errorf("attach: want %q; got %s", want, r)
	}
	if code := c.ok("wait", a); code != "0" {
		t.Errorf("attached container exited %s", code)
	}
}

// testCpSymlinks: cp out of a container copies a symlink as a link; -L or a
// trailing "/" copies its target, resolved inside the container's root,
// under the link's name (bug 2).
func testCpSymlinks(t *testing.T, c cli) {
	n := c.name("cplink")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		"mkdir -p /data/real && echo inside > /data/real/marker && echo container > /etc/berth-marker && "+
			"ln -s /data/real /data/abs && ln -s real /data/rel && ln -s /data/abs /data/chain && "+
			"ln -s /data/real/marker /data/flink && ln -s ../../../../../etc/berth-marker /data/esc && "+
			"ln -s /etc /etclink && touch /ready && exec sleep 1000")
	eventually(t, 30*time.Second, "the container's links", func() bool {
		return c.run("exec", n, "test", "-f", "/ready").code == 0
	})
	dir := t.TempDir()
	at := func(p string) string { return filepath.Join(dir, p) }
	readFile := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v", err)
		}
		return string(b)
	}

	// Without -L: the link itself, as Docker.
	c.ok("cp", n+":/etclink", at("link"))
	if target, err := os.Readlink(at("link")); err != nil || target != "/etc" {
		t.Errorf("cp of a link without -L: readlink = %q, %v; want the link /etc", target, err)
	}

	for _, tc := range []struct{ args []string }{
		{[]string{"cp", "-L", n + ":/data/abs", at("abs")}},
		{[]string{"cp", "-L", n + ":/data/rel", at("rel")}},
		{[]string{"cp", "-L", n + ":/data/chain", at("chain")}},
		{[]string{"cp", n + ":/data/abs/", at("slash")}},
	} {
		c.ok(tc.args...)
		dst := tc.args[len(tc.args)-1]
		if fi, err := os.Lstat(dst); err != nil || !fi.IsDir() {
			t.Errorf("%v: want a directory at %s; got %v, %v", tc.args, dst, fi, err)
			continue
		}
		if got := readFile(filepath.Join(dst, "marker")); got != "inside\n" {
			t.Errorf("%v: marker %q", tc.args, got)
		}
	}

	// -L into an existing directory: the copy keeps the link's name.
	c.ok("cp", "-L", n+":/data/flink", dir)
	if fi, err := os.Lstat(at("flink")); err != nil || !fi.Mode().IsRegular() || readFile(at("flink")) != "inside\n" {
		t.Errorf("cp -L of a file link into a directory: %v, %v", fi, err)
	}
	// A link climbing out of / resolves inside the container, never on the host.
	c.ok("cp", "-L", n+":/data/esc", at("esc"))
	if got := readFile(at("esc")); got != "container\n" {
		t.Errorf("cp -L of ../../../etc/berth-marker: %q, want the container's file", got)
	}
}

// TestParityDaemonRestart: a foreground run and an attach carry on over a
// berthd restart (the container keeps running under live restore) and end
// with the container's output and exit code (bug 6).
func TestParityDaemonRestart(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	script := "echo ready; while [ ! -f /go ]; do sleep 0.05; done; echo after; exit 3"
	r, a := c.name("fg-run"), c.name("fg-attach")
	run := c.start("run", "--name", r, "busybox", "sh", "-c", script)
	c.ok("run", "-d", "--name", a, "busybox", "sh", "-c", "while [ ! -f /go ]; do echo tick; sleep 0.2; done; echo after; exit 4")
	att := c.start("attach", a)
	run.waitFor("ready", 30*time.Second)
	// The attach is in place once output reaches it (killing berthd
	// before that cuts the attach's first call, which fails as it should).
	att.waitFor("tick", 30*time.Second)

	s.KillDaemon()
	s.StartDaemon()
	for _, st := range []*stream{run, att} {
		eventually(t, 90*time.Second, "berth to attach again", func() bool {
			return strings.Contains(st.stderr(), "attached to container") || st.exited()
		})
	}

	c.ok("exec", r, "touch", "/go")
	c.ok("exec", a, "touch", "/go")
	if code := run.wait(90 * time.Second); code != 3 || !strings.Contains(run.output(), "after") {
		t.Errorf("foreground run over a berthd restart: exit %d, output %q, stderr %q; want 3 and after", code, run.output(), run.stderr())
	}
	if code := att.wait(90 * time.Second); code != 4 || !strings.Contains(att.output(), "after") {
		t.Errorf("attach over a berthd restart: exit %d, output %q, stderr %q; want 4 and after", code, att.output(), att.stderr())
	}
	if !strings.Contains(run.stderr(), "lost the connection to berthd") {
		t.Errorf("run's stderr does not say berthd went away: %q", run.stderr())
	}
}

// testNetworkContainerShares: --network container:X shares X's hostname,
// hosts file and resolv.conf, as Docker (bug 7); -h with it is refused.
func testNetworkContainerShares(t *testing.T, c cli) {
	x := c.name("netowner")
	c.ok("run", "-d", "--name", x, "--hostname", "xhost", "--add-host", "extra.example:10.1.2.3", "busybox", "sleep", "1000")
	c.waitStatus(x, "running")
	out := c.ok("run", "--rm", "--network", "container:"+x, "busybox", "sh", "-c", "hostname; echo $HOSTNAME; cat /etc/hosts")
	l := lines(out)
	if len(l) < 2 || l[0] != "xhost" || l[1] != "xhost" {
		t.Errorf("hostname and $HOSTNAME under --network container:%s: %q, want xhost twice", x, out)
	}
	if !strings.Contains(out, "extra.example") {
		t.Errorf("/etc/hosts under --network container:%s lacks X's --add-host entry:\n%s", x, out)
	}
	c.fails(125, []string{"conflicting options: --hostname and --network container:" + x},
		"run", "--rm", "--network", "container:"+x, "--hostname", "other", "busybox", "true")
}

// brokenArchive is an OCI archive of a two-layer image whose top layer's
// blob is missing: its index and manifest are fine.
func brokenArchive(t *testing.T, name string) string {
	t.Helper()
	src, err := os.Open(harness.Archive(t, harness.Image{Name: name, DataLayers: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	var entries []entry
	files := map[string][]byte{}
	tr := tar.NewReader(src)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{hdr, b})
		files[strings.TrimPrefix(hdr.Name, "./")] = b
	}
	blob := func(dgst string) string { return "blobs/" + strings.Replace(dgst, ":", "/", 1) }
	var index struct{ Manifests []struct{ Digest string } }
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) == 0 {
		t.Fatalf("archive's index.json: %v", err)
	}
	var manifest struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal(files[blob(index.Manifests[0].Digest)], &manifest); err != nil || len(manifest.Layers) < 2 {
		t.Fatalf("archive's manifest: %v (%d layers)", err, len(manifest.Layers))
	}
	drop := blob(manifest.Layers[len(manifest.Layers)-1].Digest)

	out := filepath.Join(t.TempDir(), "broken.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range entries {
		if strings.TrimPrefix(e.hdr.Name, "./") == drop {
			continue
		}
		if err := tw.WriteHeader(e.hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// testFailedLoad: a load that fails (a layer missing from the archive)
// leaves no image behind and says what is wrong (bug 5).
func testFailedLoad(t *testing.T, c cli) {
	name := "localhost/broken-" + strings.ToLower(cryptoRandText(t)) + ":1"
	r := c.run("load", "-i", brokenArchive(t, name))
	if r.code == 0 {
		t.Fatalf("load of an archive without its layer succeeded: %s", r)
	}
	if !strings.Contains(r.stderr, "not a complete image archive") {
		t.Errorf("load's error does not say the archive is incomplete: %s", r)
	}
	if out := c.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains(out, strings.TrimSuffix(name, ":1")) {
		t.Errorf("a failed load left its image listed:\n%s", out)
	}
	if r := c.s.Ctr("images", "ls", "-q"); r.ExitCode != 0 || strings.Contains(r.Stdout, strings.TrimSuffix(name, ":1")) {
		t.Errorf("a failed load left an image record in containerd: %s", r)
	}
	c.fails(125, []string{"No such image: " + name}, "run", "--rm", "--pull", "never", name, "true")
}

func cryptoRandText(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := cryptoRand(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testMessages: bad input to run gets Docker's message, exactly once, with no
// wrong hint, and leaves no container behind.
func testMessages(t *testing.T, c cli) {
	before := c.ok("ps", "-a", "-q", "--no-trunc")
	for _, tc := range []struct {
		args []string
		want string
		not  []string
	}{
		{[]string{"run", "--rm", "BusyBox", "true"}, "invalid reference format: repository name (library/BusyBox) must be lowercase", []string{"Load the image", "No such image"}},
		{[]string{"run", "--rm", "--network", "nosuchnet", "busybox", "true"}, "network nosuchnet not found", []string{"Load the image", "image"}},
		{[]string{"run", "--rm", "-w", "relative/dir", "busybox", "true"}, "the working directory must be an absolute path: relative/dir", nil},
		{[]string{"run", "--rm", "--user", "nosuchuser", "busybox", "true"}, "unable to find user nosuchuser: no matching entries in passwd file", nil},
		{[]string{"run", "--rm", "--cpus", "999", "busybox", "true"}, "Range of CPUs is from 0.01 to " + cpuCount(t) + ", as there are only " + strings.TrimSuffix(cpuCount(t), ".00") + " CPUs available", nil},
	} {
		r := c.run(tc.args...)
		if r.code != 125 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("want exit 125 and %q; got %s", tc.want, r)
			continue
		}
		if strings.Count(r.stderr, tc.want) != 1 {
			t.Errorf("%q said more than once: %s", tc.want, r)
		}
		for _, n := range tc.not {
			if strings.Contains(strings.ReplaceAll(r.stderr, tc.want, ""), n) {
				t.Errorf("misleading %q in: %s", n, r)
			}
		}
	}
	// exec -w into a missing directory: 126 and the directory, not "command
	// not found" with runc's output.
	n := c.name("msgexec")
	c.ok("run", "-d", "--name", n, "busybox", "sleep", "1000")
	c.fails(126, []string{"the working directory /nosuchdir does not exist in the container or is not a directory"},
		"exec", "-w", "/nosuchdir", n, "true")
	// load of a file that is no archive says so.
	c.fails(1, []string{"load: not an image archive (docker-archive or OCI)"}, "load", "-i", "/etc/passwd")

	if after := c.ok("ps", "-a", "-q", "--no-trunc"); len(lines(after)) > len(lines(before))+1 {
		for _, id := range lines(after) {
			if !strings.Contains(before, id) {
				t.Logf("left: %s", c.inspect(id, "{{.Name}} {{.Config.Image}} {{.State.Status}}"))
			}
		}
	}
}

// cpuCount is the host's CPU count as Docker prints it in --cpus's range.
func cpuCount(t *testing.T) string {
	return fmt.Sprintf("%d.00", runtime.NumCPU())
}

// TestParityPrune: container prune and system prune remove exactly what
// Docker's remove (a stack of its own: prune takes everything unused).
func TestParityPrune(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	ids := func(args ...string) string {
		return c.ok(append([]string{"ps", "-a", "--no-trunc", "--format", "{{.Names}}"}, args...)...)
	}

	// container prune --filter label: only the stopped ones with the label.
	c.ok("create", "--name", "p-created", "-l", "keep=no", "busybox", "true")
	c.ok("run", "--name", "p-exited", "-l", "keep=no", "busybox", "true")
	c.ok("run", "--name", "p-other", "busybox", "true")
	c.ok("run", "-d", "--name", "p-running", "-l", "keep=no", "busybox", "sleep", "1000")
	out := c.ok("container", "prune", "-f", "--filter", "label=keep=no")
	if !strings.Contains(out, "Deleted Containers:") || !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("container prune printed:\n%s", out)
	}
	if got := lines(ids()); strings.Join(sortedCopy(got), " ") != "p-other p-running" {
		t.Errorf("after container prune --filter label=keep=no: %v, want p-other p-running", got)
	}
	// Without -f, an answer other than y keeps everything.
	if r := c.runIn(strings.NewReader("n\n"), "container", "prune"); r.code != 0 || !strings.Contains(r.stdout, "WARNING! This will remove") {
		t.Errorf("container prune answered n: %s", r)
	}
	if !strings.Contains(ids(), "p-other") {
		t.Errorf("container prune answered n removed p-other")
	}

	// system prune: stopped containers, unused networks, dangling images;
	// not running containers, used networks, tagged images or volumes.
	c.ok("network", "create", "p-unused")
	c.ok("network", "create", "p-used")
	c.ok("run", "-d", "--name", "p-onnet", "--network", "p-used", "busybox", "sleep", "1000")
	c.ok("volume", "create", "p-named")
	c.ok("create", "--name", "p-anon", "-v", "/data", "busybox", "true")
	anon := c.inspect("p-anon", "{{range .Mounts}}{{.Name}}{{end}}")
	c.ok("tag", "busybox", "p-tagged:1")
	c.ok("system", "prune", "-f")
	if got := sortedCopy(lines(ids())); strings.Join(got, " ") != "p-onnet p-running" {
		t.Errorf("after system prune: containers %v, want p-onnet p-running", got)
	}
	nets := c.ok("network", "ls", "--format", "{{.Name}}")
	if strings.Contains(nets, "p-unused") || !strings.Contains(nets, "p-used") || !strings.Contains(nets, "bridge") {
		t.Errorf("after system prune: networks\n%s\nwant p-used and bridge kept, p-unused gone", nets)
	}
	if imgs := c.ok("images", "--format", "{{.Repository}}"); !strings.Contains(imgs, "p-tagged") || !strings.Contains(imgs, "busybox") {
		t.Errorf("system prune without -a removed a tagged image:\n%s", imgs)
	}
	vols := c.ok("volume", "ls", "--format", "{{.Name}}")
	if !strings.Contains(vols, "p-named") || !strings.Contains(vols, anon) {
		t.Errorf("system prune without --volumes removed volumes:\n%s", vols)
	}
	// --volumes: the anonymous volume no container uses goes, the named stays.
	c.ok("system", "prune", "-f", "--volumes")
	vols = c.ok("volume", "ls", "--format", "{{.Name}}")
	if !strings.Contains(vols, "p-named") || strings.Contains(vols, anon) {
		t.Errorf("system prune --volumes: volumes\n%s\nwant p-named kept and %s gone", vols, anon)
	}
	c.ok("rm", "-f", "p-onnet", "p-running")
	// -a: images no container uses go too.
	c.ok("system", "prune", "-a", "-f")
	if imgs := c.ok("images", "-q"); imgs != "" {
		t.Errorf("system prune -a left images:\n%s", imgs)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sortStrings(out)
	return out
}

// zombies counts the processes of container n in state Z, and those named
// comm, from its /proc.
func procStates(t *testing.T, c cli, n, comm string) (zombies, named int) {
	t.Helper()
	out := c.ok("exec", n, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true")
	for _, l := range strings.Split(out, "\n") {
		i := strings.LastIndexByte(l, ')')
		j := strings.IndexByte(l, '(')
		if i < 0 || j < 0 || len(l) < i+3 {
			continue
		}
		if l[i+2] == 'Z' {
			zombies++
		} else if l[j+1:i] == comm {
			named++
		}
	}
	return zombies, named
}

// testInit: under --init an orphan that exits is reaped (no zombie), while
// without it a PID 1 that never waits leaves one; PID 1 is the init.
func testInit(t *testing.T, c cli) {
	script := `sh -c "sleep 0.2 & exit 0"; exec sleep 1000`
	with, without := c.name("init"), c.name("noinit")
	c.ok("run", "-d", "--init", "--name", with, "busybox", "sh", "-c", script)
	c.ok("run", "-d", "--name", without, "busybox", "sh", "-c", script)
	eventually(t, 30*time.Second, "a zombie without --init", func() bool {
		z, _ := procStates(t, c, without, "sleep")
		return z == 1
	})
	eventually(t, 30*time.Second, "the orphan reaped under --init", func() bool {
		z, sleeps := procStates(t, c, with, "sleep")
		return z == 0 && sleeps == 1
	})
	if comm := c.ok("exec", with, "cat", "/proc/1/comm"); comm != "docker-init" && comm != "tini-static" {
		t.Errorf("PID 1 under --init is %q, want the init", comm)
	}
	// Signals reach the command through the init: stop ends it with SIGTERM.
	c.ok("stop", "-t", "30", with)
	if code := c.inspect(with, "{{.State.ExitCode}}"); code != "143" {
		t.Errorf("stop of a --init container: exit code %s, want 143 (SIGTERM forwarded)", code)
	}
}

// testNamespaces: --pid, --ipc, --uts host, -h, --domainname, --annotation.
func testNamespaces(t *testing.T, c cli) {
	hostComm, _ := os.ReadFile("/proc/1/comm")
	if got := c.ok("run", "--rm", "--pid", "host", "busybox", "sh", "-c",
		fmt.Sprintf("cat /proc/1/comm; test -d /proc/%d && echo sees-the-test", os.Getpid())); got != strings.TrimSpace(string(hostComm))+"\nsees-the-test" {
		t.Errorf("--pid host: %q, want the host's PID 1 %q and this test's process", got, hostComm)
	}
	x := c.name("pidowner")
	c.ok("run", "-d", "--name", x, "busybox", "sleep", "1001")
	c.waitStatus(x, "running")
	if got := c.ok("run", "--rm", "--pid", "container:"+x, "busybox", "cat", "/proc/1/cmdline"); !strings.Contains(got, "1001") {
		t.Errorf("--pid container:%s: PID 1's command line %q, want X's sleep 1001", x, got)
	}
	hostIPC, _ := os.Readlink("/proc/self/ns/ipc")
	if got := c.ok("run", "--rm", "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc"); got != hostIPC {
		t.Errorf("--ipc host: %q, want the host's %q", got, hostIPC)
	}
	if got := c.ok("run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc"); got == hostIPC {
		t.Errorf("without --ipc the container shares the host's IPC namespace")
	}
	host, _ := os.Hostname()
	if got := c.ok("run", "--rm", "--uts", "host", "busybox", "hostname"); got != host {
		t.Errorf("--uts host: hostname %q, want %q", got, host)
	}
	if got := c.ok("run", "--rm", "-h", "short-h", "--domainname", "example.org", "busybox", "sh", "-c", "hostname; cat /proc/sys/kernel/domainname"); got != "short-h\nexample.org" {
		t.Errorf("-h and --domainname: %q", got)
	}
	if r := c.run("run", "--help"); r.code != 0 || !strings.Contains(r.stdout, "--hostname value, -h value") {
		t.Errorf("run --help: %s", r)
	}
	a := c.name("annot")
	id := c.ok("create", "--name", a, "--annotation", "org.example.key=v1", "busybox", "true")
	if r := c.s.Ctr("containers", "info", id); !strings.Contains(r.Stdout, `"org.example.key": "v1"`) {
		t.Errorf("--annotation not in the container's spec: %s", r)
	}
}

// testCIDFile: --cidfile gets the ID; an existing file is refused before
// anything is created.
func testCIDFile(t *testing.T, c cli) {
	f := filepath.Join(t.TempDir(), "cid")
	n := c.name("cid")
	id := c.ok("run", "-d", "--cidfile", f, "--name", n, "busybox", "sleep", "1000")
	if b, err := os.ReadFile(f); err != nil || string(b) != id {
		t.Errorf("--cidfile holds %q (%v), want %q", b, err, id)
	}
	n2 := c.name("cid2")
	c.fails(125, []string{"container ID file found, make sure the other container isn't running or delete " + f},
		"run", "-d", "--cidfile", f, "--name", n2, "busybox", "true")
	if c.exists(n2) {
		t.Errorf("a refused --cidfile left container %s", n2)
	}
}

// testCPUAndMemoryFlags: --cpu-period/--cpu-quota, --memory-swappiness and
// --oom-kill-disable reach the container's cgroup; update changes the CFS
// values; --cpus with them is refused.
func testCPUAndMemoryFlags(t *testing.T, c cli) {
	n := c.name("cfs")
	id := c.ok("run", "-d", "--name", n, "--cpu-period", "50000", "--cpu-quota", "25000",
		"--memory", "64m", "--memory-swappiness", "10", "--oom-kill-disable", "busybox", "sleep", "1000")
	if cgroupV2() {
		if got := cgroupFile(t, c, id, "", "", "cpu.max"); got != "25000 50000" {
			t.Errorf("cpu.max %q, want 25000 50000", got)
		}
	} else {
		for file, want := range map[string]string{"cpu.cfs_period_us": "50000", "cpu.cfs_quota_us": "25000"} {
			if got := cgroupFile(t, c, id, "cpu", file, ""); got != want {
				t.Errorf("%s %q, want %s", file, got, want)
			}
		}
		if got := cgroupFile(t, c, id, "memory", "memory.swappiness", ""); got != "10" {
			t.Errorf("memory.swappiness %q, want 10", got)
		}
		if got := cgroupFile(t, c, id, "memory", "memory.oom_control", ""); !strings.Contains(got, "oom_kill_disable 1") {
			t.Errorf("memory.oom_control %q, want oom_kill_disable 1", got)
		}
	}
	c.ok("update", "--cpu-quota", "40000", n)
	if !cgroupV2() {
		if got := cgroupFile(t, c, id, "cpu", "cpu.cfs_quota_us", ""); got != "40000" {
			t.Errorf("after update --cpu-quota 40000: cpu.cfs_quota_us %q", got)
		}
	}
	c.fails(125, []string{"conflicting options: --cpus and --cpu-period/--cpu-quota"},
		"run", "--rm", "--cpus", "1", "--cpu-quota", "50000", "busybox", "true")
}

// testAttachQuietSize: run -a picks the streams, ps --size shows the
// writable layer, logs --details is accepted.
func testAttachQuietSize(t *testing.T, c cli) {
	r := c.run("run", "--rm", "-a", "stderr", "busybox", "sh", "-c", "echo out; echo err >&2")
	if r.code != 0 || r.stdout != "" || strings.TrimSpace(r.stderr) != "err" {
		t.Errorf("run -a stderr: %s", r)
	}
	r = c.runIn(strings.NewReader("piped\n"), "run", "--rm", "-a", "stdin", "-a", "stdout", "busybox", "cat")
	if r.code != 0 || r.stdout != "piped\n" {
		t.Errorf("run -a stdin -a stdout: %s", r)
	}
	c.fails(125, []string{"conflicting options: -a and -d"}, "run", "-d", "-a", "stdout", "busybox", "true")

	n := c.name("size")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c", "head -c 2000000 /dev/zero > /big; exec sleep 1000")
	eventually(t, 30*time.Second, "the 2 MB file", func() bool {
		return c.run("exec", n, "test", "-s", "/big").code == 0
	})
	var size string
	eventually(t, 30*time.Second, "ps --size to count the file", func() bool {
		size = c.ok("ps", "--size", "--filter", "name="+n, "--format", "{{.Size}}")
		return strings.HasPrefix(size, "2MB") || strings.HasPrefix(size, "2.0")
	})
	if !strings.Contains(size, "(virtual ") {
		t.Errorf("ps --size: %q, want the virtual size too", size)
	}
	if out := c.ok("ps", "--size", "--filter", "name="+n); !strings.Contains(out, "SIZE") {
		t.Errorf("ps --size has no SIZE column:\n%s", out)
	}
	if r := c.run("logs", "--details", n); r.code != 0 {
		t.Errorf("logs --details: %s", r)
	}
}

// TestParityQuietPlatform: run --quiet pulls a missing image without
// printing progress; --platform goes to the pull.
func TestParityQuietPlatform(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	ref := reg.Addr() + "/parity/busybox:1"
	c.ok("tag", "busybox", ref)
	c.ok("push", ref)
	c.ok("rmi", ref)

	r := c.run("run", "--rm", "-q", "--platform", "linux/"+runtime.GOARCH, ref, "echo", "ran")
	if r.code != 0 || r.out() != "ran" {
		t.Fatalf("run -q of a missing image: %s", r)
	}
	if strings.Contains(r.stderr, "Unable to find image") || strings.Contains(r.stderr, "Pull") || strings.Contains(r.stderr, "Download") {
		t.Errorf("run -q printed the pull: %q", r.stderr)
	}
}

// testUpdateRestart: update --restart changes the policy of an existing
// container, which the next exits follow; a --rm container refuses it.
func testUpdateRestart(t *testing.T, c cli) {
	n := c.name("updrestart")
	c.ok("create", "--name", n, "busybox", "sh", "-c", "exit 3")
	if out := c.ok("update", "--restart", "on-failure:2", n); out != n {
		t.Errorf("update printed %q", out)
	}
	if got := c.inspect(n, "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"); got != "on-failure 2" {
		t.Errorf("after update --restart on-failure:2: %q", got)
	}
	c.ok("start", n)
	eventually(t, 60*time.Second, "two restarts, then exited", func() bool {
		return c.inspect(n, "{{.RestartCount}} {{.State.Status}}") == "2 exited"
	})
	rm := c.name("updrm")
	c.ok("create", "--rm", "--name", rm, "busybox", "true")
	c.fails(1, []string{"Restart policy cannot be updated because AutoRemove is enabled for the container"}, "update", "--restart", "always", rm)
}
