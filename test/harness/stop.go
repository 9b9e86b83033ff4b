package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stop removes every container, stops berthd (which stops its containerd
// and snapshotter) and fails the test if the stack left anything behind;
// then it removes the stack's dirs. It is registered with t.Cleanup by
// Start and may be called earlier; later calls do nothing.
func (s *Stack) Stop() {
	s.t.Helper()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	t := s.t
	defer s.removeDir()
	defer s.releasePool()

	// A test that killed berthd without restarting it leaves containerd
	// (and the containers) running: bring berthd back to clean up.
	if s.DaemonPID() == 0 && processAlive(s.ContainerdPID()) {
		if err := s.startDaemon(); err != nil {
			t.Errorf("harness: restart berthd to clean up: %v", err)
		}
	}
	if s.DaemonPID() != 0 {
		s.removeAllContainers()
		s.pruneBuildCache()
		s.checkContainerd()
	}
	children := map[string]int{"containerd": s.ContainerdPID(), "berth-snapshotter": s.SnapshotterPID()}
	s.StopDaemon()
	for name, pid := range children {
		if pid != 0 && processAlive(pid) && s.mentionsDir(pid) {
			t.Errorf("harness: %s (pid %d) still runs after berthd stopped", name, pid)
			terminate(pid)
		}
	}
	s.uninstallNetwork()
	s.waitSpares()

	leaks := s.findLeaks()
	s.mu.Lock()
	s.leaks = leaks
	s.mu.Unlock()
	if len(leaks) > 0 {
		t.Errorf("harness: the stack left things behind:\n  %s", strings.Join(leaks, "\n  "))
	}
	if t.Failed() {
		t.Logf("harness: stack dir %s\n%s\n%s", s.dir, s.logTail(s.logPath, 200),
			s.logTail(filepath.Join(s.state, "containerd", "containerd.log"), 60))
	}
}

// uninstallNetwork removes the stack's networks, bridges and firewall
// chains (berthd keeps them on shutdown, for live restore): `berthd
// --uninstall` with the stack's flags. Every container was removed, so
// these are leaks: a link still on one of the stack's bridges (a veth), an
// IP address still allocated; and after the uninstall, a bridge of the
// stack, an iptables rule naming one of its subnets' addresses, or its
// rule in FORWARD.
func (s *Stack) uninstallNetwork() {
	s.t.Helper()
	if s.opts.bridge == "" {
		return
	}
	nets := s.networks()
	bridges := []string{s.opts.bridge}
	for _, n := range nets {
		if n.Driver == "bridge" && n.Interface != s.opts.bridge {
			bridges = append(bridges, n.Interface)
		}
	}
	for _, br := range bridges {
		if links, _ := os.ReadDir(filepath.Join("/sys/class/net", br, "brif")); len(links) > 0 {
			var names []string
			for _, l := range links {
				names = append(names, l.Name())
			}
			s.t.Errorf("harness: links still on bridge %s after every container was removed: %v", br, names)
		}
	}
	for _, n := range nets {
		entries, _ := os.ReadDir(filepath.Join(s.root, "cni", "ipam", n.Name))
		for _, e := range entries {
			if _, err := netip.ParseAddr(e.Name()); err == nil {
				s.t.Errorf("harness: IP address %s still allocated on network %s after every container was removed", e.Name(), n.Name)
			}
		}
	}
	for _, el := range PublishedPorts(s.opts.fwPrefix) {
		s.t.Errorf("harness: published port still forwarded after every container was removed: %s", el)
	}
	bin, args := s.daemonCommand(append(s.daemonArgs(), "--uninstall"))
	r := s.run(bin, "", args)
	if r.ExitCode != 0 {
		s.t.Errorf("harness: berthd --uninstall: %s", r)
	}
	for _, br := range bridges[1:] {
		if _, err := os.Stat(filepath.Join("/sys/class/net", br)); err == nil {
			s.t.Errorf("harness: bridge %s left after berthd --uninstall", br)
		}
	}
	var subnets []netip.Prefix
	for _, n := range nets {
		if p, err := netip.ParsePrefix(n.Subnet); err == nil {
			subnets = append(subnets, p)
		}
	}
	for _, fam := range []string{"ip", "ip6"} {
		if out, err := exec.Command("nft", "list", "table", fam, strings.ToLower(s.opts.fwPrefix)).CombinedOutput(); err == nil {
			s.t.Errorf("harness: nftables table %s left after berthd --uninstall:\n%s", fam, out)
		}
	}
	// berth's rule in iptables' FORWARD (docs/networking.md) names the
	// stack's prefix in its comment, not a subnet.
	accept := `"` + s.opts.fwPrefix + ` accept marked"`
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(save).Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "-A") && (mentionsSubnet(line, subnets) || s.opts.fwPrefix != "" && strings.Contains(line, accept)) {
				s.t.Errorf("harness: %s rule left after berthd --uninstall: %s", strings.TrimSuffix(save, "-save"), line)
			}
		}
	}
}

