package container

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Stats returns one sample of the container's resource usage, from the
// task's cgroup metrics (cgroup v1 or v2) and its network namespace.
func (s *Service) Stats(ctx context.Context, ref string) (*containertypes.Stats, error) {
	ctx = s.ctx(ctx)
	r, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	st := &containertypes.Stats{ID: r.id, Name: r.name, Read: time.Now().UTC()}
	proc, err := s.taskState(ctx, r.id)
	if errdefs.IsNotFound(err) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	resp, err := s.taskClient().Metrics(ctx, &tasks.MetricsRequest{Filters: []string{"id==" + r.id}})
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	if len(resp.Metrics) == 0 || resp.Metrics[0].Data == nil {
		return st, nil // exited meanwhile
	}
	data, err := typeurl.UnmarshalAny(resp.Metrics[0].Data)
	if err != nil {
		return nil, fmt.Errorf("decoding the metrics of %s: %w", r.name, err)
	}
	st.Running = true
	st.SystemCPUUsage, st.OnlineCPUs = hostCPU()
	hostMem := hostMemory()
	switch m := data.(type) {
	case *v1.Metrics:
		statsV1(st, m)
	case *v2.Metrics:
		statsV2(st, m)
	default:
		return nil, fmt.Errorf("unknown metrics type %T of %s", data, r.name)
	}
	if st.MemoryLimit == 0 || (hostMem > 0 && st.MemoryLimit > hostMem) {
		st.MemoryLimit = hostMem
	}
	if proc != nil && proc.Pid > 0 {
		st.NetRx, st.NetTx = netDev(int(proc.Pid))
	}
	return st, nil
}

func statsV1(st *containertypes.Stats, m *v1.Metrics) {
	if c := m.GetCPU().GetUsage(); c != nil {
		st.CPUUsage = c.Total
	}
	if mem := m.GetMemory(); mem != nil {
		usage := mem.GetUsage().GetUsage()
		if inactive := mem.TotalInactiveFile; inactive < usage {
			usage -= inactive
		}
		st.MemoryUsage = usage
		st.MemoryLimit = mem.GetUsage().GetLimit()
	}
	for _, e := range m.GetBlkio().GetIoServiceBytesRecursive() {
		switch strings.ToLower(e.Op) {
		case "read":
			st.BlockRead += e.Value
		case "write":
			st.BlockWrite += e.Value
		}
	}
	st.Pids, st.PidsLimit = m.GetPids().GetCurrent(), m.GetPids().GetLimit()
}

func statsV2(st *containertypes.Stats, m *v2.Metrics) {
	st.CPUUsage = m.GetCPU().GetUsageUsec() * 1000
	if mem := m.GetMemory(); mem != nil {
		usage := mem.Usage
		if mem.InactiveFile < usage {
			usage -= mem.InactiveFile
		}
		st.MemoryUsage = usage
		st.MemoryLimit = mem.UsageLimit
	}
	for _, e := range m.GetIo().GetUsage() {
		st.BlockRead += e.Rbytes
		st.BlockWrite += e.Wbytes
	}
	st.Pids, st.PidsLimit = m.GetPids().GetCurrent(), m.GetPids().GetLimit()
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// hostCPU returns the host's CPU time in nanoseconds (the "cpu" line of
// /proc/stat) and the number of online CPUs.
func hostCPU() (total uint64, online uint32) {
	online = uint32(runtime.NumCPU())
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, online
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "cpu" {
			continue
		}
		var ticks uint64
		for _, v := range fields[1:min(len(fields), 8)] { // user … softirq: Docker's sum
			n, _ := strconv.ParseUint(v, 10, 64)
			ticks += n
		}
		return ticks * (1e9 / clockTicks), online
	}
	return 0, online
}

// hostMemory is MemTotal in bytes.
func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// netDev sums the counters of the interfaces of pid's network namespace,
// loopback excluded (a host-network container shows the host's).
func netDev(pid int) (rx, tx uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return 0, 0
	}
	return parseNetDev(string(b))
}

func parseNetDev(s string) (rx, tx uint64) {
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		rx += r
		tx += t
	}
	return rx, tx
}
