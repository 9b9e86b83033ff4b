package image

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// danglingName is the internal name of an untagged image with this target.
func danglingName(target digest.Digest) string { return imagetypes.DanglingPrefix + target.String() }

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
	return &imagetypes.NotFoundError{Ref: ref, Err: fmt.Errorf("No such image: %s: %w", ref, errdefs.ErrNotFound)}
}
