package moby

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// The tests that start a daemon of their own (moby's testutil/daemon) run
// `dockerd` from $PATH: berth's adapter (./dockerd), which execs a private
// berthd with the equivalent settings and records the stack in the test
// process's stacks dir. After each test process the runner ends what its
// stacks left running and removes their network (reapStacks).

// compileAdapter compiles ./dockerd into a dir of the run's own (it is
// berth's code: it changes between runs, and runs of several checkouts
// share the work dir) and returns that dir.
func compileAdapter(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(goBinary(t), "build", "-o", filepath.Join(dir, "dockerd"), "./dockerd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile the dockerd adapter: %v\n%s", err, out)
	}
	return dir
}

// ownDaemons is the environment of one test process for the daemons it
// starts: where testutil puts their dirs (DEST), where the adapter records
// their stacks, and berthd's binaries and network.
type ownDaemons struct {
	dest, stacks string
	pool         int
	adapter      string // the dir of the dockerd adapter
	netns        string // the test's network namespace (newNetns), or ""
}

func newOwnDaemons(t *testing.T, pool int, adapter string) *ownDaemons {
	t.Helper()
	base, err := os.MkdirTemp(workDir(), "run-")
	if err != nil {
		t.Fatal(err)
	}
	o := &ownDaemons{dest: filepath.Join(base, "dest"), stacks: filepath.Join(base, "stacks"), pool: pool, adapter: adapter}
	for _, d := range []string{o.dest, o.stacks} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func (o *ownDaemons) env(s *harness.Stack) []string {
	env := []string{
		"PATH=" + o.adapter + ":" + mobyBin(),
		"DOCKER_INTEGRATION_DAEMON_DEST=" + o.dest,
		"BERTH_MOBY_STACKS=" + o.stacks,
		"BERTH_MOBY_POOL=" + strconv.Itoa(o.pool),
		"BERTH_MOBY_BERTHD=" + filepath.Join(s.Build(), "berthd"),
		"BERTH_MOBY_BIN_DIRS=" + s.Build() + ":" + s.Libexec(),
		"BERTH_MOBY_CNI_BIN_DIR=" + filepath.Join(s.Libexec(), "cni"),
		"BERTH_MOBY_PATH=" + s.Build() + ":" + s.Libexec() + ":" + os.Getenv("PATH"),
	}
	if o.netns != "" {
		// The test's network namespace is its own: the default bridge
		// is docker0, as dockerd's, and the test may run ip and iptables
		// (after the adapter's dockerd on PATH).
		env[0] += ":/usr/sbin:/usr/bin:/sbin:/bin"
		env = append(env, "BERTH_MOBY_DOCKER0=1")
	}
	return env
}

// newNetns makes the test process a network namespace of its own, for the
// tests that delete docker0 and flush iptables' tables (integration/network's
// delInterface): loopback up and, with docker0, a docker0 link as moby's CI
// host has (its dockerd's bridge) for the test that deletes it first. That
// one is an ifb link, not a bridge: testutil re-creates a deleted docker0
// after the test with every attribute it read (netlink), vlan_filtering
// included, which a kernel without CONFIG_BRIDGE_VLAN_FILTERING (this
// machine's) refuses for a bridge; nor has this kernel dummy links. The namespace is kept by a bind mount of
// its own (the file returned, for nsenter), so that reap can uninstall the
// stacks' networks in it; reap then removes it, and with it all that the
// test left there (links, routes, iptables and nftables rules).
func (o *ownDaemons) newNetns(t *testing.T, docker0 bool) string {
	t.Helper()
	o.netns = filepath.Join(filepath.Dir(o.stacks), "netns")
	if err := os.WriteFile(o.netns, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := "ip link set lo up"
	if docker0 {
		script += "; ip link add docker0 type ifb"
	}
	out, err := exec.Command("unshare", "--net="+o.netns, "--", "sh", "-ec", script).CombinedOutput()
	if err != nil {
		o.removeNetns(t)
		_ = os.RemoveAll(filepath.Dir(o.stacks))
		t.Fatalf("make a network namespace: %v\n%s", err, out)
	}
	return o.netns
}

// inNetns is cmd run in the test's network namespace (the host's if none).
func (o *ownDaemons) inNetns(name string, args ...string) *exec.Cmd {
	if o.netns == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("nsenter", append([]string{"--net=" + o.netns, "--", name}, args...)...)
}

// removeNetns ends what still runs in the test's network namespace, by PID,
// and removes it. It returns what it found running.
func (o *ownDaemons) removeNetns(t *testing.T) []string {
	t.Helper()
	if o.netns == "" {
		return nil
	}
	var found []string
	var st syscall.Stat_t
	if err := syscall.Stat(o.netns, &st); err == nil {
		want := fmt.Sprintf("net:[%d]", st.Ino)
		for _, pid := range allPIDs() {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); l == want {
				found = append(found, fmt.Sprintf("process %d in the test's network namespace: %s", pid, cmdline(pid)))
				_ = syscall.Kill(pid, syscall.SIGKILL)
				waitGone(pid, 10*time.Second)
			}
		}
	}
	if err := syscall.Unmount(o.netns, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
		t.Errorf("umount the test's network namespace %s: %v", o.netns, err)
	}
	if err := os.Remove(o.netns); err != nil {
		t.Errorf("remove %s: %v", o.netns, err)
	}
	o.netns = ""
	return found
}

// adapterStack is a stack's record (./dockerd's Stack).
type adapterStack struct {
	Namespace string   `json:"namespace"`
	Root      string   `json:"root"`
	State     string   `json:"state"`
	Bridge    string   `json:"bridge"`
	Firewall  string   `json:"firewall_prefix"`
	Berthd    string   `json:"berthd"`
	Args      []string `json:"args"`
}

// reap ends what the test process's stacks left: a berthd still running
// (the test did not stop it) gets SIGTERM, then the stack's processes
// (containerd, shims, containers) SIGKILL, by PID; its mounts are
// unmounted, `berthd --uninstall` removes its bridges and nftables table,
// its cgroups and dirs go. It returns what it found running, and fails t
// when something cannot be cleaned.
func (o *ownDaemons) reap(t *testing.T) []string {
	t.Helper()
	var found []string
	if o.netns != "" {
		// newNetns's docker0 stand-in (testutil puts it back after the
		// test): berthd --uninstall leaves a docker0 that is no bridge.
		_ = o.inNetns("sh", "-c", "if ip -d -o link show dev docker0 | grep -qw ifb; then ip link delete docker0; fi").Run()
	}
	files, _ := filepath.Glob(filepath.Join(o.stacks, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		var st adapterStack
		if err := json.Unmarshal(b, &st); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		found = append(found, st.reap(t, o)...)
	}
	found = append(found, o.removeNetns(t)...)
	if err := os.RemoveAll(filepath.Dir(o.stacks)); err != nil {
		t.Errorf("remove %s: %v", filepath.Dir(o.stacks), err)
	}
	return found
}

func (st *adapterStack) reap(t *testing.T, o *ownDaemons) []string {
	t.Helper()
	if !filepath.IsAbs(st.Root) || !filepath.IsAbs(st.State) || st.Namespace == "" || len(st.Root) < 5 || len(st.State) < 5 {
		t.Errorf("reap: record of stack %q names no dirs of its own (root %q, state %q)", st.Namespace, st.Root, st.State)
		return nil
	}
	var found []string
	// berthd first, cleanly: it stops its containerd.
	for _, pid := range st.processes() {
		if filepath.Base(exe(pid)) == "berthd" {
			found = append(found, fmt.Sprintf("berthd %d (%s)", pid, st.Namespace))
			_ = syscall.Kill(pid, syscall.SIGTERM)
			waitGone(pid, 30*time.Second)
		}
	}
	// Containers before their shims, so that none is left orphaned.
	for pass := 0; pass < 2; pass++ {
		pids := st.containerProcesses()
		if pass == 1 {
			pids = st.processes()
		}
		for _, pid := range pids {
			found = append(found, fmt.Sprintf("process %d: %s", pid, cmdline(pid)))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range pids {
			waitGone(pid, 10*time.Second)
		}
	}
	// The network goes first, while the containers' netns are still
	// mounted: berthd --uninstall detaches what is still attached. In the
	// test's network namespace, if it has one: its network is there.
	// Tried again on failure (logged): a berthd that just exited may
	// still hold its state dir's lock for a moment.
	for try := 1; ; try++ {
		out, err := o.inNetns(st.Berthd, append(st.Args, "--uninstall")...).CombinedOutput()
		if err == nil {
			break
		}
		if try == 3 {
			t.Errorf("reap %s: berthd --uninstall: %v\n%s", st.Namespace, err, out)
			break
		}
		t.Logf("reap %s: berthd --uninstall (try %d): %v\n%s", st.Namespace, try, err, out)
		time.Sleep(time.Second)
	}
	if err := o.inNetns("ip", "link", "show", "dev", st.Bridge).Run(); err == nil {
		t.Errorf("reap %s: bridge %s left after berthd --uninstall", st.Namespace, st.Bridge)
	}
	if o.netns != "" && st.Firewall != "" {
		// The stack's network was the test's namespace's: none of it on
		// the host.
		if exec.Command("nft", "list", "table", "ip", strings.ToLower(st.Firewall)).Run() == nil {
			t.Errorf("reap %s: its nftables table ip %s is on the host, not in the test's network namespace", st.Namespace, strings.ToLower(st.Firewall))
		}
	}
	mounts := append(mountsUnder(st.Root), mountsUnder(st.State)...)
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Errorf("reap %s: umount %s: %v", st.Namespace, m, err)
		}
	}
	removeCgroups(st.Namespace)
	for _, d := range []string{st.State, st.Root} {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("reap %s: %v", st.Namespace, err)
		}
	}
	return found
}

