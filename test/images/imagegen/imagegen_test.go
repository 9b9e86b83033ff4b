package imagegen

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func busybox(t *testing.T) Spec {
	t.Helper()
	if _, err := os.Stat(DefaultBusybox); err != nil {
		t.Skip("needs busybox-static")
	}
	spec, err := BusyboxSpec(BusyboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestReproducible(t *testing.T) {
	spec := busybox(t)
	spec.Layers = append(spec.Layers, DataLayers(1, 4096, 7)...)
	var a, b bytes.Buffer
	ia, err := WriteOCIArchive(&a, spec)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := WriteOCIArchive(&b, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || ia.Config.Digest != ib.Config.Digest {
		t.Fatalf("two runs differ: %s vs %s", ia.Config.Digest, ib.Config.Digest)
	}
}

func TestBusyboxArchive(t *testing.T) {
	spec := busybox(t)
	var buf bytes.Buffer
	info, err := WriteOCIArchive(&buf, spec)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
	}
	var idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["io.containerd.image.name"] != "docker.io/library/busybox:latest" ||
		idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != "latest" {
		t.Fatalf("index: %s", files["index.json"])
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(files["blobs/sha256/"+info.Config.Digest.Encoded()], &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Cmd) != 1 || cfg.Config.Cmd[0] != "sh" || len(cfg.RootFS.DiffIDs) != 1 {
		t.Fatalf("config: %+v", cfg)
	}
	gz, err := gzip.NewReader(bytes.NewReader(files["blobs/sha256/"+info.Layers[0].Digest.Encoded()]))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"bin/busybox": false, "bin/sh": false, "etc/passwd": false, "etc/group": false, "tmp/": false}
	// Docker Hub's busybox users and groups, which moby's tests name.
	wantLines := map[string][]string{
		"etc/passwd": {"root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65534:nobody:/home:/bin/false"},
		"etc/group":  {"root:x:0:", "wheel:x:10:root", "audio:x:29:", "staff:x:50:", "nobody:x:65534:"},
	}
	lr := tar.NewReader(gz)
	for {
		h, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := want[h.Name]; ok {
			want[h.Name] = true
		}
		if lines, ok := wantLines[h.Name]; ok {
			data, _ := io.ReadAll(lr)
			for _, l := range lines {
				if !slices.Contains(strings.Split(string(data), "\n"), l) {
					t.Errorf("%s lacks %q:\n%s", h.Name, l, data)
				}
			}
		}
		if h.Name == "tmp/" && h.Mode != 0o1777 {
			t.Errorf("tmp mode %o", h.Mode)
		}
	}
	for name, ok := range want {
		if !ok {
			t.Errorf("layer lacks %s", name)
		}
	}
}
