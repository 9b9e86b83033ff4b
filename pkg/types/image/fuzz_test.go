package image

import (
	"testing"

	"github.com/containerd/errdefs"
)

// FuzzNormalizeName: an image name normalises to a full name that
// normalises to itself, whose familiar form normalises back to it; a bad
// name is errdefs.ErrInvalidArgument.
func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"busybox", "library/busybox:1", "localhost:5000/app", "a/b/c:tag@sha256:" +
		"0000000000000000000000000000000000000000000000000000000000000000", "UPPER", "a:b:c", "",
		"docker.io/library/x", "127.0.0.1:5000/x:y", "x@sha256:abc", DanglingPrefix + "sha256:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		full, err := NormalizeName(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: error not invalid-argument: %v", s, err)
			}
			return
		}
		again, err := NormalizeName(full)
		if err != nil || again != full {
			t.Fatalf("%q → %q → %q, %v", s, full, again, err)
		}
		fam := FamiliarName(full)
		if back, err := NormalizeName(fam); err != nil || back != full {
			t.Fatalf("%q → %q, familiar %q → %q, %v", s, full, fam, back, err)
		}
	})
}
