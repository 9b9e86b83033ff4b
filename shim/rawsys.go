package shim

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The long-lived shim has one P and, once started, three threads: the one
// running Go code, sysmon, and one more (idle, or waiting in the network
// poller). A syscall that blocks long enough for sysmon to notice (an
// overlay mount, reading /proc/self/mountinfo, creating a file: up to a
// millisecond) makes the runtime hand the P to another thread, and when the
// third thread is waiting in the poller that means starting a fourth, which
// the shim then keeps for good (measured: 20-50 kB of PSS per shim; about
// half the shims had one). The few syscalls of a container start that
// can block that long are made raw: the runtime is not told, keeps the P
// on this thread, and the shim's other goroutines wait for them (they have
// nothing that cannot wait a millisecond).

// rawMount is mount(2), raw.
func rawMount(source, target, fstype string, flags uintptr, data string) error {
	src, err := unix.BytePtrFromString(source)
	if err != nil {
		return err
	}
	tgt, err := unix.BytePtrFromString(target)
	if err != nil {
		return err
	}
	var typ *byte
	if fstype != "" {
		if typ, err = unix.BytePtrFromString(fstype); err != nil {
			return err
		}
	}
	var dat *byte // nil without options, as unix.Mount passes
	if data != "" {
		if dat, err = unix.BytePtrFromString(data); err != nil {
			return err
		}
	}
	_, _, errno := unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(src)), uintptr(unsafe.Pointer(tgt)),
		uintptr(unsafe.Pointer(typ)), flags, uintptr(unsafe.Pointer(dat)), 0)
	runtime.KeepAlive(src)
	runtime.KeepAlive(tgt)
	runtime.KeepAlive(typ)
	runtime.KeepAlive(dat)
	if errno != 0 {
		return errno
	}
	return nil
}

// rawOpen is openat(AT_FDCWD, path, flags|O_CLOEXEC, mode), raw.
func rawOpen(path string, flags int, mode uint32) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	dirfd := unix.AT_FDCWD
	for {
		fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
			uintptr(flags|unix.O_CLOEXEC), uintptr(mode), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		runtime.KeepAlive(p)
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
}

// rawClose closes fd; as close(2) frees fd even when it reports an error,
// there is nothing to retry.
func rawClose(fd int) { _, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

// rawReadFile reads a small file (/proc, cgroupfs, the bundle), raw.
func rawReadFile(path string) ([]byte, error) {
	fd, err := rawOpen(path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer rawClose(fd)
	b := make([]byte, 0, 1024) // grows as needed; most of these files are small
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		buf := b[len(b):cap(b)]
		n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return nil, errno
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+int(n)]
	}
}

// rawWriteFile creates or truncates path and writes b to it, raw.
func rawWriteFile(path string, b []byte, mode uint32) error {
	fd, err := rawOpen(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, mode)
	if err != nil {
		return err
	}
	defer rawClose(fd)
	for len(b) > 0 {
		n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		b = b[n:]
	}
	return nil
}
