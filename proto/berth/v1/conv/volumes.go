package conv

import (
	"io/fs"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/volume"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// mountConfigToProto carries Config's mount fields (-v, --mount, --tmpfs,
// --volumes-from, --read-only) and the links to other containers (--link).
func mountConfigToProto(c container.Config, p *berthv1.ContainerConfig) {
	p.Binds = c.Binds
	p.Tmpfs = c.Tmpfs
	p.VolumesFrom = c.VolumesFrom
	p.Links = c.Links
	p.ReadonlyRootfs = c.ReadonlyRootfs
	p.ReadOnlyBindsNonRecursive = c.ReadOnlyBindsNonRecursive
	for _, m := range c.Mounts {
		p.Mounts = append(p.Mounts, &berthv1.MountSpec{
			Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly,
			VolumeNoCopy: m.VolumeNoCopy, BindPropagation: m.BindPropagation,
			TmpfsSize: m.TmpfsSize, TmpfsMode: m.TmpfsMode,
			BindNonRecursive: m.BindNonRecursive, BindReadOnlyNonRecursive: m.BindReadOnlyNonRecursive,
			BindReadOnlyForceRecursive: m.BindReadOnlyForceRecursive, Subpath: m.Subpath,
		})
	}
}

func mountConfigFromProto(p *berthv1.ContainerConfig, c *container.Config) {
	c.Binds = p.GetBinds()
	c.Tmpfs = p.GetTmpfs()
	c.VolumesFrom = p.GetVolumesFrom()
	c.Links = p.GetLinks()
	c.ReadonlyRootfs = p.GetReadonlyRootfs()
	c.ReadOnlyBindsNonRecursive = p.GetReadOnlyBindsNonRecursive()
	for _, m := range p.GetMounts() {
		c.Mounts = append(c.Mounts, container.MountSpec{
			Type: m.GetType(), Source: m.GetSource(), Target: m.GetTarget(), ReadOnly: m.GetReadOnly(),
			VolumeNoCopy: m.GetVolumeNoCopy(), BindPropagation: m.GetBindPropagation(),
			TmpfsSize: m.GetTmpfsSize(), TmpfsMode: m.GetTmpfsMode(),
			BindNonRecursive: m.GetBindNonRecursive(), BindReadOnlyNonRecursive: m.GetBindReadOnlyNonRecursive(),
			BindReadOnlyForceRecursive: m.GetBindReadOnlyForceRecursive(), Subpath: m.GetSubpath(),
		})
	}
}

// MountPointsToProto converts Inspect's Mounts.
func MountPointsToProto(ms []container.MountPoint) []*berthv1.MountPoint {
	if ms == nil {
		return nil
	}
	out := make([]*berthv1.MountPoint, 0, len(ms))
	for _, m := range ms {
		out = append(out, &berthv1.MountPoint{
			Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination,
			Driver: m.Driver, Mode: m.Mode, Rw: m.RW, Propagation: m.Propagation,
		})
	}
	return out
}

// MountPointsFromProto is the inverse of MountPointsToProto.
func MountPointsFromProto(ps []*berthv1.MountPoint) []container.MountPoint {
	if ps == nil {
		return nil
	}
	out := make([]container.MountPoint, 0, len(ps))
	for _, p := range ps {
		out = append(out, container.MountPoint{
			Type: p.GetType(), Name: p.GetName(), Source: p.GetSource(), Destination: p.GetDestination(),
			Driver: p.GetDriver(), Mode: p.GetMode(), RW: p.GetRw(), Propagation: p.GetPropagation(),
		})
	}
	return out
}

// VolumeToProto converts a volume for the wire.
func VolumeToProto(v *volume.Volume) *berthv1.Volume {
	if v == nil {
		return nil
	}
	return &berthv1.Volume{
		Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, CreatedAt: Timestamp(v.CreatedAt),
		Labels: v.Labels, Options: v.Options, Scope: v.Scope, Anonymous: v.Anonymous, UsedBy: v.UsedBy,
	}
}

// VolumeFromProto is the inverse of VolumeToProto.
func VolumeFromProto(p *berthv1.Volume) *volume.Volume {
	if p == nil {
		return nil
	}
	return &volume.Volume{
		Name: p.GetName(), Driver: p.GetDriver(), Mountpoint: p.GetMountpoint(), CreatedAt: Time(p.GetCreatedAt()),
		Labels: p.GetLabels(), Options: p.GetOptions(), Scope: p.GetScope(), Anonymous: p.GetAnonymous(), UsedBy: p.GetUsedBy(),
	}
}

// CopyToOptionsToProto converts CopyTo's options.
func CopyToOptionsToProto(id string, o container.CopyToOptions) *berthv1.CopyToOptions {
	return &berthv1.CopyToOptions{
		Id: id, Path: o.Path, SrcName: o.SrcName, SrcIsDir: o.SrcIsDir,
		SrcContents: o.SrcContents, CopyUidGid: o.CopyUIDGID,
	}
}

// CopyToOptionsFromProto is the inverse of CopyToOptionsToProto.
func CopyToOptionsFromProto(p *berthv1.CopyToOptions) container.CopyToOptions {
	return container.CopyToOptions{
		Path: p.GetPath(), SrcName: p.GetSrcName(), SrcIsDir: p.GetSrcIsDir(),
		SrcContents: p.GetSrcContents(), CopyUIDGID: p.GetCopyUidGid(),
	}
}

// PathStatToProto converts a container path's stat.
func PathStatToProto(s container.PathStat) *berthv1.PathStat {
	return &berthv1.PathStat{
		Name: s.Name, Size: s.Size, Mode: uint32(s.Mode), Mtime: Timestamp(s.ModTime), LinkTarget: s.LinkTarget,
	}
}

// PathStatFromProto is the inverse of PathStatToProto.
func PathStatFromProto(p *berthv1.PathStat) container.PathStat {
	return container.PathStat{
		Name: p.GetName(), Size: p.GetSize(), Mode: fs.FileMode(p.GetMode()), ModTime: Time(p.GetMtime()), LinkTarget: p.GetLinkTarget(),
	}
}
