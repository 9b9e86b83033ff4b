package engine

import (
	"context"

	containertypes "github.com/berthproject/berth/pkg/types/container"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	systemtypes "github.com/berthproject/berth/pkg/types/system"
)

// DiskUsage reports the disk use of images (unpacked snapshot sizes, kept
// by the snapshotter), containers' writable layers, volumes and the build
// cache (asking berth-buildkitd, started for it if it ever built).
func (e *Engine) DiskUsage(ctx context.Context) (*systemtypes.DiskUsage, error) {
	cs, err := e.containers.List(ctx, containertypes.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	imgs, err := e.images.List(ctx, imagetypes.ListOptions{})
	if err != nil {
		return nil, err
	}
	du := &systemtypes.DiskUsage{Images: []systemtypes.ImageUsage{}, Containers: []systemtypes.ContainerUsage{}, Volumes: []systemtypes.VolumeUsage{}, BuildCache: []systemtypes.BuildCacheUsage{}}
	users := map[string]int{}
	for _, c := range cs {
		users[c.ImageID]++
		size, err := e.containers.LayerSize(ctx, c.ID)
		if err != nil {
			continue // removed meanwhile
		}
		name := ""
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		du.Containers = append(du.Containers, systemtypes.ContainerUsage{ID: c.ID, Name: name, Image: c.Image, State: c.State, Size: size})
	}
	for _, img := range imgs {
		du.Images = append(du.Images, systemtypes.ImageUsage{ID: img.ID, RepoTags: img.RepoTags, Size: img.Size, Containers: users[img.ID]})
	}
	if e.volumes != nil {
		vols, err := e.volumes.List(ctx, nil)
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			du.Volumes = append(du.Volumes, systemtypes.VolumeUsage{Name: v.Name, Size: e.volumes.Size(v.Name), Links: len(v.UsedBy)})
		}
	}
	recs, err := e.builds.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		du.BuildCache = append(du.BuildCache, systemtypes.BuildCacheUsage{ID: r.ID, Size: r.Size, InUse: r.InUse, Shared: r.Shared, Type: r.Type, Description: r.Description})
	}
	return du, nil
}
