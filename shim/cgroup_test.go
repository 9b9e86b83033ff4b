package shim

import (
	"testing"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	runc "github.com/containerd/go-runc"
	"github.com/containerd/typeurl/v2"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

func runcStats() *runc.Stats {
	return &runc.Stats{
		Cpu: runc.Cpu{
			Usage:      runc.CpuUsage{Total: 3_000_000, Kernel: 1_000_000, User: 2_000_000, Percpu: []uint64{1_500_000, 1_500_000}},
			Throttling: runc.Throttling{Periods: 7, ThrottledPeriods: 2, ThrottledTime: 9000},
		},
		Memory: runc.Memory{
			Cache: 11,
			Usage: runc.MemoryEntry{Limit: 64 << 20, Usage: 1 << 20, Max: 2 << 20, Failcnt: 1},
			Swap:  runc.MemoryEntry{Limit: 128 << 20, Usage: 5},
			Raw:   map[string]uint64{"total_rss": 4096, "pgfault": 12, "anon": 8192, "file_dirty": 3},
		},
		Pids: runc.Pids{Current: 2, Limit: 100},
		Blkio: runc.Blkio{
			IoServiceBytesRecursive: []runc.BlkioEntry{{Major: 8, Minor: 0, Op: "Read", Value: 512}, {Major: 8, Minor: 0, Op: "Write", Value: 1024}},
			IoServicedRecursive:     []runc.BlkioEntry{{Major: 8, Minor: 0, Op: "Read", Value: 1}},
		},
		Hugetlb: map[string]runc.Hugetlb{"2MB": {Usage: 1, Max: 2, Failcnt: 3}},
	}
}

// TestMetrics decodes the Stats Any with typeurl into cgroups/v3's types,
// as containerd's clients do, and checks what runc reported is there.
func TestMetrics(t *testing.T) {
	decode := func(m tw.Message) any {
		a := tw.MarshalAny(m)
		v, err := typeurl.UnmarshalByTypeURL(a.TypeUrl, a.Value)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	m1, ok := decode(metrics(runcStats(), false)).(*v1.Metrics)
	if !ok {
		t.Fatal("v1 metrics decode to another type")
	}
	if m1.Memory.Usage.Limit != 64<<20 || m1.Memory.TotalRSS != 4096 || m1.Memory.PgFault != 12 || m1.Memory.Swap.Limit != 128<<20 ||
		m1.CPU.Usage.Total != 3_000_000 || len(m1.CPU.Usage.PerCPU) != 2 || m1.CPU.Throttling.ThrottledTime != 9000 ||
		m1.Pids.Limit != 100 || len(m1.Blkio.IoServiceBytesRecursive) != 2 || m1.Blkio.IoServiceBytesRecursive[1].Value != 1024 ||
		len(m1.Hugetlb) != 1 || m1.Hugetlb[0].Pagesize != "2MB" || m1.Hugetlb[0].Failcnt != 3 {
		t.Errorf("v1 metrics: %v", m1)
	}
	m2, ok := decode(metrics(runcStats(), true)).(*v2.Metrics)
	if !ok {
		t.Fatal("v2 metrics decode to another type")
	}
	if m2.Memory.UsageLimit != 64<<20 || m2.Memory.Anon != 8192 || m2.Memory.FileDirty != 3 || m2.CPU.UsageUsec != 3000 ||
		m2.CPU.ThrottledUsec != 9 || m2.Pids.Current != 2 || len(m2.Io.Usage) != 1 || m2.Io.Usage[0].Rbytes != 512 ||
		m2.Io.Usage[0].Wbytes != 1024 || m2.Io.Usage[0].Rios != 1 || len(m2.Hugetlb) != 1 || m2.Hugetlb[0].Max != 2 {
		t.Errorf("v2 metrics: %v", m2)
	}
}
