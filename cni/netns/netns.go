// Package netns creates and deletes persistent network namespaces: a new
// namespace is pinned by bind-mounting its nsfs file onto a regular file, the
// way `ip netns add` does, so it outlives the thread that created it and any
// process (container, CNI plugin, berthd restart) can enter it by path.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// New creates a network namespace pinned at path. The parent directory is
// created if needed. On error nothing is left behind.
func New(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			_ = os.Remove(path)
		}
	}()

	errCh := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine returns, the Go
		// runtime terminates the thread, so the unshared namespace never leaks
		// into other goroutines.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errCh <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errCh <- fmt.Errorf("bind-mount netns on %s: %w", path, err)
			return
		}
		errCh <- nil
	}()
	return <-errCh
}

// Delete unmounts and removes the namespace file at path. A missing or
// already unmounted file is not an error, so Delete is idempotent.
func Delete(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// List returns the names of the files in dir (the pinned namespaces); a
// missing directory yields an empty list.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// IsMounted reports whether path is a pinned network namespace (an nsfs mount).
func IsMounted(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}
