package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostSnapshot is what the host looked like before the peers ran: the
// clean-up removes only what is new and belongs to a peer.
type hostSnapshot struct {
	links  map[string]bool
	netns  map[string]bool
	tables map[string]string // "iptables"/"ip6tables" -> iptables-save output
}

// peerChain reports whether an iptables chain name is one a peer creates.
func peerChain(name string) bool {
	// Not CNI-*: berth's own CNI plugins (portmap) make those.
	for _, p := range []string{"DOCKER", "NETAVARK"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func takeHostSnapshot() *hostSnapshot {
	h := &hostSnapshot{links: map[string]bool{}, netns: map[string]bool{}, tables: map[string]string{}}
	for _, l := range listDir("/sys/class/net") {
		h.links[l] = true
	}
	for _, n := range listDir("/run/netns") {
		h.netns[n] = true
	}
	for _, t := range []string{"iptables", "ip6tables"} {
		if out, err := exec.Command(t + "-save").Output(); err == nil {
			h.tables[t] = string(out)
		}
	}
	return h
}

func listDir(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// restore removes what the peers left since the snapshot: links in
// peerLinks that are new, podman's network namespaces (netns-*) that are
// new, and new iptables chains with a peer's name plus the new rules that
// jump to them or name one of peerWords (bridges, subnets).
func (h *hostSnapshot) restore(peerLinks, peerWords []string) error {
	var errs []error
	for _, l := range peerLinks {
		if l == "" || h.links[l] {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/class/net", l)); err == nil {
			if out, err := exec.Command("ip", "link", "del", l).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", l, err, out))
			} else {
				logf("clean-up: removed link %s", l)
			}
		}
	}
	for _, n := range listDir("/run/netns") {
		if h.netns[n] || !strings.HasPrefix(n, "netns-") {
			continue
		}
		p := filepath.Join("/run/netns", n)
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
		if err := os.Remove(p); err == nil {
			logf("clean-up: removed netns %s", n)
		}
	}
	for _, t := range []string{"iptables", "ip6tables"} {
		before, ok := h.tables[t]
		if !ok {
			continue
		}
		out, err := exec.Command(t + "-save").Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s-save: %v", t, err))
			continue
		}
		if err := cleanTables(t, before, string(out), peerWords); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanTables deletes, per table, the rules that are in after and not in
// before and belong to a peer, then flushes and deletes the new peer chains.
func cleanTables(bin, before, after string, peerWords []string) error {
	deletes, chains := planTableCleanup(before, after, peerWords)
	var errs []error
	n := 0
	for _, args := range deletes {
		args = append([]string{"-w"}, args...)
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, out))
		} else {
			n++
		}
	}
	for _, tc := range chains {
		_ = exec.Command(bin, "-w", "-t", tc[0], "-F", tc[1]).Run()
	}
	for _, tc := range chains {
		if out, err := exec.Command(bin, "-w", "-t", tc[0], "-X", tc[1]).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s -t %s -X %s: %v: %s", bin, tc[0], tc[1], err, out))
		} else {
			n++
		}
	}
	if n > 0 {
		logf("clean-up: %s: removed %d peer rules and chains", bin, n)
	}
	return errors.Join(errs...)
}