// stackNetwork is the part of a berth conflist's "berth" key the leak
// checks need.
type stackNetwork struct {
	Name      string `json:"name"`
	Driver    string `json:"driver"`
	Interface string `json:"interface"`
	Subnet    string `json:"subnet"`
}

// networks reads the stack's network definitions (<root>/networks).
func (s *Stack) networks() []stackNetwork {
	files, _ := filepath.Glob(filepath.Join(s.root, "networks", "*.conflist"))
	var out []stackNetwork
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var c struct {
			Berth stackNetwork `json:"berth"`
		}
		if json.Unmarshal(b, &c) == nil && c.Berth.Name != "" {
			out = append(out, c.Berth)
		}
	}
	return out
}

// mentionsSubnet reports whether an iptables rule names an address (or a
// network, or ip:port) inside one of subnets.
func mentionsSubnet(rule string, subnets []netip.Prefix) bool {
	for _, f := range strings.Fields(rule) {
		f = strings.Trim(f, `"`)
		if host, _, ok := strings.Cut(f, ":"); ok {
			f = host
		}
		var a netip.Addr
		if p, err := netip.ParsePrefix(f); err == nil {
			a = p.Addr()
		} else if x, err := netip.ParseAddr(f); err == nil {
			a = x
		} else {
			continue
		}
		for _, sn := range subnets {
			if sn.Contains(a) {
				return true
			}
		}
	}
	return false
}

func (s *Stack) removeDir() {
	if s.t.Failed() && os.Getenv(EnvKeep) == "1" {
		s.t.Logf("harness: kept %s (%s=1)", s.dir, EnvKeep)
		return
	}
	if err := os.RemoveAll(s.dir); err != nil {
		s.t.Errorf("harness: remove %s: %v", s.dir, err)
	}
}

// removeAllContainers is `berth rm -f $(berth ps -aq)`, one at a time: a
// container removed meanwhile (--rm) is not an error.
func (s *Stack) removeAllContainers() {
	s.t.Helper()
	r := s.Berth("ps", "-aq", "--no-trunc")
	if r.ExitCode != 0 {
		s.t.Errorf("harness: berth ps -aq: %s", r)
		return
	}
	for _, id := range strings.Fields(r.Stdout) {
		r := s.Berth("rm", "-f", id)
		if r.ExitCode != 0 && !strings.Contains(r.Stderr, "No such container") {
			s.t.Errorf("harness: berth rm -f %s: %s", id, r)
		}
	}
}

// pruneBuildCache empties the build cache of a stack that built images:
// its cache mounts are active snapshots, owned by BuildKit, not leaks.
// What is left after the prune (containers, tasks, active snapshots) is.
func (s *Stack) pruneBuildCache() {
	s.t.Helper()
	if _, err := os.Stat(filepath.Join(s.root, "buildkit", "cache.db")); err != nil {
		return
	}
	if r := s.Berth("builder", "prune", "-a", "-f"); r.ExitCode != 0 {
		s.t.Errorf("harness: berth builder prune -a -f: %s", r)
	}
}

