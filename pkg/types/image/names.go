package image

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
)

// DanglingPrefix starts the containerd name of an image that has no tag.
// containerd needs a name for every image record; Docker shows such images
// as <none>:<none>. The rest of the name is the target digest.
const DanglingPrefix = "berth-dangling@"

// IsDangling reports whether a containerd image name is berth's internal name
// for an untagged image.
func IsDangling(name string) bool { return strings.HasPrefix(name, DanglingPrefix) }

// NormalizeName turns a user's image name into the full name stored in
// containerd, as Docker does: "busybox" → "docker.io/library/busybox:latest",
// "localhost:5000/app" → "localhost:5000/app:latest". A name with a digest
// keeps it. Invalid names are errdefs.ErrInvalidArgument.
func NormalizeName(s string) (string, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "invalid reference format") {
			msg = "invalid reference format: " + msg
		}
		return "", fmt.Errorf("%s: %w", msg, errdefs.ErrInvalidArgument)
	}
	return reference.TagNameOnly(named).String(), nil
}

// FamiliarName is the Docker-style display form of a containerd image name:
// "docker.io/library/busybox:latest" → "busybox:latest". A dangling name
// gives "<none>:<none>"; a name that does not parse is returned unchanged.
func FamiliarName(name string) string {
	if IsDangling(name) {
		return "<none>:<none>"
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.FamiliarString(named)
}
