package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// The build cache's bolt databases are written without an fdatasync per
// transaction (bolt's NoSync): an unchanged rebuild commits some fifty
// small transactions, whose syncs took most of its time
// (docs/performance.md "Build"). BuildKit's own cache.db is opened so
// upstream; berth-buildkitd does the same for the cache records
// (metadata_v2.db) and the build history.
//
// Without the syncs, a write reaches the disk when the kernel writes its
// pages back: a killed berth-buildkitd loses nothing (the page cache
// outlives it), a machine that stops (a power cut, a kernel crash) may
// leave a database torn. So a marker file holds the boot ID while
// berth-buildkitd runs; a clean stop syncs the file system and removes
// it. A start that finds the marker of another boot did not stop cleanly
// before the machine did: it drops the cache's databases (the cache is
// rebuilt by the next builds) and removeLeftovers then releases the
// containerd leases of the records they held.

// runningMarker is in the root: it holds the boot ID while berth-buildkitd runs.
const runningMarker = "running.bootid"

// cacheDBs are the databases written without syncs, under the root.
var cacheDBs = []string{"cache.db", "history.db", filepath.Join("containerd-%s", "metadata_v2.db")}

func cacheDBPaths(o options) []string {
	var out []string
	for _, p := range cacheDBs {
		if strings.Contains(p, "%s") {
			p = fmt.Sprintf(p, o.snapshotter)
		}
		out = append(out, filepath.Join(o.root, p))
	}
	return out
}

func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// startUnsynced runs at the start, with the lock held and before any
// database is opened: it drops the databases a previous run left unsynced
// when the machine stopped, then marks this run.
func startUnsynced(o options) error {
	boot, err := bootID()
	if err != nil {
		return err
	}
	marker := filepath.Join(o.root, runningMarker)
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) != boot {
		for _, p := range cacheDBPaths(o) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		logrus.Warnf("the machine stopped while berth-buildkitd ran (boot %s): its build cache may be torn, so it starts empty", strings.TrimSpace(string(b)))
	}
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(boot + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return syncDir(o.root)
}

// stopUnsynced runs at a clean stop, once the databases are closed: it
// writes back what they left in the page cache, then removes the marker.
func stopUnsynced(o options) {
	fd, err := unix.Open(o.root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		logrus.Warnf("sync the build cache: %v", err)
		return
	}
	err = unix.Syncfs(fd)
	_ = unix.Close(fd)
	if err != nil {
		logrus.Warnf("sync the build cache: %v", err)
		return
	}
	if err := os.Remove(filepath.Join(o.root, runningMarker)); err != nil {
		logrus.Warnf("remove %s: %v", runningMarker, err)
		return
	}
	_ = syncDir(o.root)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// noSync turns off the per-transaction sync of a bolt database that
// BuildKit opened (its metadata store gives it as a db.Transactor).
func noSync(db any) {
	if b, ok := db.(*bolt.DB); ok {
		b.NoSync = true
	}
}
