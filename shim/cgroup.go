package shim

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

// cgroupUnified reports whether the host runs cgroup v2 only (like
// containerd's cgroups.Mode() == Unified; hybrid hosts count as v1).
func cgroupUnified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// memoryCgroup finds the memory cgroup directory of pid: the v1 memory
// controller when it is mounted, else the unified hierarchy.
func memoryCgroup(pid int) (dir string, unified bool, err error) {
	b, err := rawReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", false, err
	}
	var v1Path, v2Path string
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path = parts[2]
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			if c == "memory" {
				v1Path = parts[2]
			}
		}
	}
	// Where the controllers are usually mounted, found without reading
	// the mount table (tens of kB on a host with many containers, all of
	// it garbage kept in the heap of a shim that rarely collects).
	if v1Path != "" {
		if dir := filepath.Join("/sys/fs/cgroup/memory", v1Path); unix.Access(filepath.Join(dir, "memory.oom_control"), unix.F_OK) == nil {
			return dir, false, nil
		}
	} else if v2Path != "" {
		if dir := filepath.Join("/sys/fs/cgroup", v2Path); cgroupUnified() && unix.Access(filepath.Join(dir, "memory.events"), unix.F_OK) == nil {
			return dir, true, nil
		}
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return "", false, err
	}
	if v1Path != "" && mounts.memory != "" {
		return filepath.Join(mounts.memory, v1Path), false, nil
	}
	if v2Path != "" && mounts.unified != "" {
		return filepath.Join(mounts.unified, v2Path), true, nil
	}
	return "", false, fmt.Errorf("no memory cgroup for pid %d", pid)
}

// cgroupProcs lists the processes in a cgroup directory.
func cgroupProcs(dir string) []int {
	if dir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

type cgroupMountPoints struct{ memory, unified string }

// cgroupMounts finds the v1 memory and the v2 mount points. It reads the
// mount table at once and splits only cgroup lines (a host may have
// thousands of mounts; a shim's garbage stays in its heap).
func cgroupMounts() (cgroupMountPoints, error) {
	var m cgroupMountPoints
	b, err := rawReadFile("/proc/self/mountinfo")
	if err != nil {
		return m, err
	}
	for line := range strings.Lines(string(b)) {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup") {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			if m.unified == "" {
				m.unified = pf[4]
			}
		case "cgroup":
			for o := range strings.SplitSeq(qf[2], ",") {
				if o == "memory" && m.memory == "" {
					m.memory = pf[4]
				}
			}
		}
	}
	return m, nil
}

// watchOOM finds the container's memory cgroup from its init (runc has
// created it; it has not run yet) and watches it for OOM kills. It is done
// at create, not start: a process killed at once, before a watcher made
// after start read the counter, went unreported, and with the systemd
// cgroup driver systemd removes the emptied scope before the engine could
// read memory.events itself (seen in make test-cgroupv2's VM).
func (s *Service) watchOOM(pid int) {
	dir, unified, err := memoryCgroup(pid)
	if err == nil {
		s.cgroupDir = dir
		s.oom, err = newOOMWatcher(dir, unified, s.reaper, func() { s.pub.publish(topicOOM, &tw.TaskOOM{ContainerID: s.id}) })
	}
	if err != nil {
		logf("no OOM notifications for %s: %v", s.id, err)
	}
}

// oomWatcher reports OOM kills in a container's memory cgroup: on v1 with an
// eventfd on memory.oom_control, on v2 with inotify on memory.events. The
// fd waits in the reaper's epoll set (no goroutine or thread of its own).
type oomWatcher struct {
	dir     string
	unified bool
	notify  func()

	mu     sync.Mutex
	seen   uint64 // oom_kill count already reported
	closed bool
	fds    []int
	stop   func() // removes the fd from the reaper's set
}

func newOOMWatcher(dir string, unified bool, r *reaper, notify func()) (_ *oomWatcher, err error) {
	w := &oomWatcher{dir: dir, unified: unified, notify: notify}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	w.seen, _ = w.count()
	var ev int
	if unified {
		ev, err = w.inotify()
	} else {
		ev, err = w.eventfd()
	}
	if err != nil {
		return nil, err
	}
	stop, err := r.watchFD(ev, func() { w.ready(ev) })
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.stop = stop
	w.mu.Unlock()
	return w, nil
}

func (w *oomWatcher) eventfd() (int, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, err
	}
	w.fds = append(w.fds, efd)
	oc, err := rawOpen(filepath.Join(w.dir, "memory.oom_control"), unix.O_RDONLY, 0)
	if err != nil {
		return -1, err
	}
	w.fds = append(w.fds, oc)
	ctl := fmt.Sprintf("%d %d", efd, oc)
	if err := rawWriteFile(filepath.Join(w.dir, "cgroup.event_control"), []byte(ctl), 0); err != nil {
		return -1, err
	}
	return efd, nil
}

