package image

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestCheckPlatform(t *testing.T) {
	img := &Image{Os: "linux", Architecture: "arm", Variant: "v7"}
	for _, ok := range []ocispec.Platform{{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "arm"}} {
		if err := CheckPlatform("x", img, ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	err := CheckPlatform("x:1", img, ocispec.Platform{OS: "windows", Architecture: "amd64"})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "image with reference x:1 was found but its platform (linux/arm/v7) does not match the specified platform (windows/amd64)") {
		t.Errorf("another platform: %v", err)
	}
}
