package taskwire

// cgroup metrics returned by Stats (cgroups/v3 cgroup1/stats and
// cgroup2/stats metrics.proto): the messages and fields the shim fills from
// `runc events --stats`. RDMA, network, PSI and cgroup task counts are not
// reported (runc does not give them).

// MetricsV1 is io.containerd.cgroups.v1.Metrics.
type MetricsV1 struct {
	Hugetlb []*HugetlbStatV1 `pb:"1"`
	Pids    *PidsStat        `pb:"2"`
	CPU     *CPUStatV1       `pb:"3"`
	Memory  *MemoryStatV1    `pb:"4"`
	Blkio   *BlkIOStat       `pb:"5"`
}

func (*MetricsV1) TypeURL() string { return "io.containerd.cgroups.v1.Metrics" }

type HugetlbStatV1 struct {
	Usage    uint64 `pb:"1"`
	Max      uint64 `pb:"2"`
	Failcnt  uint64 `pb:"3"`
	Pagesize string `pb:"4"`
}

// PidsStat is the same message in v1 and v2.
type PidsStat struct {
	Current uint64 `pb:"1"`
	Limit   uint64 `pb:"2"`
}

type CPUStatV1 struct {
	Usage      *CPUUsage `pb:"1"`
	Throttling *Throttle `pb:"2"`
}

type CPUUsage struct {
	Total  uint64   `pb:"1"`
	Kernel uint64   `pb:"2"`
	User   uint64   `pb:"3"`
	PerCPU []uint64 `pb:"4"`
}

type Throttle struct {
	Periods          uint64 `pb:"1"`
	ThrottledPeriods uint64 `pb:"2"`
	ThrottledTime    uint64 `pb:"3"`
}

type MemoryStatV1 struct {
	Cache                   uint64       `pb:"1"`
	RSS                     uint64       `pb:"2"`
	RSSHuge                 uint64       `pb:"3"`
	MappedFile              uint64       `pb:"4"`
	Dirty                   uint64       `pb:"5"`
	Writeback               uint64       `pb:"6"`
	PgPgIn                  uint64       `pb:"7"`
	PgPgOut                 uint64       `pb:"8"`
	PgFault                 uint64       `pb:"9"`
	PgMajFault              uint64       `pb:"10"`
	InactiveAnon            uint64       `pb:"11"`
	ActiveAnon              uint64       `pb:"12"`
	InactiveFile            uint64       `pb:"13"`
	ActiveFile              uint64       `pb:"14"`
	Unevictable             uint64       `pb:"15"`
	HierarchicalMemoryLimit uint64       `pb:"16"`
	HierarchicalSwapLimit   uint64       `pb:"17"`
	TotalCache              uint64       `pb:"18"`
	TotalRSS                uint64       `pb:"19"`
	TotalRSSHuge            uint64       `pb:"20"`
	TotalMappedFile         uint64       `pb:"21"`
	TotalDirty              uint64       `pb:"22"`
	TotalWriteback          uint64       `pb:"23"`
	TotalPgPgIn             uint64       `pb:"24"`
	TotalPgPgOut            uint64       `pb:"25"`
	TotalPgFault            uint64       `pb:"26"`
	TotalPgMajFault         uint64       `pb:"27"`
	TotalInactiveAnon       uint64       `pb:"28"`
	TotalActiveAnon         uint64       `pb:"29"`
	TotalInactiveFile       uint64       `pb:"30"`
	TotalActiveFile         uint64       `pb:"31"`
	TotalUnevictable        uint64       `pb:"32"`
	Usage                   *MemoryEntry `pb:"33"`
	Swap                    *MemoryEntry `pb:"34"`
	Kernel                  *MemoryEntry `pb:"35"`
	KernelTCP               *MemoryEntry `pb:"36"`
}

type MemoryEntry struct {
	Limit   uint64 `pb:"1"`
	Usage   uint64 `pb:"2"`
	Max     uint64 `pb:"3"`
	Failcnt uint64 `pb:"4"`
}

