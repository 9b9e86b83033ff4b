package docker

import (
	dvolume "github.com/moby/moby/api/types/volume"

	"github.com/berthproject/berth/pkg/types/volume"
)

// Volume is the Docker view of v.
func Volume(v *volume.Volume) dvolume.Volume {
	out := dvolume.Volume{
		Driver:     v.Driver,
		Labels:     v.Labels,
		Mountpoint: v.Mountpoint,
		Name:       v.Name,
		Options:    v.Options,
		Scope:      v.Scope,
	}
	if !v.CreatedAt.IsZero() {
		out.CreatedAt = v.CreatedAt.Format("2006-01-02T15:04:05Z07:00")
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.Scope == "" {
		out.Scope = "local"
	}
	return out
}
