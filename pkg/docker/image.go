package docker

import (
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	dimage "github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/pkg/types/image"
)

// ImageInspect is the Docker inspect view of img.
func ImageInspect(img *image.Image) dimage.InspectResponse {
	out := dimage.InspectResponse{
		ID:           img.ID,
		RepoTags:     nonNil(img.RepoTags),
		RepoDigests:  nonNil(img.RepoDigests),
		Author:       img.Author,
		Architecture: img.Architecture,
		Variant:      img.Variant,
		Os:           img.Os,
		Size:         img.Size,
		RootFS:       dimage.RootFS{Type: img.RootFS.Type, Layers: img.RootFS.Layers},
		Config:       ImageConfig(img.Config),
	}
	if !img.Created.IsZero() {
		out.Created = Time(img.Created)
	}
	if out.RootFS.Type == "" {
		out.RootFS.Type = "layers"
	}
	return out
}

// ImageConfig is the Docker view of an image's configuration.
func ImageConfig(c image.Config) *dockerspec.DockerOCIImageConfig {
	return &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
		User:         c.User,
		ExposedPorts: c.ExposedPorts,
		Env:          c.Env,
		Entrypoint:   c.Entrypoint,
		Cmd:          c.Cmd,
		Volumes:      c.Volumes,
		WorkingDir:   c.WorkingDir,
		Labels:       c.Labels,
		StopSignal:   c.StopSignal,
	}}
}

// ImageSummary is the `docker images` entry of s; containers is the number
// of containers using it (-1 when unknown).
func ImageSummary(s image.Summary, containers int64) dimage.Summary {
	out := dimage.Summary{
		ID:          s.ID,
		RepoTags:    nonNil(s.RepoTags),
		RepoDigests: nonNil(s.RepoDigests),
		Created:     s.Created.Unix(),
		Size:        s.Size,
		Labels:      s.Labels,
		Containers:  containers,
		SharedSize:  -1,
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}

// ImageHistory is `docker history`'s view of an image's history.
func ImageHistory(h []image.HistoryEntry) []dimage.HistoryResponseItem {
	out := make([]dimage.HistoryResponseItem, 0, len(h))
	for _, e := range h {
		id := e.ID
		if id == "" {
			id = "<missing>"
		}
		out = append(out, dimage.HistoryResponseItem{
			ID: id, Created: e.Created.Unix(), CreatedBy: e.CreatedBy, Tags: nonNil(e.Tags), Size: e.Size, Comment: e.Comment,
		})
	}
	return out
}

// ImageDeleted is the `docker rmi` answer of berth's deletions.
func ImageDeleted(rs []image.DeleteResponse) []dimage.DeleteResponse {
	out := make([]dimage.DeleteResponse, 0, len(rs))
	for _, r := range rs {
		out = append(out, dimage.DeleteResponse{Untagged: r.Untagged, Deleted: r.Deleted})
	}
	return out
}
