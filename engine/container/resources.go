package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// cfsPeriod is the CFS period --cpus is expressed over, Docker's.
const cfsPeriod = 100000

// defaultShmSize is Docker's /dev/shm size.
const defaultShmSize = 64 << 20

// validateResources checks r and returns Docker's warnings for what this
// host cannot enforce; those settings are dropped from r.
func validateResources(r *containertypes.Resources) (warnings []string, err error) {
	inv := func(format string, a ...any) error {
		return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	if r.CPUShares < 0 { // dockerd's words
		return nil, inv("invalid CPU shares (%d): value must be a positive integer", r.CPUShares)
	}
	if r.Memory < 0 || r.MemoryReservation < 0 || r.NanoCPUs < 0 || r.ShmSize < 0 {
		return nil, inv("resource limits cannot be negative")
	}
	for _, list := range [][]containertypes.ThrottleDevice{r.BlkioDeviceReadBps, r.BlkioDeviceWriteBps, r.BlkioDeviceReadIOps, r.BlkioDeviceWriteIOps} {
		for _, t := range list {
			if _, _, err := blockDevice(t.Path); err != nil {
				return nil, inv("device throttle on %s: %v (name a host block device, e.g. /dev/sda)", t.Path, err)
			}
			if t.Rate == 0 {
				return nil, inv("device throttle on %s: the rate must be positive", t.Path)
			}
		}
	}
	if n := runtime.NumCPU(); r.NanoCPUs > int64(n)*1e9 {
		return nil, inv("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	if r.NanoCPUs > 0 && r.NanoCPUs < 1e7 {
		return nil, inv("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", runtime.NumCPU(), runtime.NumCPU())
	}
	if r.NanoCPUs > 0 && (r.CPUPeriod > 0 || r.CPUQuota > 0) {
		return nil, inv("conflicting options: --cpus and --cpu-period/--cpu-quota: use one or the other")
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return nil, inv("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return nil, inv("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.MemorySwappiness != nil && (*r.MemorySwappiness < 0 || *r.MemorySwappiness > 100) {
		return nil, inv("invalid value: %d, valid memory swappiness range is 0-100", *r.MemorySwappiness)
	}
	if r.Memory > 0 && r.Memory < 6<<20 {
		return nil, inv("minimum memory limit allowed is 6MB")
	}
	if r.MemorySwap > 0 && r.Memory == 0 {
		return nil, inv("you should always set the memory limit when using the memory-swap limit, see usage")
	}
	if r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return nil, inv("minimum memory-swap limit should be larger than memory limit, see usage")
	}
	if r.Memory > 0 && r.MemoryReservation > r.Memory {
		return nil, inv("minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.BlkioWeight != 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return nil, inv("range of blkio weight is from 10 to 1000")
	}
	if r.OomScoreAdj < -1000 || r.OomScoreAdj > 1000 {
		return nil, inv("invalid value %d, range for oom score adj is [-1000, 1000]", r.OomScoreAdj)
	}
	switch r.CgroupnsMode {
	case "", "host", "private":
	default:
		return nil, inv("invalid cgroup namespace mode: %s (use host or private)", r.CgroupnsMode)
	}
	if r.CgroupParent != "" && slices.Contains(strings.Split(r.CgroupParent, "/"), "..") {
		return nil, inv("invalid cgroup parent %q: no .. components", r.CgroupParent)
	}
	for _, u := range r.Ulimits {
		if _, ok := rlimitNames[strings.ToLower(u.Name)]; !ok {
			return nil, inv("invalid ulimit type: %s", u.Name)
		}
		if u.Soft > u.Hard {
			return nil, inv("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
		}
	}
	for _, d := range r.Devices {
		if !filepath.IsAbs(d.PathOnHost) {
			return nil, inv("invalid device %q: the host path must be absolute", d.PathOnHost)
		}
		if strings.Trim(d.CgroupPermissions, "rwm") != "" {
			return nil, inv("invalid device mode %q: use a combination of r, w and m", d.CgroupPermissions)
		}
	}
	for k := range r.Sysctls {
		if !namespacedSysctl(k) {
			return nil, inv("sysctl %q is not allowed: only namespaced kernel parameters (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*) can be set", k)
		}
	}
	if cgroupV1() {
		if r.MemorySwap != 0 && !exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") {
			warnings = append(warnings, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
			r.MemorySwap = 0
		}
		if r.BlkioWeight != 0 && !exists("/sys/fs/cgroup/blkio/blkio.weight") && !exists("/sys/fs/cgroup/blkio/blkio.bfq.weight") {
			warnings = append(warnings, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
			r.BlkioWeight = 0
		}
	}
	return warnings, nil
}

// namespacedSysctl is Docker's rule: only kernel parameters that belong to a
// namespace the container has of its own may be set.
func namespacedSysctl(k string) bool {
	switch {
	case k == "kernel.sem", k == "kernel.domainname", k == "kernel.hostname",
		strings.HasPrefix(k, "kernel.msg"), strings.HasPrefix(k, "kernel.shm"),
		strings.HasPrefix(k, "fs.mqueue."), strings.HasPrefix(k, "net."):
		return true
	}
	return false
}

var rlimitNames = map[string]string{
	"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
	"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
	"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
	"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// cgroupV1 reports whether the host's cgroup hierarchy is v1 (or hybrid):
// /sys/fs/cgroup is then a tmpfs of controllers, not cgroup2 itself.
func cgroupV1() bool {
	return !exists("/sys/fs/cgroup/cgroup.controllers")
}

// linuxResources is the cgroup part of r as the OCI spec has it; nil members
// are left as they are. It serves both create and Update.
func linuxResources(r containertypes.Resources) *specs.LinuxResources {
	out := &specs.LinuxResources{}
	mem := &specs.LinuxMemory{}
	if r.Memory > 0 {
		mem.Limit = ptr(r.Memory)
		swap := r.MemorySwap
		if swap == 0 && cgroupV1() && exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") {
			swap = 2 * r.Memory
		}
		if swap != 0 {
			mem.Swap = ptr(swap)
		}
	} else if r.MemorySwap != 0 {
		mem.Swap = ptr(r.MemorySwap)
	}
	if r.MemoryReservation > 0 {
		mem.Reservation = ptr(r.MemoryReservation)
	}
	if *mem != (specs.LinuxMemory{}) {
		out.Memory = mem
	}
	cpu := &specs.LinuxCPU{}
	if r.NanoCPUs > 0 {
		cpu.Period = ptr(uint64(cfsPeriod))
		cpu.Quota = ptr(r.NanoCPUs * cfsPeriod / 1e9)
	}
	if r.CPUPeriod > 0 {
		cpu.Period = ptr(uint64(r.CPUPeriod))
	}
	if r.CPUQuota != 0 {
		cpu.Quota = ptr(r.CPUQuota)
	}
	if r.MemorySwappiness != nil {
		if out.Memory == nil {
			out.Memory = &specs.LinuxMemory{}
		}
		out.Memory.Swappiness = ptr(uint64(*r.MemorySwappiness))
	}
	if r.OomKillDisable {
		if out.Memory == nil {
			out.Memory = &specs.LinuxMemory{}
		}
		out.Memory.DisableOOMKiller = ptr(true)
	}
	if r.CPUShares > 0 {
		cpu.Shares = ptr(uint64(r.CPUShares))
	}
	cpu.Cpus, cpu.Mems = r.CpusetCpus, r.CpusetMems
	if cpu.Period != nil || cpu.Quota != nil || cpu.Shares != nil || cpu.Cpus != "" || cpu.Mems != "" {
		out.CPU = cpu
	}
	if r.PidsLimit != 0 {
		limit := r.PidsLimit
		if limit < 0 {
			limit = -1 // unlimited; runc writes "max"
		}
		out.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if r.BlkioWeight != 0 {
		out.BlockIO = &specs.LinuxBlockIO{Weight: ptr(r.BlkioWeight)}
	}
	if len(r.BlkioDeviceReadBps)+len(r.BlkioDeviceWriteBps)+len(r.BlkioDeviceReadIOps)+len(r.BlkioDeviceWriteIOps) > 0 {
		if out.BlockIO == nil {
			out.BlockIO = &specs.LinuxBlockIO{}
		}
		// runc writes these to blkio.throttle.* on cgroup v1 and to io.max
		// on cgroup v2.
		out.BlockIO.ThrottleReadBpsDevice = throttleDevices(r.BlkioDeviceReadBps)
		out.BlockIO.ThrottleWriteBpsDevice = throttleDevices(r.BlkioDeviceWriteBps)
		out.BlockIO.ThrottleReadIOPSDevice = throttleDevices(r.BlkioDeviceReadIOps)
		out.BlockIO.ThrottleWriteIOPSDevice = throttleDevices(r.BlkioDeviceWriteIOps)
	}
	return out
}

// blockDevice is the major and minor number of the block device at path.
func blockDevice(path string) (major, minor int64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, fmt.Errorf("%s is not a block device", path)
	}
	return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), nil
}

func throttleDevices(ts []containertypes.ThrottleDevice) []specs.LinuxThrottleDevice {
	var out []specs.LinuxThrottleDevice
	for _, t := range ts {
		major, minor, err := blockDevice(t.Path)
		if err != nil {
			continue // validateResources refused it at create; gone since
		}
		d := specs.LinuxThrottleDevice{Rate: t.Rate}
		d.Major, d.Minor = major, minor
		out = append(out, d)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// withResources applies r to the spec: cgroup limits, rlimits, devices,
// /dev/shm, the OOM score, the cgroup path and namespace, and sysctls.
func withResources(id string, r containertypes.Resources) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		lr := linuxResources(r)
		s.Linux.Resources.Memory = lr.Memory
		s.Linux.Resources.CPU = lr.CPU
		s.Linux.Resources.Pids = lr.Pids
		s.Linux.Resources.BlockIO = lr.BlockIO
		for _, u := range r.Ulimits {
			typ := rlimitNames[strings.ToLower(u.Name)]
			s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(l specs.POSIXRlimit) bool { return l.Type == typ })
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: typ, Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
		}
		for _, d := range r.Devices {
			perms := d.CgroupPermissions
			if perms == "" {
				perms = "rwm"
			}
			if err := oci.WithDevices(d.PathOnHost, d.PathInContainer, perms)(ctx, client, c, s); err != nil {
				return fmt.Errorf("device %s: %w", d.PathOnHost, err)
			}
		}
		shm := r.ShmSize
		if shm == 0 {
			shm = defaultShmSize
		}
		if err := oci.WithDevShmSize(shm/1024)(ctx, client, c, s); err != nil {
			return err
		}
		if r.OomScoreAdj != 0 {
			s.Process.OOMScoreAdj = ptr(r.OomScoreAdj)
		}
		if r.CgroupParent != "" {
			s.Linux.CgroupsPath = filepath.Join("/", r.CgroupParent, id)
		}
		private := r.CgroupnsMode == "private" || (r.CgroupnsMode == "" && !cgroupV1())
		if private {
			if err := oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace})(ctx, client, c, s); err != nil {
				return err
			}
		}
		if len(r.Sysctls) > 0 && s.Linux.Sysctl == nil {
			s.Linux.Sysctl = make(map[string]string, len(r.Sysctls))
		}
		for k, v := range r.Sysctls {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}

// validateHostConfig checks the resource and security settings of cfg
// before anything is created; settings this host cannot enforce are
// dropped with Docker's warnings.
func validateHostConfig(cfg *containertypes.Config) ([]string, error) {
	if err := validateSecurity(&cfg.Security); err != nil {
		return nil, err
	}
	return validateResources(&cfg.Resources)
}
