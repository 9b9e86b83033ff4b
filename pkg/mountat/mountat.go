// Package mountat runs mount(2) from a given working directory, so that
// relative paths in the mount's options (an overlay's lowerdirs) resolve
// there: what makes an overlay with many layers fit in mount(2)'s one page of
// options. It is shared by berth's shim and snapshotter and imports only
// x/sys (the shim links nothing heavier).
package mountat

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Mount runs mount(2) with dir as the working directory (dir "" mounts
// as is). The mount runs on a thread of its own whose filesystem state is
// unshared first, so the rest of the process keeps its working directory;
// that thread is never unlocked and exits with its goroutine instead of
// being reused. target should be absolute.
func Mount(dir, source, target, fstype string, flags uintptr, data string) error {
	if dir == "" {
		return unix.Mount(source, target, fstype, flags, data)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- err
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount(source, target, fstype, flags, data)
	}()
	return <-errc
}
