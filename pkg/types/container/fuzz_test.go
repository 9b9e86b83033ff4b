package container

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// FuzzParseBind: a -v value gives a mount with an absolute target and a
// source that is empty (anonymous volume), a path (bind) or a name, or
// errdefs.ErrInvalidArgument.
func FuzzParseBind(f *testing.F) {
	for _, s := range []string{"/data", "v:/data", "/h:/c:ro,rshared", "v:/d:nocopy", "v:/d:rshared",
		":/x", "a:b:c:d", "v:rel", "/h:/c:z,Z,rw", "/h:/c:bogus"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := ParseBind(v)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: %v is not invalid-argument", v, err)
			}
			return
		}
		if !strings.HasPrefix(m.Target, "/") {
			t.Fatalf("%q: relative target %q", v, m.Target)
		}
		if (m.Type == "bind") != strings.HasPrefix(m.Source, "/") || (m.Type != "bind" && m.Type != "volume") {
			t.Fatalf("%q: type %q for source %q", v, m.Type, m.Source)
		}
	})
}
