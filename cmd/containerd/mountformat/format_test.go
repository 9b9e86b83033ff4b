package manager

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
)

func activeMounts() []mount.ActiveMount {
	a := make([]mount.ActiveMount, 5)
	for i := range a {
		a[i] = mount.ActiveMount{
			Mount: mount.Mount{
				Source: fmt.Sprintf("/tmp/source/%d", i),
				Target: fmt.Sprintf("%d", i),
			},
			MountPoint: fmt.Sprintf("/tmp/mp/%d", i),
		}
	}
	return a
}

// TestFormatMount has the cases of containerd's own TestFormatMount, and
// those erofs's mounts are made of.
func TestFormatMount(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mount     mount.Mount
		formatted mount.Mount
	}{
		{name: "empty mount"},
		{
			name:      "no formatting",
			mount:     mount.Mount{Type: "bind", Source: "/var/lib/containerd", Target: "tmp"},
			formatted: mount.Mount{Type: "bind", Source: "/var/lib/containerd", Target: "tmp"},
		},
		{
			name:      "simple",
			mount:     mount.Mount{Type: "bind", Source: "{{ mount 0 }}", Target: "{{ target 0 }}"},
			formatted: mount.Mount{Type: "bind", Source: "/tmp/mp/0", Target: "0"},
		},
		{
			name:      "overlay",
			mount:     mount.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir={{ overlay 0 4 }}"}},
			formatted: mount.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/tmp/mp/0:/tmp/mp/1:/tmp/mp/2:/tmp/mp/3:/tmp/mp/4"}},
		},
		{
			name:      "overlay reversed",
			mount:     mount.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir={{ overlay 4 1 }}", "upperdir=/tmp/upper"}},
			formatted: mount.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/tmp/mp/4:/tmp/mp/3:/tmp/mp/2:/tmp/mp/1", "upperdir=/tmp/upper"}},
		},
		{
			name:      "overlay single",
			mount:     mount.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir={{ overlay 0 0 }}"}},
			formatted: mount.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/tmp/mp/0"}},
		},
		{
			name:      "copy",
			mount:     mount.Mount{Type: "bind", Source: "{{ source 0 }}", Target: "{{ target 0 }}"},
			formatted: mount.Mount{Type: "bind", Source: "/tmp/source/0", Target: "0"},
		},
		{
			name: "erofs",
			mount: mount.Mount{Type: "format/mkdir/overlay", Source: "overlay", Options: []string{
				"X-containerd.mkdir.path={{ mount 0 }}/upper:0755", "workdir={{ mount 0 }}/work",
				"upperdir={{mount 0}}/upper", "lowerdir={{- mount 2 -}}:{{ overlay 4 3 }}", "{{/* a comment */}}index=off",
			}},
			formatted: mount.Mount{Type: "format/mkdir/overlay", Source: "overlay", Options: []string{
				"X-containerd.mkdir.path=/tmp/mp/0/upper:0755", "workdir=/tmp/mp/0/work",
				"upperdir=/tmp/mp/0/upper", "lowerdir=/tmp/mp/2:/tmp/mp/4:/tmp/mp/3", "index=off",
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			result, err := mountFormatter{}.Transform(context.Background(), tc.mount, activeMounts())
			if err != nil {
				t.Fatalf("formatted failed: %v", err)
			}
			if !reflect.DeepEqual(result, tc.formatted) {
				t.Errorf("formatted %+v, want %+v", result, tc.formatted)
			}
		})
	}
}

// TestFormatErrors: what a mount format may not hold fails, with the
// template in the error, as text/template's errors did.
func TestFormatErrors(t *testing.T) {
	for format, want := range map[string]string{
		"{{ mount 5 }}":         "index out of bounds: 5, has 5 active mounts",
		"{{ source -1 }}":       "index out of bounds: -1",
		"{{ overlay 0 5 }}":     "invalid range: 0-5",
		"{{ overlay 5 0 }}":     "invalid range: 5-0",
		"{{ mount 1 2 }}":       "wrong number of args: want 1 got 2",
		"{{ overlay 1 }}":       "wrong number of args: want 2 got 1",
		"{{ mount 1.5 }}":       "not an integer",
		`{{ mount "0" }}`:       "not an integer",
		"{{ printf \"%s\" 1 }}": `function "printf" not defined`,
		"{{ . }}":               "not a call of source, target, mount or overlay",
		"{{ $x := mount 0 }}":   "not a call of source, target, mount or overlay",
		"{{ if 1 }}x{{ end }}":  "not a call of source, target, mount or overlay",
		"{{ mount 0 | mount }}": "not a call of source, target, mount or overlay",
		"{{ mount 0":            "unclosed action",
	} {
		_, err := mountFormatter{}.Transform(context.Background(), mount.Mount{Source: format}, activeMounts())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", format, err, want)
		}
	}
}

// upstreamSum is the SHA-256 of containerd v2.3.7's
// core/mount/manager/format.go, the file this one stands in for.
const upstreamSum = "189fd499aaa96bbb1e8325f96b37cc39d86191460e8ddcbb9b4b650d91912154"

// TestUpstreamUnchanged fails when the containerd that cmd/containerd
// builds has another format.go than the one this file was written against:
// read the new one, port what changed here, and update upstreamSum.
func TestUpstreamUnchanged(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool to find containerd's module with")
	}
	out, err := exec.Command("go", "list", "-mod=readonly", "-f", "{{.Dir}}", "github.com/containerd/containerd/v2/core/mount/manager").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "format.go"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256(b)); sum != upstreamSum {
		t.Errorf("containerd's core/mount/manager/format.go has changed (sha256 %s, this file was written against %s): port the change to cmd/containerd/mountformat/format.go", sum, upstreamSum)
	}
}
