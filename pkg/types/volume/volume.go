package volume

import (
	"fmt"
	"regexp"
	"time"

	"github.com/containerd/errdefs"
)

// DriverLocal is the only driver: volumes on this host.
const DriverLocal = "local"

// LabelAnonymous marks a volume made for a container (-v /dst, an image's
// VOLUME) rather than by name, with dockerd's label.
const LabelAnonymous = "com.docker.volume.anonymous"

// Volume is one volume (Docker's volume object).
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  time.Time         `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
	// Anonymous volumes were made for one container (-v /path, an image's
	// VOLUME); `rm -v` and `volume prune` remove them.
	Anonymous bool `json:"Anonymous,omitempty"`
	// UsedBy lists the IDs of the containers that use the volume
	// (List and Inspect fill it).
	UsedBy []string `json:"UsedBy,omitempty"`
}

// CreateOptions for Create. Options are the local driver's, as Docker has
// them: type (e.g. tmpfs), device, o (mount options; "bind" with device
// makes the volume a host directory).
type CreateOptions struct {
	Name      string
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	Anonymous bool
}

// PruneOptions for Prune: All removes unused named volumes too (by
// default only anonymous ones, as Docker since 23.0); Filters are label
// (key or key=value) and label!=.
type PruneOptions struct {
	All     bool
	Filters map[string][]string
}

// validName is Docker's rule for volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidName checks a volume name with Docker's rule and message.
func ValidName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; names need at least two characters: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}