// checkContainerd fails the test if containerd still holds containers,
// tasks or active snapshots once every container was removed.
func (s *Stack) checkContainerd() {
	s.t.Helper()
	// berthd may still be finishing an auto-removal: give it a moment.
	var left []string
	deadline := time.Now().Add(Timeout(10 * time.Second))
	for {
		r := s.Ctr("containers", "ls", "-q")
		if r.ExitCode != 0 {
			s.t.Errorf("harness: ctr containers ls: %s", r)
			break
		}
		if left = strings.Fields(r.Stdout); len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		s.t.Errorf("harness: containerd containers left after rm -f of all: %v", left)
	}
	if r := s.Ctr("tasks", "ls", "-q"); r.ExitCode == 0 && strings.TrimSpace(r.Stdout) != "" {
		s.t.Errorf("harness: containerd tasks left: %s", strings.Fields(r.Stdout))
	}
	sn := s.opts.snapshotter
	if sn == "" {
		sn = "overlayfs"
	}
	r := s.Ctr("snapshots", "--snapshotter", sn, "ls")
	if r.ExitCode != 0 {
		s.t.Errorf("harness: ctr snapshots ls: %s", r)
		return
	}
	// KEY PARENT KIND; committed snapshots belong to images.
	for _, line := range strings.Split(r.Stdout, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == "Active" {
			s.t.Errorf("harness: active snapshot left: %s", f[0])
		}
	}
}

