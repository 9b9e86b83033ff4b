package engine

import (
	"context"

	"github.com/berthproject/berth/engine/container"
	"github.com/berthproject/berth/engine/image"
)

// DiskUsage reports the disk use of images (unpacked snapshot sizes, kept
// by the snapshotter), containers' writable layers and volumes.
func (e *Engine) DiskUsage(ctx context.Context) (*DiskUsage, error) {
	cs, err := e.containers.List(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	imgs, err := e.images.List(ctx, image.ListOptions{})
	if err != nil {
		return nil, err
	}
	du := &DiskUsage{Images: []ImageUsage{}, Containers: []ContainerUsage{}, Volumes: []VolumeUsage{}, BuildCache: []BuildCacheUsage{}}
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
		du.Containers = append(du.Containers, ContainerUsage{ID: c.ID, Name: name, Image: c.Image, State: c.State, Size: size})
	}
	for _, img := range imgs {
		du.Images = append(du.Images, ImageUsage{ID: img.ID, RepoTags: img.RepoTags, Size: img.Size, Containers: users[img.ID]})
	}
	if e.volumes != nil {
		vols, err := e.volumes.List(ctx, nil)
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			du.Volumes = append(du.Volumes, VolumeUsage{Name: v.Name, Size: e.volumes.Size(v.Name), Links: len(v.UsedBy)})
		}
	}
	return du, nil
}
