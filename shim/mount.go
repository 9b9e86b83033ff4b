package shim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/pkg/mountat"
	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

// mountFlags maps mount(8) option names to flags; clear means the option
// removes the flag.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// mountRootfs mounts the rootfs mounts containerd gives (one overlay, or a
// bind of a directory) on target, in order. On error, what was mounted is
// undone.
func mountRootfs(mounts []*tw.Mount, target string) (err error) {
	if err := os.MkdirAll(target, 0o711); err != nil {
		return err
	}
	done := 0
	defer func() {
		if err != nil && done > 0 {
			unmountAll(target)
		}
	}()
	for _, m := range mounts {
		if err := mountOne(m, target); err != nil {
			return fmt.Errorf("mount rootfs %s (%s): %w", m.Type, m.Source, err)
		}
		done++
	}
	return nil
}

func mountOne(m *tw.Mount, target string) error {
	var (
		flags uintptr
		prop  uintptr
		data  []string
	)
	for _, o := range m.Options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			prop |= p
			continue
		}
		data = append(data, o)
	}
	typ := m.Type
	if typ == "bind" || typ == "rbind" {
		typ = ""
		flags |= unix.MS_BIND
	}
	d := strings.Join(data, ",")
	if typ == "overlay" && len(d) >= os.Getpagesize()-512 {
		return mountOverlayLong(m.Source, target, flags, data)
	}
	// A bind mount ignores most flags; read-only needs a remount.
	const bindRemountMask = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := rawMount(m.Source, target, typ, flags&^bindIgnore(flags), d); err != nil {
		return err
	}
	if flags&unix.MS_BIND != 0 && flags&bindRemountMask != 0 {
		if err := unix.Mount("", target, "", flags&bindRemountMask|unix.MS_BIND|unix.MS_REMOUNT, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return err
		}
	}
	if prop != 0 {
		if err := unix.Mount("", target, "", prop, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return err
		}
	}
	return nil
}

// bindIgnore is the part of flags a first bind mount does not apply.
func bindIgnore(flags uintptr) uintptr {
	if flags&unix.MS_BIND == 0 {
		return 0
	}
	return unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
}

// mountOverlayLong mounts an overlay whose options do not fit in one page:
// lowerdirs are made relative to their common parent and the mount is done
// from that directory, on a thread with its own working directory (so the
// rest of the shim is not affected). The thread is discarded afterwards.
func mountOverlayLong(source, target string, flags uintptr, data []string) error {
	var lowers []string
	for _, o := range data {
		if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
			lowers = strings.Split(v, ":")
		}
	}
	if len(lowers) < 2 {
		return errors.New("overlay options exceed a page and cannot be shortened")
	}
	common := filepath.Dir(lowers[0])
	for _, l := range lowers[1:] {
		for !strings.HasPrefix(l, common+"/") && common != "/" {
			common = filepath.Dir(common)
		}
	}
	rel := make([]string, len(lowers))
	for i, l := range lowers {
		rel[i] = strings.TrimPrefix(l, common+"/")
	}
	for i, o := range data {
		if strings.HasPrefix(o, "lowerdir=") {
			data[i] = "lowerdir=" + strings.Join(rel, ":")
		}
	}
	d := strings.Join(data, ",")
	if len(d) >= os.Getpagesize() {
		return errors.New("overlay options exceed a page even with relative lowerdirs")
	}
	return mountat.Mount(common, source, target, "overlay", flags, d)
}

// unmountAll unmounts everything stacked on target. Idempotent.
func unmountAll(target string) {
	for range 32 {
		if err := unix.Unmount(target, 0); err != nil {
			if err == unix.EBUSY {
				_ = unix.Unmount(target, unix.MNT_DETACH)
				continue
			}
			return // EINVAL: not a mount point any more; ENOENT: gone
		}
	}
}
