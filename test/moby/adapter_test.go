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
	return []string{
		"PATH=" + o.adapter + ":" + mobyBin(),
		"DOCKER_INTEGRATION_DAEMON_DEST=" + o.dest,
		"BERTH_MOBY_STACKS=" + o.stacks,
		"BERTH_MOBY_POOL=" + strconv.Itoa(o.pool),
		"BERTH_MOBY_BERTHD=" + filepath.Join(s.Build(), "berthd"),
		"BERTH_MOBY_BIN_DIRS=" + s.Build() + ":" + s.Libexec(),
		"BERTH_MOBY_CNI_BIN_DIR=" + filepath.Join(s.Libexec(), "cni"),
		"BERTH_MOBY_PATH=" + s.Build() + ":" + s.Libexec() + ":" + os.Getenv("PATH"),
	}
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
		found = append(found, st.reap(t)...)
	}
	if err := os.RemoveAll(filepath.Dir(o.stacks)); err != nil {
		t.Errorf("remove %s: %v", filepath.Dir(o.stacks), err)
	}
	return found
}

func (st *adapterStack) reap(t *testing.T) []string {
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
	// mounted: berthd --uninstall detaches what is still attached.
	if out, err := exec.Command(st.Berthd, append(st.Args, "--uninstall")...).CombinedOutput(); err != nil {
		t.Errorf("reap %s: berthd --uninstall: %v\n%s", st.Namespace, err, out)
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", st.Bridge)); err == nil {
		t.Errorf("reap %s: bridge %s left after berthd --uninstall", st.Namespace, st.Bridge)
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