type BlkIOStat struct {
	IoServiceBytesRecursive []*BlkIOEntry `pb:"1"`
	IoServicedRecursive     []*BlkIOEntry `pb:"2"`
	IoQueuedRecursive       []*BlkIOEntry `pb:"3"`
	IoServiceTimeRecursive  []*BlkIOEntry `pb:"4"`
	IoWaitTimeRecursive     []*BlkIOEntry `pb:"5"`
	IoMergedRecursive       []*BlkIOEntry `pb:"6"`
	IoTimeRecursive         []*BlkIOEntry `pb:"7"`
	SectorsRecursive        []*BlkIOEntry `pb:"8"`
}

type BlkIOEntry struct {
	Op     string `pb:"1"`
	Device string `pb:"2"`
	Major  uint64 `pb:"3"`
	Minor  uint64 `pb:"4"`
	Value  uint64 `pb:"5"`
}

// MetricsV2 is io.containerd.cgroups.v2.Metrics.
type MetricsV2 struct {
	Pids    *PidsStat        `pb:"1"`
	CPU     *CPUStatV2       `pb:"2"`
	Memory  *MemoryStatV2    `pb:"4"`
	Io      *IOStat          `pb:"6"` //nolint:revive // named as the generated field
	Hugetlb []*HugeTlbStatV2 `pb:"7"`
}

func (*MetricsV2) TypeURL() string { return "io.containerd.cgroups.v2.Metrics" }

type CPUStatV2 struct {
	UsageUsec     uint64 `pb:"1"`
	UserUsec      uint64 `pb:"2"`
	SystemUsec    uint64 `pb:"3"`
	NrPeriods     uint64 `pb:"4"`
	NrThrottled   uint64 `pb:"5"`
	ThrottledUsec uint64 `pb:"6"`
	NrBursts      uint64 `pb:"8"`
	BurstUsec     uint64 `pb:"9"`
}

type MemoryStatV2 struct {
	Anon                  uint64 `pb:"1"`
	File                  uint64 `pb:"2"`
	KernelStack           uint64 `pb:"3"`
	Slab                  uint64 `pb:"4"`
	Sock                  uint64 `pb:"5"`
	Shmem                 uint64 `pb:"6"`
	FileMapped            uint64 `pb:"7"`
	FileDirty             uint64 `pb:"8"`
	FileWriteback         uint64 `pb:"9"`
	AnonThp               uint64 `pb:"10"`
	InactiveAnon          uint64 `pb:"11"`
	ActiveAnon            uint64 `pb:"12"`
	InactiveFile          uint64 `pb:"13"`
	ActiveFile            uint64 `pb:"14"`
	Unevictable           uint64 `pb:"15"`
	SlabReclaimable       uint64 `pb:"16"`
	SlabUnreclaimable     uint64 `pb:"17"`
	Pgfault               uint64 `pb:"18"`
	Pgmajfault            uint64 `pb:"19"`
	WorkingsetRefault     uint64 `pb:"20"`
	WorkingsetActivate    uint64 `pb:"21"`
	WorkingsetNodereclaim uint64 `pb:"22"`
	Pgrefill              uint64 `pb:"23"`
	Pgscan                uint64 `pb:"24"`
	Pgsteal               uint64 `pb:"25"`
	Pgactivate            uint64 `pb:"26"`
	Pgdeactivate          uint64 `pb:"27"`
	Pglazyfree            uint64 `pb:"28"`
	Pglazyfreed           uint64 `pb:"29"`
	ThpFaultAlloc         uint64 `pb:"30"`
	ThpCollapseAlloc      uint64 `pb:"31"`
	Usage                 uint64 `pb:"32"`
	UsageLimit            uint64 `pb:"33"`
	SwapUsage             uint64 `pb:"34"`
	SwapLimit             uint64 `pb:"35"`
	MaxUsage              uint64 `pb:"36"`
	SwapMaxUsage          uint64 `pb:"37"`
}

type IOStat struct {
	Usage []*IOEntry `pb:"1"`
}

type IOEntry struct {
	Major  uint64 `pb:"1"`
	Minor  uint64 `pb:"2"`
	Rbytes uint64 `pb:"3"`
	Wbytes uint64 `pb:"4"`
	Rios   uint64 `pb:"5"`
	Wios   uint64 `pb:"6"`
}

type HugeTlbStatV2 struct {
	Current  uint64 `pb:"1"`
	Max      uint64 `pb:"2"`
	Pagesize string `pb:"3"`
	Failcnt  uint64 `pb:"4"`
}
