package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The registry applies a device's and its spec's edits, lists the devices
// of every dir, and refuses unknown or unqualified names (or any with CDI
// off) as invalid, naming them.
func TestCDIRegistry(t *testing.T) {
	dir := t.TempDir()
	spec := "cdiVersion: \"0.6.0\"\nkind: v.com/c\ncontainerEdits:\n  env: [ALL=1]\ndevices:\n- name: d\n  containerEdits:\n    env: [D=1]\n    deviceNodes: [{path: /dev/vnull, hostPath: /dev/null}]\n"
	if err := os.WriteFile(filepath.Join(dir, "v.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := newCDIRegistry([]string{dir, filepath.Join(t.TempDir(), "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Devices(); !slices.Equal(got, []string{"v.com/c=d"}) {
		t.Errorf("devices %q", got)
	}
	s := &oci.Spec{Process: &specs.Process{Env: []string{"PATH=/bin"}}, Linux: &specs.Linux{}}
	if err := r.withCDIDevices([]string{"v.com/c=d"})(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.Process.Env, "ALL=1") || !slices.Contains(s.Process.Env, "D=1") || !slices.Contains(s.Process.Env, "PATH=/bin") {
		t.Errorf("env %q", s.Process.Env)
	}
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/vnull" || s.Linux.Devices[0].Major != 1 || s.Linux.Devices[0].Minor != 3 {
		t.Errorf("devices %+v", s.Linux.Devices)
	}
	off, _ := newCDIRegistry(nil)
	for _, tc := range []struct {
		r     *cdiRegistry
		names []string
		want  string
	}{
		{r, []string{"v.com/c=d", "v.com/c=nope"}, "unresolvable CDI devices v.com/c=nope"},
		{r, []string{"nope"}, `CDI device "nope": want a fully-qualified name`},
		{off, []string{"v.com/c=d"}, "CDI is off"},
	} {
		err := tc.r.check(tc.names)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want invalid with %q", tc.names, err, tc.want)
		}
	}
	if got := off.Devices(); got == nil || len(got) != 0 {
		t.Errorf("CDI off lists %q", got)
	}
}