// planTableCleanup compares two iptables-save outputs. It returns the
// rule deletions to run (iptables arguments: -t TABLE -D CHAIN spec…) for
// the new rules that belong to a peer (in a peer chain, jumping to one, or
// naming one of peerWords) and are not in a chain that is itself removed,
// and the new peer chains ({table, chain}) to flush and delete.
func planTableCleanup(before, after string, peerWords []string) (deletes [][]string, chains [][2]string) {
	old := map[string]bool{}
	oldChains := map[string]bool{}
	table := ""
	for _, line := range strings.Split(before, "\n") {
		if strings.HasPrefix(line, "*") {
			table = line[1:]
		}
		if strings.HasPrefix(line, ":") {
			oldChains[table+" "+strings.Fields(line[1:])[0]] = true
		}
		old[table+" "+line] = true
	}
	newChain := map[string]bool{}
	type rule struct {
		table string
		f     []string
	}
	var rules []rule
	table = ""
	for _, line := range strings.Split(after, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"):
			name := strings.Fields(line[1:])[0]
			if peerChain(name) && !oldChains[table+" "+name] {
				chains = append(chains, [2]string{table, name})
				newChain[table+" "+name] = true
			}
		case strings.HasPrefix(line, "-A ") && !old[table+" "+line]:
			f := splitRule(line)
			if len(f) < 2 {
				continue
			}
			mine := peerChain(f[1])
			for i, w := range f {
				if (w == "-j" || w == "-g") && i+1 < len(f) && peerChain(f[i+1]) {
					mine = true
				}
				for _, pw := range peerWords {
					if pw != "" && strings.Contains(w, pw) {
						mine = true
					}
				}
			}
			if mine && !newChain[table+" "+f[1]] {
				rules = append(rules, rule{table, f})
			}
		}
	}
	for _, r := range rules {
		deletes = append(deletes, append([]string{"-t", r.table, "-D"}, r.f[1:]...))
	}
	return deletes, chains
}

// splitRule splits an iptables-save line into words, honouring double
// quotes (comments) and backslash escapes.
func splitRule(line string) []string {
	var out []string
	var b strings.Builder
	inq, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			i++
			b.WriteByte(line[i])
			have = true
		case c == '"':
			inq, have = !inq, true
		case c == ' ' && !inq:
			if have {
				out = append(out, b.String())
				b.Reset()
				have = false
			}
		default:
			b.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, b.String())
	}
	return out
}

// Processes and mounts.

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

func exeName(pid int) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return filepath.Base(strings.TrimSuffix(p, " (deleted)"))
}

// allPIDs lists the live processes.
func allPIDs() []int {
	var pids []int
	for _, n := range listDir("/proc") {
		if pid, err := strconv.Atoi(n); err == nil && pid != os.Getpid() && processAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processesIn lists processes whose command line, cwd, exe or root is in
// dir: what a peer running there started.
func processesIn(dir string) []int {
	prefix := dir + "/"
	var out []int
	for _, pid := range allPIDs() {
		if strings.Contains(cmdline(pid)+" ", prefix) || strings.Contains(cmdline(pid)+" ", dir+" ") {
			out = append(out, pid)
			continue
		}
		for _, link := range []string{"cwd", "exe", "root"} {
			if p, err := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, link)); err == nil && strings.HasPrefix(p+"/", prefix) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// terminate ends a process we started: SIGTERM, then SIGKILL after grace.
func terminate(pid int, grace time.Duration) {
	if !processAlive(pid) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for processAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if processAlive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100 && processAlive(pid); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// mountsUnder lists mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") || mp == dir {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

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

// scrubDir ends the processes still running from dir, unmounts what is
// mounted under it and removes it.
func scrubDir(dir string) error {
	if dir == "" {
		return nil
	}
	for _, pid := range processesIn(dir) {
		logf("clean-up: ending leftover process %d (%s)", pid, cmdline(pid))
		terminate(pid, 5*time.Second)
	}
	for i := 0; i < 3; i++ {
		ms := mountsUnder(dir)
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	if ms := mountsUnder(dir); len(ms) > 0 {
		return fmt.Errorf("mounts left under %s: %v", dir, ms)
	}
	return os.RemoveAll(dir)
}

// memDetail returns the fields of pid's smaps_rollup in kB (Rss, Pss,
// Anonymous, Shared_Clean, ...); nil if the process is gone.
func memDetail(pid int) map[string]int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err == nil {
			m[strings.TrimSuffix(f[0], ":")] = v
		}
	}
	return m
}

// memKB returns the memory of a process from /proc/PID/smaps_rollup, in kB.
func memKB(pid int) (rss, pss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = v
		case "Pss:":
			pss = v
		}
	}
	return rss, pss
}
