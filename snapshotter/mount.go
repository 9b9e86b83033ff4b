//go:build linux

package snapshotter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/pkg/mountat"
	"github.com/containerd/containerd/v2/core/mount"
	"golang.org/x/sys/unix"
)

// MountAll mounts the mounts this snapshotter returns (types "bind" and
// "overlay") on target, in order, with plain mount(2) calls. It is for
// callers that mount a rootfs without containerd's core/mount, such as
// berth's shim; containerd's mount.All does the same.
//
// Deep images: the kernel takes at most one page (4096 bytes) of mount
// options. When an overlay's options come near that, the lowerdirs are
// rewritten relative to their common parent directory (here
// <root>/snapshots, leaving "<id>/fs" per layer, about 7 bytes a layer) and
// mount(2) runs in a thread whose working directory is that parent, the way
// containerd's mount package does it.
func MountAll(mounts []mount.Mount, target string) (err error) {
	for i, m := range mounts {
		if err := Mount(m, target); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// Mount mounts one mount on target. See MountAll.
func Mount(m mount.Mount, target string) error {
	flags, data := parseOptions(m.Options)
	switch m.Type {
	case "bind":
		if err := unix.Mount(m.Source, target, "", flags|unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount %s on %s: %w", m.Source, target, err)
		}
		if flags&unix.MS_RDONLY != 0 {
			if err := unix.Mount("", target, "", flags|unix.MS_BIND|unix.MS_REMOUNT, ""); err != nil {
				_ = unix.Unmount(target, unix.MNT_DETACH)
				return fmt.Errorf("remount %s read-only: %w", target, err)
			}
		}
		return nil
	case "overlay":
		// target must not depend on the working directory mountat.Mount sets.
		target, err := filepath.Abs(target)
		if err != nil {
			return err
		}
		dir := ""
		if optionsLen(data) >= os.Getpagesize()-512 {
			dir, data = relativeLowerdirs(data)
		}
		opts := strings.Join(data, ",")
		if len(opts) >= os.Getpagesize() {
			return fmt.Errorf("overlay mount options are %d bytes, more than a page even with relative lowerdirs", len(opts))
		}
		if err := mountat.Mount(dir, m.Source, target, m.Type, flags, opts); err != nil {
			return fmt.Errorf("mount overlay on %s (in %q, options %q): %w", target, dir, opts, err)
		}
		return nil
	default:
		return fmt.Errorf("mount type %q is not one the berth snapshotter returns", m.Type)
	}
}

// Unmount unmounts target, tolerating a target that is not mounted.
func Unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

func parseOptions(options []string) (uintptr, []string) {
	var flags uintptr
	var data []string
	for _, o := range options {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw":
			flags &^= unix.MS_RDONLY
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		default:
			data = append(data, o)
		}
	}
	return flags, data
}

func optionsLen(options []string) int {
	n := 0
	for _, o := range options {
		n += len(o) + 1
	}
	return n
}

// relativeLowerdirs rewrites the lowerdir option relative to the deepest
// directory that holds every lowerdir, and returns that directory.
func relativeLowerdirs(options []string) (string, []string) {
	idx := -1
	for i, o := range options {
		if strings.HasPrefix(o, "lowerdir=") {
			idx = i
			break
		}
	}
	if idx < 0 {
		return "", options
	}
	dirs := strings.Split(strings.TrimPrefix(options[idx], "lowerdir="), ":")
	common := commonDir(dirs)
	if common == "" || common == "/" {
		return "", options
	}
	rel := make([]string, len(dirs))
	for i, d := range dirs {
		rel[i] = strings.TrimPrefix(d, common+"/")
	}
	out := append([]string(nil), options...)
	out[idx] = "lowerdir=" + strings.Join(rel, ":")
	return common, out
}

// commonDir is the longest directory path that is a parent of every dir.
func commonDir(dirs []string) string {
	if len(dirs) == 0 {
		return ""
	}
	parts := strings.Split(dirs[0], "/")
	n := len(parts) - 1 // a parent, never the dir itself
	for _, d := range dirs[1:] {
		p := strings.Split(d, "/")
		if len(p)-1 < n {
			n = len(p) - 1
		}
		for i := 0; i < n; i++ {
			if p[i] != parts[i] {
				n = i
				break
			}
		}
	}
	if n <= 1 {
		return ""
	}
	return strings.Join(parts[:n], "/")
}
