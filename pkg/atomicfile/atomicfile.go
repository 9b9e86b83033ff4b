// Package atomicfile replaces files so that a reader, or a crash or power
// loss at any point, sees either the old content or the new one, never a
// part: the content goes to a temp file in the same directory, which is
// synced, renamed over the target, and the directory synced. It imports
// only the standard library, so that any of berth's programs (the shim
// included) may use it.
package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Write replaces path with data, with mode perm. The directory must exist.
// The new content is durable when Write returns.
func Write(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

// WriteUnsynced is Write without the syncs: readers and crashes of the
// process still see the old or the new content, but a power loss may leave
// either, or an empty file. For state that a reboot makes moot anyway, on a
// path where a sync costs (a container start).
func WriteUnsynced(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

func write(path string, data []byte, perm os.FileMode, sync bool) error {
	f, err := create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.commit(sync)
}

// File is a replacement of a file being written: path keeps its content
// until Commit, and Abort (deferred right after Create) drops an
// uncommitted one.
type File struct {
	f     *os.File
	path  string
	perm  os.FileMode
	ended bool
}

// Create starts a replacement of path, with mode perm. The directory must
// exist.
func Create(path string, perm os.FileMode) (*File, error) {
	return create(path, perm)
}

func create(path string, perm os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return nil, err
	}
	return &File{f: f, path: path, perm: perm}, nil
}

// tempInfix joins a replacement's temp file name: ".NAME.tmpRANDOM".
const tempInfix = ".tmp"

// IsTemp reports whether a file name in a directory is the temp file of a
// replacement of target there (a name ending in suffix, "" for any) that
// was never committed nor aborted: a crash cut its write short. A store
// removes such files when it loads, before it writes again.
func IsTemp(name, suffix string) bool {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	i := strings.LastIndex(rest, tempInfix)
	return i > 0 && strings.HasSuffix(rest[:i], suffix)
}

// Write writes to the new content.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// ReadFrom copies r into the new content (io.Copy uses it).
func (f *File) ReadFrom(r io.Reader) (int64, error) { return io.Copy(onlyWriter{f.f}, r) }

type onlyWriter struct{ io.Writer }

// Commit puts the new content in place, durably: sync, mode, rename, then a
// sync of the directory so the rename itself survives a power loss.
func (f *File) Commit() error { return f.commit(true) }

func (f *File) commit(sync bool) error {
	if f.ended {
		return errors.New("atomicfile: " + f.path + " was already committed or aborted")
	}
	err := f.f.Chmod(f.perm)
	if err == nil && sync {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.f.Name(), f.path)
	}
	if err != nil {
		_ = os.Remove(f.f.Name())
		f.ended = true
		return err
	}
	f.ended = true
	if sync {
		return syncDir(filepath.Dir(f.path))
	}
	return nil
}

// Abort drops the new content; path is left as it was. It does nothing
// after Commit, so it may be deferred.
func (f *File) Abort() {
	if f.ended {
		return
	}
	f.ended = true
	_ = f.f.Close()
	_ = os.Remove(f.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
