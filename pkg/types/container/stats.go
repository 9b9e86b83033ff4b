package container

import (
	"time"
)

// Stats is one sample of a container's resource usage (`berth stats`).
// Counters are cumulative: a CPU percentage is the difference of two
// samples, (ΔCPUUsage / ΔSystemCPUUsage) × OnlineCPUs × 100, as Docker.
// A container that is not running has Running false and zero values.
type Stats struct {
	ID      string
	Name    string
	Read    time.Time
	Running bool
	// CPUUsage is the container's CPU time in nanoseconds; SystemCPUUsage
	// the host's (all CPUs) since boot, read at the same moment.
	CPUUsage       uint64
	SystemCPUUsage uint64
	OnlineCPUs     uint32
	// MemoryUsage excludes the inactive page cache (Docker's figure);
	// MemoryLimit is the cgroup's limit, or the host's memory when unlimited.
	MemoryUsage uint64
	MemoryLimit uint64
	// NetRx and NetTx are bytes received and sent on the container's
	// interfaces (loopback excluded).
	NetRx uint64
	NetTx uint64
	// BlockRead and BlockWrite are bytes read from and written to block devices.
	BlockRead  uint64
	BlockWrite uint64
	// Pids is the number of processes; PidsLimit 0: no limit.
	Pids      uint64
	PidsLimit uint64
}
