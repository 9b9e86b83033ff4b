package engine

// The types the API and CLI share live in pkg/types/system, a leaf package
// the berth CLI links without the engine; these aliases keep the engine's
// API unchanged.

import system "github.com/berthproject/berth/pkg/types/system"

type (
	Info            = system.Info
	Version         = system.Version
	DiskUsage       = system.DiskUsage
	ImageUsage      = system.ImageUsage
	ContainerUsage  = system.ContainerUsage
	VolumeUsage     = system.VolumeUsage
	BuildCacheUsage = system.BuildCacheUsage
)