func (w *oomWatcher) inotify() (int, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return -1, err
	}
	w.fds = append(w.fds, fd)
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(w.dir, "memory.events"), unix.IN_MODIFY); err != nil {
		return -1, err
	}
	return fd, nil
}

// ready runs when the eventfd or inotify fd is readable.
func (w *oomWatcher) ready(fd int) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	var buf [512]byte
	signalled := false
	for {
		n, err := unix.Read(fd, buf[:])
		if n <= 0 || err != nil {
			break
		}
		if !w.unified && n == 8 && binary.LittleEndian.Uint64(buf[:]) > 0 {
			signalled = true
		}
	}
	w.mu.Unlock()
	if signalled {
		// v1 also signals when the cgroup is removed.
		if _, err := os.Stat(filepath.Join(w.dir, "memory.oom_control")); err != nil {
			w.close()
			return
		}
	}
	w.check()
}

// check reports an OOM kill that happened since the last check. It is also
// called right before the init exit is published, so TaskOOM comes first.
func (w *oomWatcher) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	n, err := w.count()
	if err != nil || n <= w.seen {
		return
	}
	w.seen = n
	w.notify()
}

// count reads the cgroup's oom_kill counter.
func (w *oomWatcher) count() (uint64, error) {
	name := "memory.oom_control"
	if w.unified {
		name = "memory.events"
	}
	b, err := rawReadFile(filepath.Join(w.dir, name))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no oom_kill counter in %s", name)
}

func (w *oomWatcher) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	if w.stop != nil {
		w.stop()
	}
	for _, fd := range w.fds {
		unix.Close(fd)
	}
	w.fds = nil
}

// metrics converts runc's statistics (runc reads the cgroup files for both
// versions) to containerd's cgroup v1 or v2 metrics types.
func metrics(s *runc.Stats, unified bool) tw.Message {
	if unified {
		return metricsV2(s)
	}
	return metricsV1(s)
}

