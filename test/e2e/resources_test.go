package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/pkg/client"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/test/harness"
)

// TestResources checks limits and security defaults on a real stack: the
// kernel, not berth's own bookkeeping, is asked whether they hold.
func TestResources(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c cli)
	}{
		{"OOMKill", testOOMKill},
		{"CgroupFiles", testCgroupFiles},
		{"ForkBomb", testForkBomb},
		{"Update", testUpdate},
		{"Stats", testStats},
		{"StatsAPI", testStatsAPI},
		{"UpdateStopped", testUpdateStopped},
		{"NetAdmin", testNetAdmin},
		{"Confinement", testConfinement},
		{"Capabilities", testCapabilities},
		{"MaskedPaths", testMaskedPaths},
		{"Devices", testDevices},
		{"Ulimit", testUlimit},
		{"BadOptions", testResourceErrors},
		{"Cgroupns", testCgroupns},
		{"CgroupParent", testCgroupParent},
		{"PauseFreezes", testPauseFreezes},
		{"CgroupDelegation", testCgroupDelegation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, cli{t: t, s: s})
		})
	}
	t.Run("SocketPermissions", func(t *testing.T) { testSocketPermissions(t, s) })
}

// cgroupFile reads a file of the container's cgroup as the host sees it
// (cgroup v1 controller hierarchies, or the unified hierarchy on v2).
func cgroupFile(t *testing.T, c cli, id, controller, v1file, v2file string) string {
	t.Helper()
	var p string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		p = filepath.Join("/sys/fs/cgroup", c.s.Namespace(), id, v2file)
	} else {
		p = filepath.Join("/sys/fs/cgroup", controller, c.s.Namespace(), id, v1file)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading the container's cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

func testOOMKill(t *testing.T, c cli) {
	n := c.name("oom")
	defer c.cleanup(n)
	since := time.Now().Add(-time.Second).Format(time.RFC3339Nano)
	// tail keeps the whole "line" of /dev/zero in memory: it grows until
	// the cgroup's limit kills it (this machine has no swap; with swap the
	// default memory+swap limit is twice the memory).
	r := c.run("run", "--name", n, "-m", "16m", "busybox", "tail", "/dev/zero")
	if r.code != 137 {
		t.Fatalf("want exit code 137 (SIGKILL by the OOM killer); got %s", r)
	}
	if got := c.inspect(n, "{{.State.OOMKilled}} {{.State.ExitCode}}"); got != "true 137" {
		t.Errorf("inspect State.OOMKilled ExitCode: %q, want \"true 137\"", got)
	}
	until := time.Now().Add(time.Second).Format(time.RFC3339Nano)
	out := c.ok("events", "--since", since, "--until", until, "--filter", "container="+n, "--format", "{{.Action}}")
	if !strings.Contains(out, "oom") {
		t.Errorf("no oom event for %s; events:\n%s", n, out)
	}
	// The same through containerd's runc shim.
	o := c.name("oom-runc")
	defer c.cleanup(o)
	if r := c.run("run", "--name", o, "--runtime", "io.containerd.runc.v2", "-m", "16m", "busybox", "tail", "/dev/zero"); r.code != 137 {
		t.Errorf("runc shim: want exit code 137; got %s", r)
	} else if got := c.inspect(o, "{{.State.OOMKilled}}"); got != "true" {
		t.Errorf("runc shim: OOMKilled %q", got)
	}
	// OOMKilled is there as soon as inspect says the container exited,
	// before berthd has handled its exit (moby's TestInspectOomKilledTrue
	// polls for "exited", then reads it once).
	d := c.name("oom-d")
	defer c.cleanup(d)
	c.ok("run", "-d", "--name", d, "-m", "16m", "busybox", "tail", "/dev/zero")
	var got string
	eventually(t, time.Minute, "the OOM-killed container exits", func() bool {
		got = c.inspect(d, "{{.State.Status}} {{.State.OOMKilled}}")
		return !strings.HasPrefix(got, "running")
	})
	if got != "exited true" {
		t.Errorf("first inspect after the exit: %q, want \"exited true\"", got)
	}
	// A container that exits normally is not OOMKilled.
	m := c.name("nooom")
	defer c.cleanup(m)
	c.ok("run", "--name", m, "-m", "16m", "busybox", "true")
	if got := c.inspect(m, "{{.State.OOMKilled}}"); got != "false" {
		t.Errorf("OOMKilled of a clean exit: %q", got)
	}
}

func testCgroupFiles(t *testing.T, c cli) {
	n := c.name("cg")
	defer c.cleanup(n)
	id := c.ok("run", "-d", "--name", n, "--cpus", "0.5", "--memory", "64m", "--pids-limit", "50",
		"--cpu-shares", "512", "busybox", "sleep", "1000")
	if cgroupV2() {
		if got := cgroupFile(t, c, id, "", "", "cpu.max"); got != "50000 100000" {
			t.Errorf("cpu.max %q, want \"50000 100000\"", got)
		}
		if got := cgroupFile(t, c, id, "", "", "memory.max"); got != "67108864" {
			t.Errorf("memory.max %q", got)
		}
		// runc's (1.3 and later) conversion of --cpu-shares 512 to a
		// cgroup v2 weight, where the default 1024 is the default 100.
		if got := cgroupFile(t, c, id, "", "", "cpu.weight"); got != "59" {
			t.Errorf("cpu.weight %q, want 59", got)
		}
	} else {
		if got := cgroupFile(t, c, id, "cpu", "cpu.cfs_quota_us", ""); got != "50000" {
			t.Errorf("cpu.cfs_quota_us %q, want 50000", got)
		}
		if got := cgroupFile(t, c, id, "cpu", "cpu.cfs_period_us", ""); got != "100000" {
			t.Errorf("cpu.cfs_period_us %q, want 100000", got)
		}
		if got := cgroupFile(t, c, id, "cpu", "cpu.shares", ""); got != "512" {
			t.Errorf("cpu.shares %q, want 512", got)
		}
		if got := cgroupFile(t, c, id, "memory", "memory.limit_in_bytes", ""); got != "67108864" {
			t.Errorf("memory.limit_in_bytes %q, want 67108864", got)
		}
	}
	if got := cgroupFile(t, c, id, "pids", "pids.max", "pids.max"); got != "50" {
		t.Errorf("pids.max %q, want 50", got)
	}
	// inspect shows what was asked.
	if got := c.inspect(n, "{{.HostConfig.Memory}} {{.HostConfig.NanoCPUs}} {{.HostConfig.PidsLimit}}"); got != "67108864 500000000 50" {
		t.Errorf("inspect resources: %q", got)
	}
}

// testForkBomb runs a bounded fork loop (100 background sleeps at most)
// under --pids-limit 20: the kernel refuses the forks past the limit, the
// container keeps its 20 processes, and the host and berthd keep answering.
func testForkBomb(t *testing.T, c cli) {
	n := c.name("fork")
	defer c.cleanup(n)
	id := c.ok("run", "-d", "--name", n, "--pids-limit", "20", "busybox", "sleep", "1000")
	r := c.run("exec", n, "sh", "-c", "i=0; while [ $i -lt 100 ]; do sleep 1000 >/dev/null 2>&1 & i=$((i+1)); done; echo all-forked")
	if r.code == 0 || strings.Contains(r.stdout, "all-forked") {
		t.Fatalf("100 forks under --pids-limit 20 succeeded: %s", r)
	}
	if !strings.Contains(r.stderr, "fork") {
		t.Errorf("want a fork failure on stderr; got %s", r)
	}
	// pids.current counts the container's live processes: at the limit,
	// less the exec'd shell that has exited.
	if got := cgroupFile(t, c, id, "pids", "pids.current", "pids.current"); got != "20" && got != "19" {
		t.Errorf("pids.current %q, want the limit of 20 (19 once the shell exited)", got)
	}
	// The host still answers: berthd lists the container, and the
	// container's count is reported by stats.
	if out := c.ok("ps", "--format", "{{.Names}}", "--filter", "name="+n); out != n {
		t.Errorf("ps after the fork loop: %q", out)
	}
	out := c.ok("stats", "--no-stream", "--format", "{{.PIDs}}", n)
	if p, err := strconv.Atoi(out); err != nil || p < 10 || p > 20 {
		t.Errorf("stats PIDs %q, want between 10 and 20", out)
	}
	c.ok("rm", "-f", n)
}

func testUpdate(t *testing.T, c cli) {
	n := c.name("upd")
	defer c.cleanup(n)
	id := c.ok("run", "-d", "--name", n, "-m", "64m", "busybox", "sleep", "1000")
	memFile := func() string {
		if cgroupV2() {
			return cgroupFile(t, c, id, "", "", "memory.max")
		}
		return cgroupFile(t, c, id, "memory", "memory.limit_in_bytes", "")
	}
	if got := memFile(); got != "67108864" {
		t.Fatalf("memory limit before update %q", got)
	}
	if out := c.ok("update", "--memory", "128m", "--pids-limit", "30", n); out != n {
		t.Errorf("update printed %q", out)
	}
	if got := memFile(); got != "134217728" {
		t.Errorf("memory limit after update %q, want 134217728", got)
	}
	if got := cgroupFile(t, c, id, "pids", "pids.max", "pids.max"); got != "30" {
		t.Errorf("pids.max after update %q, want 30", got)
	}
	// The new limit is kept for the next start.
	c.ok("restart", "-t", "0", n)
	if got := memFile(); got != "134217728" {
		t.Errorf("memory limit after restart %q, want 134217728", got)
	}
	if got := c.inspect(n, "{{.HostConfig.Memory}}"); got != "134217728" {
		t.Errorf("inspect after update: %q", got)
	}
	c.fails(125, []string{"at least one option"}, "update", n)
	c.fails(1, []string{"No such container"}, "update", "--memory", "64m", n+"-missing")
}

func testStats(t *testing.T, c cli) {
	n := c.name("stats")
	defer c.cleanup(n)
	c.ok("run", "-d", "--name", n, "-m", "64m", "busybox", "sh", "-c", "sleep 1000 & sleep 1000 & wait")
	out := c.ok("stats", "--no-stream", n)
	l := lines(out)
	if len(l) != 2 || !strings.HasPrefix(l[0], "CONTAINER ID") || !strings.Contains(l[0], "MEM USAGE / LIMIT") {
		t.Fatalf("stats table:\n%s", out)
	}
	if !strings.Contains(l[1], n) || !strings.Contains(l[1], "/ 64MiB") {
		t.Errorf("stats row %q: want the name and the 64MiB limit", l[1])
	}
	if got := c.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", n); got != n+" 3" {
		t.Errorf("stats --format: %q, want %q", got, n+" 3")
	}
	if got := c.ok("stats", "--no-stream", "--format", "json", n); !strings.Contains(got, `"Name":"`+n+`"`) || !strings.Contains(got, `"PIDs":"3"`) {
		t.Errorf("stats --format json: %s", got)
	}
	if got, id := c.ok("stats", "--no-stream", "--no-trunc", "--format", "{{.ID}}", n), c.inspect(n, "{{.ID}}"); got != id {
		t.Errorf("stats --no-trunc ID %q, want %q", got, id)
	}
	// A stopped container is listed with -a and shows zeros.
	m := c.name("stats-stopped")
	defer c.cleanup(m)
	c.ok("create", "--name", m, "busybox", "true")
	if got := c.ok("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.PIDs}}", m); got != m+" 0.00% 0" {
		t.Errorf("stats of a created container: %q", got)
	}
	// The live view keeps printing samples until stopped.
	st := c.start("stats", "--format", "{{.Name}} {{.PIDs}}", n)
	st.waitFor(n+" 3\n"+n+" 3", 30*time.Second)
	st.stop()
}

