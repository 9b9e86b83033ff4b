// Package imagegen makes container images for berth's tests and benchmarks
// without any network access: a busybox image built from Debian's
// busybox-static binary, optionally with extra random-data layers or many
// small layers on top, written as an OCI image archive (oci-layout,
// index.json, blobs/sha256/...).
//
// The output is reproducible: entries are sorted, every timestamp is fixed
// and random data comes from a seeded generator, so the same input always
// gives the same digests.
package imagegen

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Epoch is the fixed timestamp used for every file and for the image's
// creation time, so that archives are reproducible.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultBusybox is the path of Debian's static busybox binary.
const DefaultBusybox = "/bin/busybox"

// DefaultPath is the PATH of the busybox image's config.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Entry is one file system entry of a layer.
type Entry struct {
	Name     string // path without leading slash, e.g. "bin/sh"
	Type     byte   // tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink
	Mode     int64  // permission bits (including sticky etc.)
	Linkname string // for symlinks and hard links
	Data     []byte // for regular files (small files)
	// Reader, when set, supplies Size bytes for a regular file instead of
	// Data (used for large random files).
	Reader func() io.Reader
	Size   int64
	UID    int
	GID    int
}

// Layer is a set of entries; its tar is written with entries sorted by name.
type Layer struct {
	Entries []Entry
	Comment string // history comment ("created_by")
}

// Spec describes an image to generate.
type Spec struct {
	// Name is the image reference stored in the index annotation
	// io.containerd.image.name, e.g. "docker.io/library/busybox:latest".
	Name string
	// Layers, bottom first.
	Layers []Layer
	// Config is the image's runtime config (Cmd, Env, ...).
	Config ocispec.ImageConfig
	// Platform the image says it is for (nil: linux on this host's
	// architecture). Only the label: the files stay this host's.
	Platform *ocispec.Platform
}

// ImageInfo is what WriteOCIArchive reports about the written image.
type ImageInfo struct {
	Manifest ocispec.Descriptor
	Config   ocispec.Descriptor // Config.Digest is the image ID
	DiffIDs  []digest.Digest
	Layers   []ocispec.Descriptor
}

// BusyboxOptions selects the busybox binary and the image name.
type BusyboxOptions struct {
	Binary string // default DefaultBusybox
	Name   string // default docker.io/library/busybox:latest
}

// BusyboxSpec returns the spec of a minimal busybox image: the static
// busybox binary, a symlink per applet at the path `busybox --list-full`
// gives, /etc/passwd, /etc/group and /etc/shadow as Docker Hub's busybox
// image has them (buildroot's skeleton: root, nobody, staff, wheel, audio,
// ...), /tmp (1777), /root, /home, /var, and a config with Cmd ["sh"] and
// PATH.
func BusyboxSpec(opts BusyboxOptions) (Spec, error) {
	if opts.Binary == "" {
		opts.Binary = DefaultBusybox
	}
	if opts.Name == "" {
		opts.Name = "docker.io/library/busybox:latest"
	}
	bin, err := os.ReadFile(opts.Binary)
	if err != nil {
		return Spec{}, fmt.Errorf("read busybox binary (install busybox-static): %w", err)
	}
	out, err := exec.Command(opts.Binary, "--list-full").Output()
	if err != nil {
		return Spec{}, fmt.Errorf("%s --list-full: %w", opts.Binary, err)
	}
	entries := []Entry{
		{Name: "bin", Type: tar.TypeDir, Mode: 0o755},
		{Name: "bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: bin},
		{Name: "dev", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte(busyboxGroup)},
		{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte(busyboxPasswd)},
		{Name: "etc/shadow", Type: tar.TypeReg, Mode: 0o600, Data: []byte(busyboxShadow)},
		{Name: "home", Type: tar.TypeDir, Mode: 0o755},
		{Name: "proc", Type: tar.TypeDir, Mode: 0o755},
		{Name: "root", Type: tar.TypeDir, Mode: 0o700},
		{Name: "sbin", Type: tar.TypeDir, Mode: 0o755},
		{Name: "sys", Type: tar.TypeDir, Mode: 0o755},
		{Name: "tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "usr", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/sbin", Type: tar.TypeDir, Mode: 0o755},
		{Name: "var", Type: tar.TypeDir, Mode: 0o755},
		{Name: "var/spool", Type: tar.TypeDir, Mode: 0o755},
		{Name: "var/spool/mail", Type: tar.TypeDir, Mode: 0o755},
		{Name: "var/www", Type: tar.TypeDir, Mode: 0o755},
	}
	dirs := map[string]bool{}
	for _, e := range entries {
		if e.Type == tar.TypeDir {
			dirs[e.Name] = true
		}
	}
	seen := map[string]bool{"bin/busybox": true}
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.Trim(strings.TrimSpace(line), "/")
		// Skip odd entries such as "linuxrc" and anything not in a known dir.
		if name == "" || seen[name] || !dirs[path.Dir(name)] {
			continue
		}
		seen[name] = true
		entries = append(entries, Entry{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Linkname: "/bin/busybox"})
	}
	return Spec{
		Name:   opts.Name,
		Layers: []Layer{{Entries: entries, Comment: "busybox-static " + bbVersion(opts.Binary)}},
		Config: ocispec.ImageConfig{
			Env: []string{DefaultPath},
			Cmd: []string{"sh"},
		},
	}, nil
}