// processes are those whose command line, working dir or executable names
// the stack's root or state dir: berthd, containerd, shims, loggers.
func (st *adapterStack) processes() []int {
	var pids []int
	for _, pid := range allPIDs() {
		if st.mentions(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (st *adapterStack) mentions(pid int) bool {
	c := cmdline(pid) + " "
	for _, d := range []string{st.Root, st.State} {
		if strings.Contains(c, d+"/") || strings.Contains(c, d+" ") {
			return true
		}
		for _, link := range []string{"cwd", "exe", "root"} {
			if p, err := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, link)); err == nil && strings.HasPrefix(p+"/", d+"/") {
				return true
			}
		}
	}
	return false
}

// containerProcesses are those in the cgroups of the stack's containers
// (/<namespace>/<id>).
func (st *adapterStack) containerProcesses() []int {
	var pids []int
	for _, pid := range allPIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err == nil && strings.Contains(string(b), ":/"+st.Namespace+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid != os.Getpid() && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func waitGone(pid int, timeout time.Duration) {
	deadline := time.Now().Add(harness.Timeout(timeout))
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for end := time.Now().Add(harness.Timeout(10 * time.Second)); alive(pid) && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func exe(pid int) string {
	p, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return p
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// mountsUnder lists the mount points under dir (dir included).
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroups removes the cgroups containerd made for the namespace's
// containers (/<namespace> in every hierarchy), deepest first.
func removeCgroups(ns string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) == 0 || (g[0] != "cgroup" && g[0] != "cgroup2") || f[3] != "/" {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(f[4], ns), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}
