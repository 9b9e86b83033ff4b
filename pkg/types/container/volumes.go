package container

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// MountSpec is one --mount, with Docker's keys.
type MountSpec struct {
	// Type is "volume" (default), "bind", "tmpfs" or "image".
	Type string `json:"Type,omitempty"`
	// Source is the volume's name (empty: an anonymous volume), the host
	// path of a bind or the image (name or ID) of an image mount.
	Source   string `json:"Source,omitempty"`
	Target   string `json:"Target"`
	ReadOnly bool   `json:"ReadOnly,omitempty"`
	// VolumeNoCopy skips copying the image's content into a new volume.
	VolumeNoCopy bool `json:"VolumeNoCopy,omitempty"`
	// BindPropagation: rprivate (default), private, rshared, shared, rslave, slave.
	BindPropagation string `json:"BindPropagation,omitempty"`
	// BindNonRecursive binds the source alone, not the mounts below it
	// (Docker's bind-recursive=disabled). A read-only bind is read-only
	// with the mounts below it where the kernel can (5.12); with
	// BindReadOnlyNonRecursive only its top is, with
	// BindReadOnlyForceRecursive a kernel that cannot is an error.
	BindNonRecursive           bool `json:"BindNonRecursive,omitempty"`
	BindReadOnlyNonRecursive   bool `json:"BindReadOnlyNonRecursive,omitempty"`
	BindReadOnlyForceRecursive bool `json:"BindReadOnlyForceRecursive,omitempty"`
	// TmpfsSize in bytes (0: the kernel's default, half the memory).
	TmpfsSize int64 `json:"TmpfsSize,omitempty"`
	// TmpfsMode is the tmpfs root's permission bits (0: 1777).
	TmpfsMode uint32 `json:"TmpfsMode,omitempty"`
	// Subpath mounts only this directory or file of the volume or image
	// (Docker's volume-subpath and image-subpath): a relative path within
	// it, resolved at each start; a symbolic link on the way may not lead
	// out of it.
	Subpath string `json:"Subpath,omitempty"`
}

// MountPoint is one mount of a container as Inspect shows it (Docker's
// Mounts entries).
type MountPoint struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

// ParseBind parses a -v value: NAME:/path[:opts], /host:/path[:opts] or
// /path (an anonymous volume). opts is a comma list of ro, rw, nocopy, and
// a propagation (rprivate, private, rshared, shared, rslave, slave); z and
// Z are accepted and ignored (no SELinux here).
func ParseBind(v string) (MountSpec, error) {
	parts := strings.Split(v, ":")
	bad := func(why string) (MountSpec, error) {
		return MountSpec{}, fmt.Errorf("invalid volume specification: '%s': %s: %w", v, why, errdefs.ErrInvalidArgument)
	}
	var m MountSpec
	switch len(parts) {
	case 1:
		m = MountSpec{Type: "volume", Target: parts[0]}
	case 2, 3:
		m = MountSpec{Type: "volume", Source: parts[0], Target: parts[1]}
		if strings.HasPrefix(parts[0], "/") {
			m.Type = "bind"
		}
		if parts[0] == "" {
			return bad("empty source")
		}
		if len(parts) == 3 {
			for _, o := range strings.Split(parts[2], ",") {
				switch o {
				case "ro":
					m.ReadOnly = true
				case "rw":
					m.ReadOnly = false
				case "nocopy":
					if m.Type != "volume" {
						return bad("nocopy applies to volumes only")
					}
					m.VolumeNoCopy = true
				case "z", "Z":
				case "private", "rprivate", "shared", "rshared", "slave", "rslave":
					if m.Type != "bind" {
						return bad("propagation applies to binds only")
					}
					m.BindPropagation = o
				default:
					return bad("invalid mode: " + o)
				}
			}
		}
	default:
		return bad("too many colons")
	}
	if !strings.HasPrefix(m.Target, "/") {
		return bad("the container path must be absolute")
	}
	return m, nil
}
