package engine

import (
	"context"
	"io/fs"
	"path/filepath"

	"github.com/berthproject/berth/engine/container"
	"github.com/berthproject/berth/engine/image"
)

// DiskUsage is `berth system df`: what images, containers and volumes take
// on disk, and how much of it could be reclaimed.
type DiskUsage struct {
	Images     []ImageUsage     `json:"Images"`
	Containers []ContainerUsage `json:"Containers"`
	Volumes    []VolumeUsage    `json:"Volumes"`
	// BuildCache is empty until berth builds images.
	BuildCache []BuildCacheUsage `json:"BuildCache"`
}

// ImageUsage is one image: its unpacked size and how many containers use it.
type ImageUsage struct {
	ID         string   `json:"Id"`
	RepoTags   []string `json:"RepoTags"`
	Size       int64    `json:"Size"`
	Containers int      `json:"Containers"`
}

// ContainerUsage is one container's writable layer.
type ContainerUsage struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	Image string `json:"Image"`
	State string `json:"State"`
	Size  int64  `json:"SizeRw"`
}

// VolumeUsage is one volume's data and the containers using it.
type VolumeUsage struct {
	Name  string `json:"Name"`
	Size  int64  `json:"Size"`
	Links int    `json:"Links"`
}

// BuildCacheUsage is a build cache record (none yet).
type BuildCacheUsage struct {
	ID   string `json:"ID"`
	Size int64  `json:"Size"`
}

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
			du.Volumes = append(du.Volumes, VolumeUsage{Name: v.Name, Size: dirSize(e.volumes.DataPath(v.Name)), Links: len(v.UsedBy)})
		}
	}
	return du, nil
}

// dirSize is the apparent size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
