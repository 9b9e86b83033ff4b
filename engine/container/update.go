package container

import (
	"context"
	"fmt"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Update changes the cgroup limits of a container (`berth update`): the
// non-zero fields of r among Memory, MemorySwap, MemoryReservation,
// NanoCPUs, CPUShares, CpusetCpus, CpusetMems, PidsLimit and BlkioWeight.
// A running container's task is updated at once; the new values are stored
// with the container (its Config and OCI spec) so they survive restarts.
// Other fields of r are refused.
func (s *Service) Update(ctx context.Context, ref string, r containertypes.Resources) (warnings []string, err error) {
	ctx = s.ctx(ctx)
	if err := updatableOnly(r); err != nil {
		return nil, err
	}
	rec, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	rec.op.Lock()
	defer rec.op.Unlock()

	c, cfg, err := s.storedConfig(ctx, rec.id)
	if err != nil {
		return nil, err
	}
	merged := mergeResources(cfg.Resources, r)
	if warnings, err = validateResources(&merged); err != nil {
		return nil, err
	}
	// Docker's rule: a new memory limit above the current swap limit needs
	// a new swap limit too (the default, twice the memory, is recomputed).
	if r.Memory > 0 && r.MemorySwap == 0 && cfg.Resources.MemorySwap > 0 && r.Memory > cfg.Resources.MemorySwap {
		return nil, fmt.Errorf("memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time: %w", errdefs.ErrInvalidArgument)
	}
	if r.Memory > 0 && r.MemorySwap == 0 && cfg.Resources.MemorySwap == 0 {
		merged.MemorySwap = 0 // recomputed as twice the new memory
	}
	lr := linuxResources(merged)

	if _, err := s.taskState(ctx, rec.id); err == nil {
		any, err := typeurl.MarshalAny(lr)
		if err != nil {
			return nil, err
		}
		if _, err := s.taskClient().Update(ctx, &tasks.UpdateTaskRequest{ContainerID: rec.id, Resources: typeurl.MarshalProto(any)}); err != nil {
			return nil, fmt.Errorf("updating the limits of %s: %w", rec.name, errgrpc.ToNative(err))
		}
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}

	cfg.Resources = merged
	if err := s.storeResources(ctx, c, cfg, lr); err != nil {
		return nil, fmt.Errorf("storing the new limits of %s: %w", rec.name, err)
	}
	s.publish(rec, "update", nil)
	return warnings, nil
}

// updatableOnly refuses fields Update cannot change.
func updatableOnly(r containertypes.Resources) error {
	fixed := r
	fixed.Memory, fixed.MemorySwap, fixed.MemoryReservation = 0, 0, 0
	fixed.NanoCPUs, fixed.CPUShares, fixed.CpusetCpus, fixed.CpusetMems = 0, 0, "", ""
	fixed.PidsLimit, fixed.BlkioWeight, fixed.CPUPeriod, fixed.CPUQuota = 0, 0, 0, 0
	if fixed.OomScoreAdj != 0 || fixed.MemorySwappiness != nil || fixed.OomKillDisable || fixed.ShmSize != 0 || fixed.CgroupParent != "" || fixed.CgroupnsMode != "" ||
		len(fixed.Ulimits) > 0 || len(fixed.Devices) > 0 || len(fixed.Sysctls) > 0 ||
		len(fixed.BlkioDeviceReadBps)+len(fixed.BlkioDeviceWriteBps)+len(fixed.BlkioDeviceReadIOps)+len(fixed.BlkioDeviceWriteIOps) > 0 {
		return fmt.Errorf("update changes only memory, memory-swap, memory-reservation, cpus, cpu-shares, cpu-period, cpu-quota, cpuset-cpus, cpuset-mems, pids-limit and blkio-weight: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// mergeResources overlays the non-zero updatable fields of r on cur.
func mergeResources(cur, r containertypes.Resources) containertypes.Resources {
	if r.Memory != 0 {
		cur.Memory = r.Memory
	}
	if r.MemorySwap != 0 {
		cur.MemorySwap = r.MemorySwap
	}
	if r.MemoryReservation != 0 {
		cur.MemoryReservation = r.MemoryReservation
	}
	if r.NanoCPUs != 0 {
		cur.NanoCPUs = r.NanoCPUs
	}
	if r.CPUShares != 0 {
		cur.CPUShares = r.CPUShares
	}
	if r.CpusetCpus != "" {
		cur.CpusetCpus = r.CpusetCpus
	}
	if r.CpusetMems != "" {
		cur.CpusetMems = r.CpusetMems
	}
	if r.PidsLimit != 0 {
		cur.PidsLimit = r.PidsLimit
	}
	if r.BlkioWeight != 0 {
		cur.BlkioWeight = r.BlkioWeight
	}
	if r.CPUPeriod != 0 {
		cur.CPUPeriod = r.CPUPeriod
	}
	if r.CPUQuota != 0 {
		cur.CPUQuota = r.CPUQuota
	}
	return cur
}

// storeResources writes cfg and the new cgroup limits into the stored
// container: the next task is created from its spec.
func (s *Service) storeResources(ctx context.Context, c containers.Container, cfg *containertypes.Config, lr *specs.LinuxResources) error {
	v, err := typeurl.UnmarshalAny(c.Spec)
	if err != nil {
		return err
	}
	spec, ok := v.(*specs.Spec)
	if !ok || spec.Linux == nil {
		return fmt.Errorf("container %s has no Linux spec", c.ID)
	}
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	spec.Linux.Resources.Memory = lr.Memory
	spec.Linux.Resources.CPU = lr.CPU
	spec.Linux.Resources.Pids = lr.Pids
	spec.Linux.Resources.BlockIO = lr.BlockIO
	specAny, err := typeurl.MarshalAny(spec)
	if err != nil {
		return err
	}
	cfgAny, err := typeurl.MarshalAny(cfg)
	if err != nil {
		return err
	}
	_, err = s.containerStore().Update(ctx, containers.Container{
		ID:         c.ID,
		Spec:       specAny,
		Extensions: map[string]typeurl.Any{extConfig: cfgAny},
	}, "spec", "extensions."+extConfig)
	return err
}

// UpdateRestartPolicy changes a container's restart policy (`berth update
// --restart`); it applies from the container's next exit on.
func (s *Service) UpdateRestartPolicy(ctx context.Context, ref string, p containertypes.RestartPolicy) error {
	ctx = s.ctx(ctx)
	rec, err := s.lookup(ref)
	if err != nil {
		return err
	}
	rec.op.Lock()
	defer rec.op.Unlock()
	c, cfg, err := s.storedConfig(ctx, rec.id)
	if err != nil {
		return err
	}
	if p.Name == "no" {
		p.Name = ""
	}
	if cfg.AutoRemove && p.Name != "" {
		return fmt.Errorf("Restart policy cannot be updated because AutoRemove is enabled for the container: %w", errdefs.ErrConflict)
	}
	next := *cfg
	next.RestartPolicy = p
	if err := validateConfig(&next); err != nil {
		return err
	}
	cfgAny, err := typeurl.MarshalAny(&next)
	if err != nil {
		return err
	}
	if _, err := s.containerStore().Update(ctx, containers.Container{
		ID:         c.ID,
		Extensions: map[string]typeurl.Any{extConfig: cfgAny},
	}, "extensions."+extConfig); err != nil {
		return fmt.Errorf("storing the restart policy of %s: %w", rec.name, err)
	}
	s.publish(rec, "update", nil)
	return nil
}
