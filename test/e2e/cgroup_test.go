package e2e

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// Cgroup subtests of TestResources: what the kernel shows of a container's
// cgroup, on cgroup v1 (the development machines) and v2 (make
// test-cgroupv2's VM) alike.

// testCgroupns: on v2 a container has a cgroup namespace of its own by
// default (Docker's rule), so it sees its cgroup as the root; --cgroupns
// host shows the host's path; on v1 the default is host.
func testCgroupns(t *testing.T, c cli) {
	own := func(out string) bool { // every hierarchy's path is "/"
		for _, l := range lines(out) {
			if f := strings.SplitN(l, ":", 3); len(f) != 3 || f[2] != "/" {
				return false
			}
		}
		return out != ""
	}
	def := c.name("cgns-default")
	out := c.ok("run", "--name", def, "--network", "none", "busybox", "cat", "/proc/self/cgroup")
	if cgroupV2() != own(out) {
		t.Errorf("default cgroup namespace (cgroup v2: %v): /proc/self/cgroup\n%s", cgroupV2(), out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup"); !own(out) {
		t.Errorf("--cgroupns private: /proc/self/cgroup\n%s", out)
	}
	h := c.name("cgns-host")
	out = c.ok("run", "--name", h, "--network", "none", "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
	id := c.inspect(h, "{{.ID}}")
	if want := "/" + c.s.Namespace() + "/" + id; !strings.Contains(out, want) {
		t.Errorf("--cgroupns host: /proc/self/cgroup has no %s\n%s", want, out)
	}
	if got := c.inspect(h, "{{.HostConfig.CgroupnsMode}}"); got != "host" {
		t.Errorf("inspect CgroupnsMode %q", got)
	}
}

// testCgroupParent: --cgroup-parent puts the container's cgroup under the
// given one, with its limits there.
func testCgroupParent(t *testing.T, c cli) {
	parent := "berth-e2e-" + strings.ToLower(rand.Text()[:6])
	n := c.name("cgparent")
	t.Cleanup(func() { removeCgroup(parent) })
	id := c.ok("run", "-d", "--name", n, "--network", "none", "--cgroup-parent", parent, "-m", "48m", "busybox", "sleep", "1000")
	var file string
	if cgroupV2() {
		file = filepath.Join("/sys/fs/cgroup", parent, id, "memory.max")
	} else {
		file = filepath.Join("/sys/fs/cgroup/memory", parent, id, "memory.limit_in_bytes")
	}
	if b, err := os.ReadFile(file); err != nil || strings.TrimSpace(string(b)) != "50331648" {
		t.Errorf("memory limit under --cgroup-parent %s: %q, %v (want 50331648 in %s)", parent, b, err, file)
	}
	// The engine finds an OOM kill there too.
	o := c.name("cgparent-oom")
	if r := c.run("run", "--name", o, "--network", "none", "--cgroup-parent", parent, "-m", "16m", "busybox", "tail", "/dev/zero"); r.code != 137 {
		t.Errorf("OOM under --cgroup-parent: want exit code 137; got %s", r)
	} else if got := c.inspect(o, "{{.State.OOMKilled}}"); got != "true" {
		t.Errorf("OOM under --cgroup-parent: OOMKilled %q", got)
	}
	c.ok("rm", "-f", n, o)
}

// removeCgroup removes a test's parent cgroup (runc leaves the parents it
// made) from every hierarchy.
func removeCgroup(rel string) {
	dirs := []string{filepath.Join("/sys/fs/cgroup", rel)}
	if !cgroupV2() {
		dirs, _ = filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", rel))
	}
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}

// testPauseFreezes: pause freezes the container's cgroup (cgroup.freeze on
// v2, the freezer controller on v1) and unpause thaws it.
func testPauseFreezes(t *testing.T, c cli) {
	n := c.name("freeze")
	id := c.ok("run", "-d", "--name", n, "--network", "none", "busybox", "sleep", "1000")
	frozen := func() string {
		if cgroupV2() {
			for _, l := range lines(cgroupFile(t, c, id, "", "", "cgroup.events")) {
				if v, ok := strings.CutPrefix(l, "frozen "); ok {
					return v
				}
			}
			return "?"
		}
		return cgroupFile(t, c, id, "freezer", "freezer.state", "")
	}
	want := map[bool][2]string{true: {"1", "0"}, false: {"FROZEN", "THAWED"}}[cgroupV2()]
	c.ok("pause", n)
	if got := frozen(); got != want[0] {
		t.Errorf("after pause: frozen %q, want %q", got, want[0])
	}
	c.ok("unpause", n)
	if got := frozen(); got != want[1] {
		t.Errorf("after unpause: frozen %q, want %q", got, want[1])
	}
	if out := c.ok("exec", n, "echo", "thawed"); out != "thawed" {
		t.Errorf("exec after unpause: %q", out)
	}
	c.ok("rm", "-f", n)
}

// TestCgroupDriverSystemd: with cgroup_driver = "systemd" a container's
// cgroup is a transient scope systemd made (berth-<id>.scope in
// system.slice, or in the --cgroup-parent slice), with the limits, update
// and OOM detection of the cgroupfs driver. It needs systemd as init: the
// cgroup v2 VM of make test-cgroupv2 has it.
func TestCgroupDriverSystemd(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		t.Skip("the host's init is not systemd (no /run/systemd/system)")
	}
	t.Parallel()
	s := harness.Start(t, harness.WithDaemonArgs("--cgroup-driver", "systemd"))
	s.LoadBusybox()
	c := cli{t: t, s: s}
	scopeFile := func(slice, id, v1controller, file string) string {
		p := filepath.Join("/sys/fs/cgroup", slice, "berth-"+id+".scope", file)
		if !cgroupV2() {
			p = filepath.Join("/sys/fs/cgroup", v1controller, slice, "berth-"+id+".scope", file)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("the container's scope: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	memFile := map[bool]string{true: "memory.max", false: "memory.limit_in_bytes"}[cgroupV2()]

	n := c.name("sd")
	id := c.ok("run", "-d", "--name", n, "--network", "none", "-m", "48m", "--pids-limit", "30", "busybox", "sleep", "1000")
	if got := scopeFile("system.slice", id, "memory", memFile); got != "50331648" {
		t.Errorf("%s of berth-%s.scope: %q, want 50331648", memFile, id, got)
	}
	if got := scopeFile("system.slice", id, "pids", "pids.max"); got != "30" {
		t.Errorf("pids.max of the scope: %q, want 30", got)
	}
	c.ok("update", "--memory", "64m", n)
	if got := scopeFile("system.slice", id, "memory", memFile); got != "67108864" {
		t.Errorf("%s after update: %q, want 67108864", memFile, got)
	}
	c.ok("pause", n)
	c.ok("unpause", n)
	if out := c.ok("exec", n, "echo", "ok"); out != "ok" {
		t.Errorf("exec after unpause: %q", out)
	}
	if got := c.ok("stats", "--no-stream", "--format", "{{.PIDs}}", n); got != "1" {
		t.Errorf("stats PIDs %q, want 1", got)
	}
	c.ok("rm", "-f", n)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", "system.slice", "berth-"+id+".scope")); err == nil && cgroupV2() {
		t.Errorf("berth-%s.scope left after rm -f", id)
	}

	// A slice of the user's as the parent, and an OOM kill found there.
	o := c.name("sd-oom")
	if r := c.run("run", "--name", o, "--network", "none", "--cgroup-parent", "berthtest-oom.slice", "-m", "16m", "busybox", "tail", "/dev/zero"); r.code != 137 {
		t.Errorf("OOM in a slice: want exit code 137; got %s", r)
	} else if got := c.inspect(o, "{{.State.OOMKilled}}"); got != "true" {
		t.Errorf("OOM in a slice: OOMKilled %q", got)
	}
	c.fails(125, []string{"slice name"}, "run", "--rm", "--cgroup-parent", "not/a/slice", "busybox", "true")
}

// testCgroupDelegation: a container sees its cgroup at /sys/fs/cgroup
// (read-only), and nesting works. On v2 a --privileged container with its
// own cgroup namespace gets its cgroup delegated, as docker-in-docker needs:
// it moves itself into a leaf, enables the memory controller for its
// subtree, and a child cgroup's memory.max is enforced (an OOM kill there,
// counted in the child's memory.events). A container that is not
// privileged cannot write its cgroup file system, on v1 and v2.
func testCgroupDelegation(t *testing.T, c cli) {
	// A container reads its own limit in /sys/fs/cgroup, as under Docker
	// (the JVM and Node size themselves from it).
	limit := "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	if cgroupV2() {
		limit = "/sys/fs/cgroup/memory.max"
	}
	if r := c.run("run", "--rm", "--network", "none", "-m", "48m", "busybox", "cat", limit); r.code != 0 || strings.TrimSpace(r.stdout) != "50331648" {
		t.Errorf("a container with -m 48m reading %s: %s, want 50331648", limit, r)
	}
	// (On v1, runc's tmpfs under the hierarchies is writable and harmless:
	// the hierarchies are what must not be.)
	hier := "/sys/fs/cgroup/memory"
	if cgroupV2() {
		hier = "/sys/fs/cgroup"
	}
	if r := c.run("run", "--rm", "--network", "none", "busybox", "mkdir", hier+"/x"); r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("an unprivileged container making a cgroup in %s: %s, want Read-only file system", hier, r)
	}
	// --security-opt writable-cgroups[=BOOL] decides instead, as dockerd's:
	// writable without --privileged, read-only with it.
	mk := "mkdir " + hier + "/x && rmdir " + hier + "/x"
	if r := c.run("run", "--rm", "--network", "none", "--security-opt", "writable-cgroups", "busybox", "sh", "-c", mk); r.code != 0 {
		t.Errorf("writable-cgroups: a cgroup made and removed in %s: %s", hier, r)
	}
	if r := c.run("run", "--rm", "--network", "none", "--privileged", "--security-opt", "writable-cgroups=false", "busybox", "mkdir", hier+"/x"); r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("--privileged with writable-cgroups=false making a cgroup in %s: %s, want Read-only file system", hier, r)
	}
	if !cgroupV2() {
		return // v1 has no delegation to a cgroup namespace; make test-cgroupv2 runs the rest
	}
	script := `set -e
cd /sys/fs/cgroup
mkdir init child
echo 1 > init/cgroup.procs
echo +memory +pids > cgroup.subtree_control
echo 16777216 > child/memory.max
echo 20 > child/pids.max
echo "max=$(cat child/memory.max) pids=$(cat child/pids.max)"
set +e
sh -c 'echo $$ > /sys/fs/cgroup/child/cgroup.procs && exec tail /dev/zero'
echo "exit=$?"
grep oom_kill child/memory.events`
	out := c.ok("run", "--rm", "--network", "none", "--privileged", "--cgroupns", "private", "busybox", "sh", "-c", script)
	for _, want := range []string{"max=16777216 pids=20", "exit=137", "oom_kill 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("a delegated cgroup in a privileged container: want %q in\n%s", want, out)
		}
	}
}