// The users and groups of Docker Hub's busybox image, which takes them from
// buildroot's system/skeleton/etc (root's password locked as the image
// does). moby's tests name some of them (GroupAdd staff, wheel, audio).
const (
	busyboxPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n" +
		"bin:x:2:2:bin:/bin:/bin/false\n" +
		"sys:x:3:3:sys:/dev:/bin/false\n" +
		"sync:x:4:100:sync:/bin:/bin/sync\n" +
		"mail:x:8:8:mail:/var/spool/mail:/bin/false\n" +
		"www-data:x:33:33:www-data:/var/www:/bin/false\n" +
		"operator:x:37:37:Operator:/var:/bin/false\n" +
		"nobody:x:65534:65534:nobody:/home:/bin/false\n"
	busyboxGroup = "root:x:0:\n" +
		"daemon:x:1:\n" +
		"bin:x:2:\n" +
		"sys:x:3:\n" +
		"adm:x:4:\n" +
		"tty:x:5:\n" +
		"disk:x:6:\n" +
		"lp:x:7:\n" +
		"mail:x:8:\n" +
		"kmem:x:9:\n" +
		"wheel:x:10:root\n" +
		"cdrom:x:11:\n" +
		"dialout:x:18:\n" +
		"floppy:x:19:\n" +
		"video:x:28:\n" +
		"audio:x:29:\n" +
		"tape:x:32:\n" +
		"www-data:x:33:\n" +
		"operator:x:37:\n" +
		"utmp:x:43:\n" +
		"plugdev:x:46:\n" +
		"staff:x:50:\n" +
		"lock:x:54:\n" +
		"netdev:x:82:\n" +
		"users:x:100:\n" +
		"nobody:x:65534:\n"
	busyboxShadow = "root:*:::::::\n" +
		"daemon:*:::::::\n" +
		"bin:*:::::::\n" +
		"sys:*:::::::\n" +
		"sync:*:::::::\n" +
		"mail:*:::::::\n" +
		"www-data:*:::::::\n" +
		"operator:*:::::::\n" +
		"nobody:*:::::::\n"
)

func bbVersion(bin string) string {
	out, _ := exec.Command(bin).Output() // busybox prints its banner and exits 0
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}

// DataLayers returns n layers, each holding one file /data/layer-<i>.bin of
// size bytes of seeded pseudo-random (incompressible) data.
func DataLayers(n int, size int64, seed uint64) []Layer {
	var layers []Layer
	for i := range n {
		s := seed + uint64(i)
		layers = append(layers, Layer{
			Comment: fmt.Sprintf("random data layer %d (%d bytes)", i, size),
			Entries: []Entry{
				{Name: "data", Type: tar.TypeDir, Mode: 0o755},
				{Name: fmt.Sprintf("data/layer-%03d.bin", i), Type: tar.TypeReg, Mode: 0o644, Size: size,
					Reader: func() io.Reader { return io.LimitReader(newRandReader(s), size) }},
			},
		})
	}
	return layers
}

// SmallLayers returns n layers, each holding one small file /layers/<i>.
func SmallLayers(n int) []Layer {
	var layers []Layer
	for i := range n {
		layers = append(layers, Layer{
			Comment: fmt.Sprintf("small layer %d", i),
			Entries: []Entry{
				{Name: "layers", Type: tar.TypeDir, Mode: 0o755},
				{Name: fmt.Sprintf("layers/%04d", i), Type: tar.TypeReg, Mode: 0o644, Data: []byte(fmt.Sprintf("layer %d\n", i))},
			},
		})
	}
	return layers
}

type randReader struct{ r *rand.ChaCha8 }

func newRandReader(seed uint64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return randReader{rand.NewChaCha8(s)}
}

func (r randReader) Read(p []byte) (int, error) { return r.r.Read(p) }

