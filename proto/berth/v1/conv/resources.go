package conv

import (
	"github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// ResourcesToProto converts a container's limits.
func ResourcesToProto(r container.Resources) *berthv1.Resources {
	p := &berthv1.Resources{
		Memory:            r.Memory,
		MemorySwap:        r.MemorySwap,
		MemoryReservation: r.MemoryReservation,
		NanoCpus:          r.NanoCPUs,
		CpuShares:         r.CPUShares,
		CpusetCpus:        r.CpusetCpus,
		CpusetMems:        r.CpusetMems,
		PidsLimit:         r.PidsLimit,
		BlkioWeight:       uint32(r.BlkioWeight),
		ShmSize:           r.ShmSize,
		OomScoreAdj:       int32(r.OomScoreAdj),
		CgroupParent:      r.CgroupParent,
		CgroupnsMode:      r.CgroupnsMode,
		Sysctls:           r.Sysctls,
		CpuPeriod:         r.CPUPeriod,
		CpuQuota:          r.CPUQuota,
		MemorySwappiness:  r.MemorySwappiness,
		OomKillDisable:    r.OomKillDisable,
		CdiDevices:        r.CDIDevices,
	}
	for _, u := range r.Ulimits {
		p.Ulimits = append(p.Ulimits, &berthv1.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	p.BlkioDeviceReadBps, p.BlkioDeviceWriteBps = throttlesToProto(r.BlkioDeviceReadBps), throttlesToProto(r.BlkioDeviceWriteBps)
	p.BlkioDeviceReadIops, p.BlkioDeviceWriteIops = throttlesToProto(r.BlkioDeviceReadIOps), throttlesToProto(r.BlkioDeviceWriteIOps)
	for _, d := range r.Devices {
		p.Devices = append(p.Devices, &berthv1.DeviceMapping{
			PathOnHost: d.PathOnHost, PathInContainer: d.PathInContainer, CgroupPermissions: d.CgroupPermissions,
		})
	}
	return p
}

// ResourcesFromProto is the inverse of ResourcesToProto; nil gives zero.
func ResourcesFromProto(p *berthv1.Resources) container.Resources {
	if p == nil {
		return container.Resources{}
	}
	r := container.Resources{
		Memory:            p.GetMemory(),
		MemorySwap:        p.GetMemorySwap(),
		MemoryReservation: p.GetMemoryReservation(),
		NanoCPUs:          p.GetNanoCpus(),
		CPUShares:         p.GetCpuShares(),
		CpusetCpus:        p.GetCpusetCpus(),
		CpusetMems:        p.GetCpusetMems(),
		PidsLimit:         p.GetPidsLimit(),
		BlkioWeight:       uint16(p.GetBlkioWeight()),
		ShmSize:           p.GetShmSize(),
		OomScoreAdj:       int(p.GetOomScoreAdj()),
		CgroupParent:      p.GetCgroupParent(),
		CgroupnsMode:      p.GetCgroupnsMode(),
		Sysctls:           p.GetSysctls(),
		CPUPeriod:         p.GetCpuPeriod(),
		CPUQuota:          p.GetCpuQuota(),
		OomKillDisable:    p.GetOomKillDisable(),
		CDIDevices:        p.GetCdiDevices(),
	}
	if p.MemorySwappiness != nil {
		v := p.GetMemorySwappiness()
		r.MemorySwappiness = &v
	}
	for _, u := range p.GetUlimits() {
		r.Ulimits = append(r.Ulimits, container.Ulimit{Name: u.GetName(), Soft: u.GetSoft(), Hard: u.GetHard()})
	}
	r.BlkioDeviceReadBps, r.BlkioDeviceWriteBps = throttlesFromProto(p.GetBlkioDeviceReadBps()), throttlesFromProto(p.GetBlkioDeviceWriteBps())
	r.BlkioDeviceReadIOps, r.BlkioDeviceWriteIOps = throttlesFromProto(p.GetBlkioDeviceReadIops()), throttlesFromProto(p.GetBlkioDeviceWriteIops())
	for _, d := range p.GetDevices() {
		r.Devices = append(r.Devices, container.DeviceMapping{
			PathOnHost: d.GetPathOnHost(), PathInContainer: d.GetPathInContainer(), CgroupPermissions: d.GetCgroupPermissions(),
		})
	}
	return r
}

// SecurityToProto converts a container's privilege settings.
func SecurityToProto(s container.Security) *berthv1.Security {
	return &berthv1.Security{
		Privileged:    s.Privileged,
		CapAdd:        s.CapAdd,
		CapDrop:       s.CapDrop,
		SecurityOpt:   s.SecurityOpt,
		GroupAdd:      s.GroupAdd,
		MaskedPaths:   pathListToProto(s.MaskedPaths),
		ReadonlyPaths: pathListToProto(s.ReadonlyPaths),
	}
}

// pathListToProto keeps nil (the defaults) apart from empty (none).
func pathListToProto(paths []string) *berthv1.PathList {
	if paths == nil {
		return nil
	}
	return &berthv1.PathList{Paths: paths}
}

func pathListFromProto(p *berthv1.PathList) []string {
	if p == nil {
		return nil
	}
	if p.GetPaths() == nil {
		return []string{}
	}
	return p.GetPaths()
}

// SecurityFromProto is the inverse of SecurityToProto; nil gives zero.
func SecurityFromProto(p *berthv1.Security) container.Security {
	return container.Security{
		Privileged:    p.GetPrivileged(),
		CapAdd:        p.GetCapAdd(),
		CapDrop:       p.GetCapDrop(),
		SecurityOpt:   p.GetSecurityOpt(),
		GroupAdd:      p.GetGroupAdd(),
		MaskedPaths:   pathListFromProto(p.GetMaskedPaths()),
		ReadonlyPaths: pathListFromProto(p.GetReadonlyPaths()),
	}
}

// StatsToProto converts one stats sample.
func StatsToProto(s *container.Stats) *berthv1.ContainerStats {
	return &berthv1.ContainerStats{
		Id: s.ID, Name: s.Name, Read: Timestamp(s.Read), Running: s.Running,
		CpuUsage: s.CPUUsage, SystemCpuUsage: s.SystemCPUUsage, OnlineCpus: s.OnlineCPUs,
		MemoryUsage: s.MemoryUsage, MemoryLimit: s.MemoryLimit,
		NetRx: s.NetRx, NetTx: s.NetTx, BlockRead: s.BlockRead, BlockWrite: s.BlockWrite,
		Pids: s.Pids, PidsLimit: s.PidsLimit,
	}
}

// StatsFromProto is the inverse of StatsToProto.
func StatsFromProto(p *berthv1.ContainerStats) *container.Stats {
	return &container.Stats{
		ID: p.GetId(), Name: p.GetName(), Read: Time(p.GetRead()), Running: p.GetRunning(),
		CPUUsage: p.GetCpuUsage(), SystemCPUUsage: p.GetSystemCpuUsage(), OnlineCPUs: p.GetOnlineCpus(),
		MemoryUsage: p.GetMemoryUsage(), MemoryLimit: p.GetMemoryLimit(),
		NetRx: p.GetNetRx(), NetTx: p.GetNetTx(), BlockRead: p.GetBlockRead(), BlockWrite: p.GetBlockWrite(),
		Pids: p.GetPids(), PidsLimit: p.GetPidsLimit(),
	}
}

func throttlesToProto(ts []container.ThrottleDevice) []*berthv1.ThrottleDevice {
	var out []*berthv1.ThrottleDevice
	for _, t := range ts {
		out = append(out, &berthv1.ThrottleDevice{Path: t.Path, Rate: t.Rate})
	}
	return out
}

func throttlesFromProto(ts []*berthv1.ThrottleDevice) []container.ThrottleDevice {
	var out []container.ThrottleDevice
	for _, t := range ts {
		out = append(out, container.ThrottleDevice{Path: t.GetPath(), Rate: t.GetRate()})
	}
	return out
}
