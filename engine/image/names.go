package image

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

// danglingPrefix starts the containerd name of an image that has no tag.
// containerd needs a name for every image record; Docker shows such images
// as <none>:<none>. The rest of the name is the target digest.
const danglingPrefix = "berth-dangling@"

// danglingName is the internal name of an untagged image with this target.
func danglingName(target digest.Digest) string { return danglingPrefix + target.String() }

// IsDangling reports whether a containerd image name is berth's internal name
// for an untagged image.
func IsDangling(name string) bool { return strings.HasPrefix(name, danglingPrefix) }

// NormalizeName turns a user's image name into the full name stored in
// containerd, as Docker does: "busybox" → "docker.io/library/busybox:latest",
// "localhost:5000/app" → "localhost:5000/app:latest". A name with a digest
// keeps it. Invalid names are errdefs.ErrInvalidArgument.
func NormalizeName(s string) (string, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", fmt.Errorf("invalid reference format %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
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

// familiarRepo is the repository part of a name in familiar form ("busybox").
func familiarRepo(name string) string {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.FamiliarName(named)
}

// repoOf is the full repository of a name ("docker.io/library/busybox").
func repoOf(name string) string {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return named.Name()
}

// isHex reports whether s is a non-empty lower-case hex string of at most 64
// characters: a candidate image ID or ID prefix.
func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// shortID is the 12-character form of an image or container ID.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func notFound(ref string) error {
	return fmt.Errorf("No such image: %s: %w", ref, errdefs.ErrNotFound)
}
