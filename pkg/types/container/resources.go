package container

// Resources are a container's cgroup limits and process resource settings
// (docker run's resource flags). Zero values leave the runtime's default.
// Update changes the cgroup ones of a running container.
type Resources struct {
	// Memory limit in bytes (--memory).
	Memory int64 `json:"Memory,omitempty"`
	// MemorySwap is memory plus swap in bytes (--memory-swap); -1 unlimited
	// swap; 0 with Memory set: twice Memory, as Docker.
	MemorySwap int64 `json:"MemorySwap,omitempty"`
	// MemoryReservation is the soft limit in bytes (--memory-reservation).
	MemoryReservation int64 `json:"MemoryReservation,omitempty"`
	// NanoCPUs is --cpus in billionths of a CPU (a CFS quota over a 100 ms period).
	NanoCPUs int64 `json:"NanoCpus,omitempty"`
	// CPUShares is the relative CPU weight (--cpu-shares, default 1024).
	CPUShares int64 `json:"CpuShares,omitempty"`
	// CpusetCpus and CpusetMems pin the container (--cpuset-cpus 0-1, --cpuset-mems 0).
	CpusetCpus string `json:"CpusetCpus,omitempty"`
	CpusetMems string `json:"CpusetMems,omitempty"`
	// PidsLimit caps the number of processes (--pids-limit); 0 and -1: no limit.
	PidsLimit int64 `json:"PidsLimit,omitempty"`
	// BlkioWeight is the relative block IO weight, 10 to 1000 (--blkio-weight).
	BlkioWeight uint16 `json:"BlkioWeight,omitempty"`
	// Per-device block IO throttles (--device-read-bps /dev/sda:1mb,
	// --device-write-bps, --device-read-iops, --device-write-iops): bytes or
	// operations per second.
	BlkioDeviceReadBps   []ThrottleDevice `json:"BlkioDeviceReadBps,omitempty"`
	BlkioDeviceWriteBps  []ThrottleDevice `json:"BlkioDeviceWriteBps,omitempty"`
	BlkioDeviceReadIOps  []ThrottleDevice `json:"BlkioDeviceReadIOps,omitempty"`
	BlkioDeviceWriteIOps []ThrottleDevice `json:"BlkioDeviceWriteIOps,omitempty"`
	// Ulimits are the process's rlimits (--ulimit nofile=1024:2048).
	Ulimits []Ulimit `json:"Ulimits,omitempty"`
	// Devices are host devices added to the container (--device).
	Devices []DeviceMapping `json:"Devices,omitempty"`
	// CDIDevices are Container Device Interface devices by fully-qualified
	// name (--device vendor.com/class=name): the engine applies their
	// spec's edits (device nodes, env, mounts, hooks) at create.
	CDIDevices []string `json:"CDIDevices,omitempty"`
	// ShmSize of /dev/shm in bytes (--shm-size); 0: 64 MiB.
	ShmSize int64 `json:"ShmSize,omitempty"`
	// OomScoreAdj of the container's processes (--oom-score-adj, -1000 to 1000).
	OomScoreAdj int `json:"OomScoreAdj,omitempty"`
	// CgroupParent is the cgroup the container's cgroup is made under (--cgroup-parent).
	CgroupParent string `json:"CgroupParent,omitempty"`
	// CgroupnsMode is "host" or "private" (--cgroupns); "": host on cgroup
	// v1, private on v2, as Docker.
	CgroupnsMode string `json:"CgroupnsMode,omitempty"`
	// Sysctls are namespaced kernel parameters (--sysctl net.ipv4.ip_forward=1).
	Sysctls map[string]string `json:"Sysctls,omitempty"`
	// CPUPeriod and CPUQuota are the CFS period and quota in microseconds
	// (--cpu-period, --cpu-quota); exclusive with NanoCPUs.
	CPUPeriod int64 `json:"CpuPeriod,omitempty"`
	CPUQuota  int64 `json:"CpuQuota,omitempty"`
	// MemorySwappiness is 0 to 100 (--memory-swappiness); nil: the host's.
	MemorySwappiness *int64 `json:"MemorySwappiness,omitempty"`
	// OomKillDisable spares the container from the OOM killer.
	OomKillDisable bool `json:"OomKillDisable,omitempty"`
}

// Ulimit is one --ulimit: Name is the rlimit without RLIMIT_ (nofile, nproc…).
type Ulimit struct {
	Name string `json:"Name"`
	Soft int64  `json:"Soft"`
	Hard int64  `json:"Hard"`
}

// DeviceMapping is one --device HOST[:CONTAINER[:PERMISSIONS]].
type DeviceMapping struct {
	PathOnHost        string `json:"PathOnHost"`
	PathInContainer   string `json:"PathInContainer"`
	CgroupPermissions string `json:"CgroupPermissions"`
}

// ThrottleDevice is a rate limit on one host block device.
type ThrottleDevice struct {
	Path string `json:"Path"`
	Rate uint64 `json:"Rate"`
}