func testNetAdmin(t *testing.T, c cli) {
	add := []string{"busybox", "ip", "link", "add", "bt0", "type", "bridge"}
	c.fails(2, []string{"not permitted"}, append([]string{"run", "--rm", "--network", "none"}, add...)...)
	c.ok(append([]string{"run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN"}, add...)...)
}

func testConfinement(t *testing.T, c cli) {
	if r := c.run("run", "--rm", "--network", "none", "busybox", "unshare", "-n", "true"); r.code == 0 {
		t.Errorf("unshare inside a default container worked: %s", r)
	}
	if r := c.run("run", "--rm", "--network", "none", "busybox", "mount", "-t", "tmpfs", "none", "/mnt"); r.code == 0 || !strings.Contains(r.stderr, "denied") {
		t.Errorf("mount inside a default container: want permission denied; got %s", r)
	}
	// no-new-privileges shows in the process status; it is off by default, as in Docker.
	if out := c.ok("run", "--rm", "--network", "none", "busybox", "grep", "NoNewPrivs", "/proc/self/status"); !strings.HasSuffix(out, "0") {
		t.Errorf("default no_new_privs: %q, want 0", out)
	}
	out := c.ok("run", "--rm", "--network", "none", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
	if !strings.HasSuffix(out, "1") {
		t.Errorf("no-new-privileges: %q", out)
	}
	// The default seccomp profile is on, unconfined turns it off.
	if out := c.ok("run", "--rm", "--network", "none", "busybox", "grep", "Seccomp:", "/proc/self/status"); !strings.HasSuffix(out, "2") {
		t.Errorf("default: %q, want seccomp mode 2 (filter)", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/self/status"); !strings.HasSuffix(out, "0") {
		t.Errorf("seccomp=unconfined: %q, want 0", out)
	}
	// A profile file: deny mkdir with EPERM, allow the rest.
	prof := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := c.run("run", "--rm", "--network", "none", "--security-opt", "seccomp="+prof, "busybox", "mkdir", "/x"); r.code == 0 {
		t.Errorf("mkdir under a profile denying it worked: %s", r)
	}
	// --privileged drops the default profile, not one given (moby#47499).
	if r := c.run("run", "--rm", "--network", "none", "--privileged", "--security-opt", "seccomp="+prof, "busybox", "mkdir", "/x"); r.code == 0 {
		t.Errorf("mkdir under a profile denying it worked with --privileged: %s", r)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--privileged", "busybox", "grep", "Seccomp:", "/proc/self/status"); !strings.HasSuffix(out, "0") {
		t.Errorf("--privileged: %q, want seccomp off", out)
	}
}

func testCapabilities(t *testing.T, c cli) {
	capEff := func(args ...string) string {
		out := c.ok(append(append([]string{"run", "--rm", "--network", "none"}, args...), "busybox", "grep", "CapEff", "/proc/self/status")...)
		return strings.TrimSpace(strings.TrimPrefix(out, "CapEff:"))
	}
	// Docker's 14 default capabilities.
	if got := capEff(); got != "00000000a80425fb" {
		t.Errorf("default CapEff %s, want Docker's 00000000a80425fb", got)
	}
	if got := capEff("--cap-drop", "ALL"); got != "0000000000000000" {
		t.Errorf("--cap-drop ALL: CapEff %s", got)
	}
	if got := capEff("--cap-drop", "ALL", "--cap-add", "CHOWN"); got != "0000000000000001" {
		t.Errorf("--cap-drop ALL --cap-add CHOWN: CapEff %s", got)
	}
	if got := capEff("--cap-drop", "chown"); got != "00000000a80425fa" {
		t.Errorf("--cap-drop chown: CapEff %s", got)
	}
	c.fails(125, []string{"unknown capability"}, "run", "--rm", "--cap-add", "NOPE", "busybox", "true")
}

func testMaskedPaths(t *testing.T, c cli) {
	// Masked /proc files are /dev/null (character device 1,3) inside.
	// /proc/kcore is one; this kernel may be built without it, so every
	// masked file the host has is checked.
	checked := 0
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		checked++
		if got := c.ok("run", "--rm", "--network", "none", "busybox", "stat", "-c", "%F %t,%T", p); got != "character special file 1,3" {
			t.Errorf("%s in a default container: %q, want the masking /dev/null", p, got)
		}
		if got := c.ok("run", "--rm", "--network", "none", "--privileged", "busybox", "stat", "-c", "%F", p); !strings.HasPrefix(got, "regular") {
			t.Errorf("%s with --privileged: %q, want the real file", p, got)
		}
	}
	if checked == 0 {
		t.Error("the host has none of /proc/kcore, /proc/keys, /proc/timer_list")
	}
	if r := c.run("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo 1 > /proc/sys/kernel/panic"); r.code == 0 {
		t.Errorf("/proc/sys is writable: %s", r)
	}
}

func testDevices(t *testing.T, c cli) {
	const dev = "/dev/kmsg"
	if _, err := os.Stat(dev); err != nil {
		t.Skipf("host has no %s", dev)
	}
	if out := c.ok("run", "--rm", "--network", "none", "busybox", "ls", "/dev"); strings.Contains(out, "kmsg") {
		t.Errorf("a default container sees %s: %s", dev, out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--privileged", "busybox", "ls", "/dev"); !strings.Contains(out, "kmsg") || !strings.Contains(out, "loop0") {
		t.Errorf("--privileged does not see the host's devices: %s", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--device", dev+":/dev/mykmsg:r", "busybox", "stat", "-c", "%F", "/dev/mykmsg"); out != "character special file" {
		t.Errorf("--device: %q", out)
	}
}

func testUlimit(t *testing.T, c cli) {
	if out := c.ok("run", "--rm", "--network", "none", "--ulimit", "nofile=512:1024", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"); out != "512\n1024" {
		t.Errorf("--ulimit nofile=512:1024: %q", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--shm-size", "8m", "busybox", "df", "-k", "/dev/shm"); !strings.Contains(out, " 8192 ") {
		t.Errorf("--shm-size 8m: %q", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward"); out != "1" {
		t.Errorf("--sysctl: %q", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--oom-score-adj", "500", "busybox", "cat", "/proc/self/oom_score_adj"); out != "500" {
		t.Errorf("--oom-score-adj: %q", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--user", "1000", "--group-add", "27", "busybox", "id", "-G"); out != "0 27" && out != "27" && !strings.Contains(out, "27") {
		t.Errorf("--group-add 27: id -G %q", out)
	}
	// Names resolve in the image's /etc/passwd and /etc/group.
	if out := c.ok("run", "--rm", "--network", "none", "--user", "nobody:wheel", "--group-add", "daemon", "--group-add", "27",
		"busybox", "sh", "-c", "echo $(id -u) $(id -g) $(id -G)"); out != "65534 10 10 1 27" {
		t.Errorf("--user nobody:wheel --group-add daemon --group-add 27: %q", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--user", "daemon", "busybox", "sh", "-c", "echo $(id -u) $(id -g)"); out != "1 1" {
		t.Errorf("--user daemon: %q", out)
	}
	// A uid alone runs with its passwd entry's group, and a user without
	// a group in the groups that list it, as with dockerd.
	if out := c.ok("run", "--rm", "--network", "none", "--user", "1", "busybox", "sh", "-c", "echo $(id -u) $(id -g)"); out != "1 1" {
		t.Errorf("--user 1: %q", out)
	}
	if out := c.ok("run", "--rm", "--network", "none", "--user", "root", "busybox", "id", "-G"); out != "0 10" {
		t.Errorf("--user root: id -G %q, want 0 10 (wheel lists root in busybox's /etc/group)", out)
	}
	c.fails(125, []string{"unable to find group no-such-group"}, "run", "--rm", "--group-add", "no-such-group", "busybox", "true")
}

func testResourceErrors(t *testing.T, c cli) {
	c.fails(125, []string{"minimum memory limit"}, "run", "--rm", "-m", "1m", "busybox", "true")
	c.fails(125, []string{"not allowed"}, "run", "--rm", "--sysctl", "kernel.panic=1", "busybox", "true")
	c.fails(125, []string{"invalid --cpus"}, "run", "--rm", "--cpus", "x", "busybox", "true")
	if _, err := os.Stat("/sys/module/apparmor/parameters/enabled"); err != nil {
		c.fails(125, []string{"AppArmor is not enabled"}, "run", "--rm", "--security-opt", "apparmor=docker-default", "busybox", "true")
	}
}

// testSocketPermissions: the API socket is 0660; a user outside its group
// is refused at connect, before any request; a member of the group is let in.
func testSocketPermissions(t *testing.T, s *harness.Stack) {
	fi, err := os.Stat(s.Socket())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("API socket mode %v, want srw-rw----", fi.Mode())
	}
	st := fi.Sys().(*syscall.Stat_t)
	// Let other users reach the socket's directory, so only the socket's
	// own mode decides (the stack's dirs are private by default).
	for d := filepath.Dir(s.Socket()); strings.HasPrefix(d, s.Dir()); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	const nobody = 65534
	run := func(gid uint32, groups []uint32) (string, error) {
		cmd := exec.Command(filepath.Join(s.Build(), "berth"), "-H", s.Host(), "version")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: gid, Groups: groups}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(nobody, nil); err == nil || !strings.Contains(strings.ToLower(out), "permission denied") {
		t.Errorf("a user outside the socket's group: want permission denied; got %v: %s", err, out)
	}
	if out, err := run(nobody, []uint32{st.Gid}); err != nil {
		t.Errorf("a member of the socket's group (gid %d): %v: %s", st.Gid, err, out)
	}
	if conn, err := net.Dial("unix", s.Socket()); err != nil {
		t.Errorf("root cannot connect: %v", err)
	} else {
		conn.Close()
	}
}

// testStatsAPI reads the same numbers through the Go client: a stream of
// samples with the container's limits and growing counters.
func testStatsAPI(t *testing.T, c cli) {
	n := c.name("stats-api")
	defer c.cleanup(n)
	// A bounded busy loop: 200000 iterations of shell arithmetic.
	c.ok("run", "-d", "--name", n, "-m", "32m", "--pids-limit", "40", "busybox", "sh", "-c",
		"i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 1000")
	ctx, cancel := context.WithTimeout(context.Background(), harness.Timeout(time.Minute))
	defer cancel()
	cl, err := client.New(ctx, c.s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var samples []*containertypes.Stats
	errEnough := errors.New("enough")
	err = cl.Stats(ctx, n, client.StatsOptions{Interval: 200 * time.Millisecond}, func(s *containertypes.Stats) error {
		samples = append(samples, s)
		if len(samples) == 3 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("stats stream: %v after %d samples", err, len(samples))
	}
	first, last := samples[0], samples[2]
	if !last.Running || last.MemoryLimit != 32<<20 || last.PidsLimit != 40 || last.Pids < 1 {
		t.Errorf("sample %+v: want running, limit 32MiB, pids limit 40", last)
	}
	if last.CPUUsage == 0 || last.CPUUsage < first.CPUUsage {
		t.Errorf("container CPU time %d then %d: want a growing, non-zero counter", first.CPUUsage, last.CPUUsage)
	}
	if last.SystemCPUUsage <= first.SystemCPUUsage || last.OnlineCPUs == 0 {
		t.Errorf("host CPU %d then %d, %d CPUs", first.SystemCPUUsage, last.SystemCPUUsage, last.OnlineCPUs)
	}
	if last.MemoryUsage == 0 {
		t.Errorf("memory usage 0")
	}
	var one []*containertypes.Stats
	if err := cl.Stats(ctx, n, client.StatsOptions{NoStream: true}, func(s *containertypes.Stats) error {
		one = append(one, s)
		return nil
	}); err != nil || len(one) != 1 {
		t.Errorf("no-stream: %d samples, %v", len(one), err)
	}
}

// testUpdateStopped: the limits of a stopped container change for its next start.
func testUpdateStopped(t *testing.T, c cli) {
	n := c.name("upd-stopped")
	defer c.cleanup(n)
	c.ok("create", "--name", n, "--pids-limit", "10", "busybox", "sleep", "1000")
	c.ok("update", "--pids-limit", "25", "--cpus", "0.25", n)
	id := c.inspect(n, "{{.ID}}")
	c.ok("start", n)
	if got := cgroupFile(t, c, id, "pids", "pids.max", "pids.max"); got != "25" {
		t.Errorf("pids.max after update of the stopped container %q, want 25", got)
	}
	if cgroupV2() {
		if got := cgroupFile(t, c, id, "", "", "cpu.max"); got != "25000 100000" {
			t.Errorf("cpu.max %q, want \"25000 100000\"", got)
		}
	} else if got := cgroupFile(t, c, id, "cpu", "cpu.cfs_quota_us", ""); got != "25000" {
		t.Errorf("cpu.cfs_quota_us %q, want 25000", got)
	}
}
