package harness

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthproject/berth/test/images/imagegen"
)

// Image describes a test image built from Debian's static busybox, with
// optional layers on top (see test/images).
type Image struct {
	// Name is the image reference (default docker.io/library/busybox:latest).
	Name string
	// DataLayers random-data layers of LayerSizeMiB each.
	DataLayers   int
	LayerSizeMiB int64
	// SmallLayers one-file layers.
	SmallLayers int
}

// BusyboxName is the reference of the default test image.
const BusyboxName = "docker.io/library/busybox:latest"

var archiveMu sync.Mutex

// Archive returns the path of img as an OCI image archive. Archives are
// built once and cached under $TMPDIR/berth-test-images, keyed by the
// generator's source, the busybox binary and the options, so test binaries
// and benchmarks share them.
func Archive(t testing.TB, img Image) string {
	t.Helper()
	archiveMu.Lock()
	defer archiveMu.Unlock()
	if img.Name == "" {
		img.Name = BusyboxName
	}
	if img.LayerSizeMiB == 0 {
		img.LayerSizeMiB = 1
	}
	key, err := archiveKey(img)
	if err != nil {
		t.Fatalf("harness: image %s: %v", img.Name, err)
	}
	dir := filepath.Join(os.TempDir(), "berth-test-images")
	path := filepath.Join(dir, "image-"+key+".tar")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeArchive(path, img); err != nil {
		t.Fatalf("harness: build image %s: %v", img.Name, err)
	}
	return path
}

func archiveKey(img Image) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%q %d %d %d\n", img.Name, img.DataLayers, img.LayerSizeMiB, img.SmallLayers)
	// The generator's source (the image's files, users and groups are
	// written there): a change to it makes a new archive.
	files := []string{imagegen.DefaultBusybox}
	if repo, err := RepoRoot(); err == nil {
		src, err := filepath.Glob(filepath.Join(repo, "test", "images", "imagegen", "*.go"))
		if err != nil || len(src) == 0 {
			return "", fmt.Errorf("imagegen source in %s: %v", repo, err)
		}
		for _, p := range src {
			if !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
		}
	}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func writeArchive(path string, img Image) (err error) {
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{Name: img.Name})
	if err != nil {
		return err
	}
	spec.Layers = append(spec.Layers, imagegen.DataLayers(img.DataLayers, img.LayerSizeMiB<<20, 1)...)
	spec.Layers = append(spec.Layers, imagegen.SmallLayers(img.SmallLayers)...)
	f, err := os.CreateTemp(filepath.Dir(path), ".image-*.tar")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err = imagegen.WriteOCIArchive(w, spec); err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Atomic: concurrent test binaries may build the same archive.
	return os.Rename(f.Name(), path)
}

// BusyboxArchive is the default busybox test image's archive.
func BusyboxArchive(t testing.TB) string {
	t.Helper()
	return Archive(t, Image{})
}

// LoadBusybox loads the busybox test image into the stack with
// `berth load -i`.
func (s *Stack) LoadBusybox() {
	s.t.Helper()
	s.LoadImage(Image{})
}

// LoadImage builds (or reuses) img's archive and loads it with
// `berth load -i`.
func (s *Stack) LoadImage(img Image) {
	s.t.Helper()
	s.BerthOK("load", "-i", Archive(s.t, img))
}
