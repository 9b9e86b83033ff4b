package volume

// The types the API and CLI share live in pkg/types/volume, a leaf package
// the berth CLI links without the engine; these aliases keep the engine's
// API unchanged.

import volume "github.com/berthproject/berth/pkg/types/volume"

type (
	Volume        = volume.Volume
	CreateOptions = volume.CreateOptions
	PruneOptions  = volume.PruneOptions
)

const (
	DriverLocal = volume.DriverLocal
)

// ValidName checks a volume name with Docker's rule and message.
func ValidName(name string) error { return volume.ValidName(name) }
