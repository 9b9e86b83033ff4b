package conv

import (
	"github.com/berthproject/berth/pkg/types/system"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// DiskUsageToProto converts `system df`'s report.
func DiskUsageToProto(d *system.DiskUsage) *berthv1.DiskUsageResponse {
	p := &berthv1.DiskUsageResponse{}
	for _, i := range d.Images {
		p.Images = append(p.Images, &berthv1.ImageUsage{Id: i.ID, RepoTags: i.RepoTags, Size: i.Size, Containers: int64(i.Containers)})
	}
	for _, c := range d.Containers {
		p.Containers = append(p.Containers, &berthv1.ContainerUsage{Id: c.ID, Name: c.Name, Image: c.Image, State: c.State, SizeRw: c.Size})
	}
	for _, v := range d.Volumes {
		p.Volumes = append(p.Volumes, &berthv1.VolumeUsage{Name: v.Name, Size: v.Size, Links: int64(v.Links)})
	}
	for _, b := range d.BuildCache {
		p.BuildCache = append(p.BuildCache, &berthv1.BuildCacheUsage{Id: b.ID, Size: b.Size, InUse: b.InUse, Shared: b.Shared, Type: b.Type, Description: b.Description})
	}
	return p
}

// DiskUsageFromProto is the inverse of DiskUsageToProto.
func DiskUsageFromProto(p *berthv1.DiskUsageResponse) *system.DiskUsage {
	d := &system.DiskUsage{Images: []system.ImageUsage{}, Containers: []system.ContainerUsage{}, Volumes: []system.VolumeUsage{}, BuildCache: []system.BuildCacheUsage{}}
	for _, i := range p.GetImages() {
		d.Images = append(d.Images, system.ImageUsage{ID: i.GetId(), RepoTags: i.GetRepoTags(), Size: i.GetSize(), Containers: int(i.GetContainers())})
	}
	for _, c := range p.GetContainers() {
		d.Containers = append(d.Containers, system.ContainerUsage{ID: c.GetId(), Name: c.GetName(), Image: c.GetImage(), State: c.GetState(), Size: c.GetSizeRw()})
	}
	for _, v := range p.GetVolumes() {
		d.Volumes = append(d.Volumes, system.VolumeUsage{Name: v.GetName(), Size: v.GetSize(), Links: int(v.GetLinks())})
	}
	for _, b := range p.GetBuildCache() {
		d.BuildCache = append(d.BuildCache, system.BuildCacheUsage{ID: b.GetId(), Size: b.GetSize(), InUse: b.GetInUse(), Shared: b.GetShared(), Type: b.GetType(), Description: b.GetDescription()})
	}
	return d
}
