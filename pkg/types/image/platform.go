package image

import (
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CheckPlatform says whether img, found by name, is for platform want (or
// one compatible with it: arm/v7 serves arm/v6). berth's store holds one
// platform per image, so another platform is dockerd's classic store's
// not found, with its message.
func CheckPlatform(name string, img *Image, want ocispec.Platform) error {
	have := ocispec.Platform{OS: img.Os, Architecture: img.Architecture, Variant: img.Variant}
	if platforms.Only(want).Match(have) {
		return nil
	}
	return fmt.Errorf("image with reference %s was found but its platform (%s) does not match the specified platform (%s): %w",
		name, platforms.FormatAll(have), platforms.FormatAll(want), errdefs.ErrNotFound)
}