// WriteLayerTar writes the layer's uncompressed tar to w, entries sorted by
// name, with fixed timestamps and owners.
func WriteLayerTar(w io.Writer, l Layer) error {
	entries := append([]Entry(nil), l.Entries...)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: e.Type,
			Name:     e.Name,
			Linkname: e.Linkname,
			Mode:     e.Mode,
			Uid:      e.UID,
			Gid:      e.GID,
			ModTime:  Epoch,
			Format:   tar.FormatPAX,
		}
		if e.Type == tar.TypeDir {
			hdr.Name += "/"
		}
		var body io.Reader
		if e.Type == tar.TypeReg {
			if e.Reader != nil {
				hdr.Size = e.Size
				body = e.Reader()
			} else {
				hdr.Size = int64(len(e.Data))
				body = bytes.NewReader(e.Data)
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if body != nil {
			if _, err := io.Copy(tw, body); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// blobWriter collects blobs for the archive: small blobs in memory, large
// ones in temp files.
type blob struct {
	desc ocispec.Descriptor
	file string // temp file path, or "" when data is set
	data []byte
}

// WriteOCIArchive writes spec as an OCI image archive to w. Large layers are
// staged in temp files (in os.TempDir()) that are removed before return.
func WriteOCIArchive(w io.Writer, spec Spec) (info ImageInfo, err error) {
	tmp, err := os.MkdirTemp("", "imagegen")
	if err != nil {
		return info, err
	}
	defer os.RemoveAll(tmp)

	var blobs []blob
	history := []ocispec.History{}
	for i, l := range spec.Layers {
		b, diffID, err := compressLayer(tmp, i, l)
		if err != nil {
			return info, fmt.Errorf("layer %d: %w", i, err)
		}
		blobs = append(blobs, b)
		info.Layers = append(info.Layers, b.desc)
		info.DiffIDs = append(info.DiffIDs, diffID)
		created := Epoch
		history = append(history, ocispec.History{Created: &created, CreatedBy: l.Comment})
	}
	created := Epoch
	platform := ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}
	if spec.Platform != nil {
		platform = *spec.Platform
	}
	img := ocispec.Image{
		Created:  &created,
		Platform: platform,
		Config:   spec.Config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: info.DiffIDs},
		History:  history,
	}
	cfg, err := jsonBlob(ocispec.MediaTypeImageConfig, img)
	if err != nil {
		return info, err
	}
	info.Config = cfg.desc
	blobs = append(blobs, cfg)

	mf, err := jsonBlob(ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg.desc,
		Layers:    info.Layers,
	})
	if err != nil {
		return info, err
	}
	blobs = append(blobs, mf)
	info.Manifest = mf.desc

	mdesc := mf.desc
	mdesc.Platform = &platform
	if spec.Name != "" {
		mdesc.Annotations = map[string]string{
			"io.containerd.image.name": spec.Name,
			ocispec.AnnotationRefName:  refName(spec.Name),
		}
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{mdesc},
	})
	if err != nil {
		return info, err
	}

	tw := tar.NewWriter(w)
	addFile := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: Epoch}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	addDir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: Epoch})
	}
	layout := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	if err := addDir("blobs/"); err != nil {
		return info, err
	}
	if err := addDir("blobs/sha256/"); err != nil {
		return info, err
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].desc.Digest < blobs[j].desc.Digest })
	written := map[digest.Digest]bool{}
	for _, b := range blobs {
		if written[b.desc.Digest] {
			continue
		}
		written[b.desc.Digest] = true
		var r io.Reader = bytes.NewReader(b.data)
		if b.file != "" {
			f, err := os.Open(b.file)
			if err != nil {
				return info, err
			}
			r = f
			defer f.Close()
		}
		if err := addFile("blobs/sha256/"+b.desc.Digest.Encoded(), b.desc.Size, r); err != nil {
			return info, err
		}
	}
	if err := addFile("index.json", int64(len(index)), bytes.NewReader(index)); err != nil {
		return info, err
	}
	if err := addFile("oci-layout", int64(len(layout)), bytes.NewReader(layout)); err != nil {
		return info, err
	}
	return info, tw.Close()
}

// refName returns the tag of a reference (the OCI ref.name convention used
// by containerd's exporter), or the whole name when it has no tag.
func refName(name string) string {
	i := strings.LastIndex(name, ":")
	if i < 0 || strings.Contains(name[i:], "/") {
		return name
	}
	return name[i+1:]
}

func jsonBlob(mediaType string, v any) (blob, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return blob{}, err
	}
	return blob{desc: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}, data: data}, nil
}

// compressLayer writes the gzip-compressed layer to a temp file and returns
// its blob plus the uncompressed digest (diff ID).
func compressLayer(dir string, i int, l Layer) (blob, digest.Digest, error) {
	f, err := os.Create(path.Join(dir, fmt.Sprintf("layer-%d", i)))
	if err != nil {
		return blob{}, "", err
	}
	defer f.Close()
	ch := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, ch)}
	gz, err := gzip.NewWriterLevel(cw, gzip.DefaultCompression)
	if err != nil {
		return blob{}, "", err
	}
	// gzip header: no name, zero mtime: reproducible.
	uh := sha256.New()
	if err := WriteLayerTar(io.MultiWriter(gz, uh), l); err != nil {
		return blob{}, "", err
	}
	if err := gz.Close(); err != nil {
		return blob{}, "", err
	}
	if err := f.Close(); err != nil {
		return blob{}, "", err
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(ch.Sum(nil)))
	diffID := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(uh.Sum(nil)))
	return blob{
		desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: cw.n},
		file: f.Name(),
	}, diffID, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