// waitSpares gives berth's spare shims (docs/shim.md "Spare") the moment
// they take to notice that their containerd is gone and exit.
func (s *Stack) waitSpares() {
	for deadline := time.Now().Add(Timeout(5 * time.Second)); time.Now().Before(deadline); {
		spares := false
		for _, pid := range s.processes() {
			if strings.HasSuffix(cmdline(pid), " spare") {
				spares = true
			}
		}
		if !spares {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Leaked is what Stop found left behind (nil before Stop): the figure a
// soak reports.
func (s *Stack) Leaked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaks
}

// ShimPIDs are the stack's running shims (spares included).
func (s *Stack) ShimPIDs() []int {
	var pids []int
	for _, pid := range s.processes() {
		if strings.Contains(strings.Fields(cmdline(pid) + " x")[0], "containerd-shim") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// findLeaks lists (and cleans up, so the dir can be removed) what still
// refers to the stack: processes, mounts, shim sockets.
func (s *Stack) findLeaks() []string {
	var leaks []string
	for _, pid := range s.processes() {
		leak := fmt.Sprintf("process %d: %s", pid, cmdline(pid))
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && cwd != "/" {
			leak += " (in " + cwd + ")" // a shim's: its container's bundle
		}
		leaks = append(leaks, leak)
		terminate(pid)
	}
	leaks = append(leaks, s.buildStepLeaks()...)
	mounts := s.mounts()
	for _, m := range mounts {
		leaks = append(leaks, "mount "+m)
	}
	// Deepest first.
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	for _, dir := range []string{filepath.Join(s.state, "s"), filepath.Join(s.state, "io")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			leaks = append(leaks, "socket "+filepath.Join(dir, e.Name()))
		}
	}
	if s.opts.bridge != "" {
		if _, err := os.Stat(filepath.Join("/sys/class/net", s.opts.bridge)); err == nil {
			leaks = append(leaks, "bridge "+s.opts.bridge)
		}
	}
	if out, err := exec.Command("iptables-save").Output(); err == nil && s.opts.fwPrefix != "" {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, ":"+s.opts.fwPrefix+"-") {
				leaks = append(leaks, "iptables chain "+strings.Fields(line)[0][1:])
			}
		}
	}
	for _, d := range []struct{ what, dir string }{
		{"netns", filepath.Join(s.state, "netns")},
		{"network sandbox", filepath.Join(s.root, "cni", "sandboxes")},
		{"container files", filepath.Join(s.root, "containers")},
	} {
		entries, _ := os.ReadDir(d.dir)
		for _, e := range entries {
			leaks = append(leaks, d.what+" "+filepath.Join(d.dir, e.Name()))
		}
	}
	return leaks
}

// processes are those whose command line, working dir or executable is in
// the stack's dir (containerd, shims, loggers, container processes).
func (s *Stack) processes() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if processAlive(pid) && s.mentionsDir(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (s *Stack) mentionsDir(pid int) bool {
	prefix := s.dir + "/"
	if strings.Contains(cmdline(pid)+" ", prefix) || strings.Contains(cmdline(pid)+" ", s.dir+" ") {
		return true
	}
	for _, link := range []string{"cwd", "exe", "root"} {
		if p, err := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, link)); err == nil && strings.HasPrefix(p+"/", prefix) {
			return true
		}
	}
	return false
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// mounts are the mount points under the stack's dir.
func (s *Stack) mounts() []string {
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
		if strings.HasPrefix(mp, s.dir+"/") {
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

// terminate ends a leaked process: SIGTERM, then SIGKILL. Only called on
// processes that run in the stack's own dir.
func terminate(pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(Timeout(5 * time.Second))
	for processAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if processAlive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// PublishedPorts lists the elements of the published-port maps in the
// nftables table of the berthd with firewall prefix prefix, one per port,
// as nft prints them ("127.0.0.1 . tcp . 8080 : 10.1.2.3 . 80" or
// "tcp . 8080 : 10.1.2.3 . 80"), the IPv4 table's then the IPv6 one's.
func PublishedPorts(prefix string) []string {
	var out []string
	for _, fm := range [][2]string{{"ip", "hostports"}, {"ip", "hostports_any"}, {"ip6", "hostports"}, {"ip6", "hostports_any"}} {
		b, err := exec.Command("nft", "list", "map", fm[0], strings.ToLower(prefix), fm[1]).Output()
		if err != nil {
			continue
		}
		_, els, ok := strings.Cut(string(b), "elements = {")
		if !ok {
			continue
		}
		els, _, _ = strings.Cut(els, "}")
		for _, e := range strings.Split(els, ",") {
			if e = strings.Join(strings.Fields(e), " "); e != "" {
				out = append(out, " "+e)
			}
		}
	}
	return out
}

// releasePool gives the stack's /16 back to other stacks (claimSubnet),
// once its networks are gone.
func (s *Stack) releasePool() {
	if s.opts.poolClaim != nil {
		_ = s.opts.poolClaim.Close()
	}
}

// buildStepLeaks lists (and removes) what BuildKit's steps left in their
// cgroups, /<namespace>/buildkit/<id> in every hierarchy
// (cmd/berth-buildkitd's stepCgroupParent): a process there (a `runc
// init` whose shim died before the step's start: its command line names no
// dir of the stack) and the cgroup itself, once per step.
func (s *Stack) buildStepLeaks() []string {
	if s.opts.namespace == "" {
		return nil // not a stack's: /buildkit is any builder's
	}
	var leaks []string
	seen := map[string]bool{}
	var dirs []string
	for _, root := range cgroupRoots() {
		base := filepath.Join(root, s.opts.namespace, "buildkit")
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			d := filepath.Join(base, e.Name())
			dirs = append(dirs, d)
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[f] {
					seen[f] = true
					leaks = append(leaks, fmt.Sprintf("build step process %d: %s", pid, cmdline(pid)))
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			if id := "/" + s.opts.namespace + "/buildkit/" + e.Name(); !seen[id] {
				seen[id] = true
				leaks = append(leaks, "build step cgroup "+id)
			}
		}
		dirs = append(dirs, base)
	}
	// The processes die asynchronously; their cgroups go after them.
	for _, d := range dirs {
		for i := 0; i < 100 && os.Remove(d) != nil && dirExists(d); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, root := range cgroupRoots() {
		_ = os.Remove(filepath.Join(root, s.opts.namespace))
	}
	return leaks
}

func dirExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// cgroupRoots are the mount points of the cgroup hierarchies.
func cgroupRoots() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var roots []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) > 0 && (g[0] == "cgroup" || g[0] == "cgroup2") && f[3] == "/" && !slices.Contains(roots, f[4]) {
			roots = append(roots, f[4])
		}
	}
	return roots
}
