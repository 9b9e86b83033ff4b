package container

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"tags.cncf.io/container-device-interface/pkg/cdi"
	"tags.cncf.io/container-device-interface/pkg/parser"
)

// DefaultCDISpecDirs are where CDI specs are read from unless configured:
// Docker's and containerd's /etc/cdi and /var/run/cdi.
var DefaultCDISpecDirs = cdi.DefaultSpecDirs

// cdiRegistry resolves Container Device Interface devices from the spec
// files in its dirs, through the CDI project's own cache (the one
// containerd and dockerd use). It refreshes on every use instead of
// watching the dirs: a spec written just before a create is seen, and no
// watcher runs while no one asks.
type cdiRegistry struct {
	dirs  []string
	cache *cdi.Cache // nil: CDI is off (no dirs)
}

func newCDIRegistry(dirs []string) (*cdiRegistry, error) {
	r := &cdiRegistry{dirs: dirs}
	if len(dirs) == 0 {
		return r, nil
	}
	c, err := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	if err != nil {
		return nil, fmt.Errorf("CDI registry: %w", err)
	}
	r.cache = c
	return r, nil
}

// Devices are the fully-qualified names of the devices found, sorted.
func (r *cdiRegistry) Devices() []string {
	if r.cache == nil {
		return []string{}
	}
	// A spec that does not parse is left out (GetErrors has it), as
	// dockerd lists the others.
	_ = r.cache.Refresh()
	devs := r.cache.ListDevices()
	if devs == nil {
		devs = []string{}
	}
	return devs
}

// check refuses names that are not fully-qualified CDI device names or
// that no spec provides, naming them, before anything is made.
func (r *cdiRegistry) check(names []string) error {
	if len(names) == 0 {
		return nil
	}
	for _, n := range names {
		if !parser.IsQualifiedName(n) {
			return fmt.Errorf("CDI device %q: want a fully-qualified name, vendor.com/class=name: %w", n, errdefs.ErrInvalidArgument)
		}
	}
	if r.cache == nil {
		return fmt.Errorf("CDI device injection failed: CDI is off (no CDI spec directories configured: set cdi_spec_dirs in berthd's config, or --cdi-spec-dir): %w", errdefs.ErrInvalidArgument)
	}
	_ = r.cache.Refresh()
	var unknown []string
	for _, n := range names {
		if r.cache.GetDevice(n) == nil {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		// dockerd's words (the CDI cache's), and which dirs were read.
		return fmt.Errorf("CDI device injection failed: unresolvable CDI devices %s (spec dirs %s): %w",
			strings.Join(unknown, ", "), strings.Join(r.dirs, ", "), errdefs.ErrInvalidArgument)
	}
	return nil
}

// withCDIDevices applies the named devices' container edits (device nodes
// and their cgroup rules, env, mounts, hooks) to the spec.
func (r *cdiRegistry) withCDIDevices(names []string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if len(names) == 0 {
			return nil
		}
		if err := r.check(names); err != nil {
			return err
		}
		if _, err := r.cache.InjectDevices(s, names...); err != nil {
			return fmt.Errorf("CDI device injection failed: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		return nil
	}
}