func metricsV1(s *runc.Stats) *tw.MetricsV1 {
	m := &tw.MetricsV1{
		Pids: &tw.PidsStat{Current: s.Pids.Current, Limit: s.Pids.Limit},
		CPU: &tw.CPUStatV1{
			Usage: &tw.CPUUsage{Total: s.Cpu.Usage.Total, Kernel: s.Cpu.Usage.Kernel,
				User: s.Cpu.Usage.User, PerCPU: s.Cpu.Usage.Percpu},
			Throttling: &tw.Throttle{Periods: s.Cpu.Throttling.Periods,
				ThrottledPeriods: s.Cpu.Throttling.ThrottledPeriods, ThrottledTime: s.Cpu.Throttling.ThrottledTime},
		},
		Memory: &tw.MemoryStatV1{
			Cache:                   s.Memory.Cache,
			Usage:                   memEntry(s.Memory.Usage),
			Swap:                    memEntry(s.Memory.Swap),
			Kernel:                  memEntry(s.Memory.Kernel),
			KernelTCP:               memEntry(s.Memory.KernelTCP),
			RSS:                     s.Memory.Raw["rss"],
			RSSHuge:                 s.Memory.Raw["rss_huge"],
			MappedFile:              s.Memory.Raw["mapped_file"],
			Dirty:                   s.Memory.Raw["dirty"],
			Writeback:               s.Memory.Raw["writeback"],
			PgPgIn:                  s.Memory.Raw["pgpgin"],
			PgPgOut:                 s.Memory.Raw["pgpgout"],
			PgFault:                 s.Memory.Raw["pgfault"],
			PgMajFault:              s.Memory.Raw["pgmajfault"],
			InactiveAnon:            s.Memory.Raw["inactive_anon"],
			ActiveAnon:              s.Memory.Raw["active_anon"],
			InactiveFile:            s.Memory.Raw["inactive_file"],
			ActiveFile:              s.Memory.Raw["active_file"],
			Unevictable:             s.Memory.Raw["unevictable"],
			HierarchicalMemoryLimit: s.Memory.Raw["hierarchical_memory_limit"],
			HierarchicalSwapLimit:   s.Memory.Raw["hierarchical_memsw_limit"],
			TotalCache:              s.Memory.Raw["total_cache"],
			TotalRSS:                s.Memory.Raw["total_rss"],
			TotalRSSHuge:            s.Memory.Raw["total_rss_huge"],
			TotalMappedFile:         s.Memory.Raw["total_mapped_file"],
			TotalDirty:              s.Memory.Raw["total_dirty"],
			TotalWriteback:          s.Memory.Raw["total_writeback"],
			TotalPgPgIn:             s.Memory.Raw["total_pgpgin"],
			TotalPgPgOut:            s.Memory.Raw["total_pgpgout"],
			TotalPgFault:            s.Memory.Raw["total_pgfault"],
			TotalPgMajFault:         s.Memory.Raw["total_pgmajfault"],
			TotalInactiveAnon:       s.Memory.Raw["total_inactive_anon"],
			TotalActiveAnon:         s.Memory.Raw["total_active_anon"],
			TotalInactiveFile:       s.Memory.Raw["total_inactive_file"],
			TotalActiveFile:         s.Memory.Raw["total_active_file"],
			TotalUnevictable:        s.Memory.Raw["total_unevictable"],
		},
		Blkio: &tw.BlkIOStat{
			IoServiceBytesRecursive: blkio(s.Blkio.IoServiceBytesRecursive),
			IoServicedRecursive:     blkio(s.Blkio.IoServicedRecursive),
			IoQueuedRecursive:       blkio(s.Blkio.IoQueuedRecursive),
			IoServiceTimeRecursive:  blkio(s.Blkio.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     blkio(s.Blkio.IoWaitTimeRecursive),
			IoMergedRecursive:       blkio(s.Blkio.IoMergedRecursive),
			IoTimeRecursive:         blkio(s.Blkio.IoTimeRecursive),
			SectorsRecursive:        blkio(s.Blkio.SectorsRecursive),
		},
	}
	for size, h := range s.Hugetlb {
		m.Hugetlb = append(m.Hugetlb, &tw.HugetlbStatV1{Usage: h.Usage, Max: h.Max, Failcnt: h.Failcnt, Pagesize: size})
	}
	return m
}

func memEntry(e runc.MemoryEntry) *tw.MemoryEntry {
	return &tw.MemoryEntry{Limit: e.Limit, Usage: e.Usage, Max: e.Max, Failcnt: e.Failcnt}
}

func blkio(in []runc.BlkioEntry) []*tw.BlkIOEntry {
	out := make([]*tw.BlkIOEntry, 0, len(in))
	for _, e := range in {
		out = append(out, &tw.BlkIOEntry{Op: e.Op, Major: e.Major, Minor: e.Minor, Value: e.Value})
	}
	return out
}

func metricsV2(s *runc.Stats) *tw.MetricsV2 {
	raw := s.Memory.Raw
	m := &tw.MetricsV2{
		Pids: &tw.PidsStat{Current: s.Pids.Current, Limit: s.Pids.Limit},
		CPU: &tw.CPUStatV2{
			UsageUsec:     s.Cpu.Usage.Total / 1000,
			UserUsec:      s.Cpu.Usage.User / 1000,
			SystemUsec:    s.Cpu.Usage.Kernel / 1000,
			NrPeriods:     s.Cpu.Throttling.Periods,
			NrThrottled:   s.Cpu.Throttling.ThrottledPeriods,
			ThrottledUsec: s.Cpu.Throttling.ThrottledTime / 1000,
		},
		Memory: &tw.MemoryStatV2{
			Anon: raw["anon"], File: raw["file"], KernelStack: raw["kernel_stack"], Slab: raw["slab"],
			Sock: raw["sock"], Shmem: raw["shmem"], FileMapped: raw["file_mapped"], FileDirty: raw["file_dirty"],
			FileWriteback: raw["file_writeback"], AnonThp: raw["anon_thp"], InactiveAnon: raw["inactive_anon"],
			ActiveAnon: raw["active_anon"], InactiveFile: raw["inactive_file"], ActiveFile: raw["active_file"],
			Unevictable: raw["unevictable"], SlabReclaimable: raw["slab_reclaimable"],
			SlabUnreclaimable: raw["slab_unreclaimable"], Pgfault: raw["pgfault"], Pgmajfault: raw["pgmajfault"],
			Usage: s.Memory.Usage.Usage, UsageLimit: s.Memory.Usage.Limit, MaxUsage: s.Memory.Usage.Max,
			SwapUsage: s.Memory.Swap.Usage, SwapLimit: s.Memory.Swap.Limit, SwapMaxUsage: s.Memory.Swap.Max,
		},
	}
	io := map[[2]uint64]*tw.IOEntry{}
	entry := func(e runc.BlkioEntry) *tw.IOEntry {
		k := [2]uint64{e.Major, e.Minor}
		if io[k] == nil {
			io[k] = &tw.IOEntry{Major: e.Major, Minor: e.Minor}
		}
		return io[k]
	}
	for _, e := range s.Blkio.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			entry(e).Rbytes = e.Value
		case "write":
			entry(e).Wbytes = e.Value
		}
	}
	for _, e := range s.Blkio.IoServicedRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			entry(e).Rios = e.Value
		case "write":
			entry(e).Wios = e.Value
		}
	}
	m.Io = &tw.IOStat{}
	for _, e := range io {
		m.Io.Usage = append(m.Io.Usage, e)
	}
	for size, h := range s.Hugetlb {
		m.Hugetlb = append(m.Hugetlb, &tw.HugeTlbStatV2{Current: h.Usage, Max: h.Max, Failcnt: h.Failcnt, Pagesize: size})
	}
	return m
}
