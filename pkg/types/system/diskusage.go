package system

// DiskUsage is `berth system df`: what images, containers and volumes take
// on disk, and how much of it could be reclaimed.
type DiskUsage struct {
	Images     []ImageUsage     `json:"Images"`
	Containers []ContainerUsage `json:"Containers"`
	Volumes    []VolumeUsage    `json:"Volumes"`
	// BuildCache is the builder's cache (docs/build.md).
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

// BuildCacheUsage is a build cache record.
type BuildCacheUsage struct {
	ID          string `json:"ID"`
	Size        int64  `json:"Size"`
	InUse       bool   `json:"InUse"`
	Shared      bool   `json:"Shared"`
	Type        string `json:"Type"`
	Description string `json:"Description"`
}
