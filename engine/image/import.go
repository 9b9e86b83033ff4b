package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/engine/internal/lease"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Import makes a one-layer image from a root file system tar (plain, gzip or
// zstd), as `docker import` does: the layer is stored gzip-compressed, the
// config records the layer's diff ID, the service's platform, the time and
// a history entry with opts.Message. The image is named opts.Ref (dangling
// when empty) and unpacked into the service's snapshotter. Input that is
// not a tar archive is errdefs.ErrInvalidArgument. On failure nothing is
// left behind (the blobs written so far go with the lease).
func (s *Service) Import(ctx context.Context, r io.Reader, opts imagetypes.ImportOptions) (*imagetypes.Image, error) {
	ctx = s.ns(ctx)
	plat, err := s.importPlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	var name string
	if opts.Ref != "" {
		var err error
		if name, err = tagName(opts.Ref); err != nil {
			return nil, err
		}
	}
	ctx, done, err := lease.With(ctx, s.client)
	if err != nil {
		return nil, err
	}
	// A lease that fails to go is removed at berthd's next start, or expires
	// (lease.Expiration), and GC collects what it held.
	defer func() { _ = done(context.WithoutCancel(ctx)) }()

	cs := s.client.ContentStore()
	layer, diffID, err := writeLayer(ctx, cs, r)
	if err != nil {
		return nil, err
	}

	now := nowFunc().UTC()
	msg := opts.Message
	if msg == "" {
		msg = "Imported from -"
	}
	cfg := ocispec.Image{
		Created:  &now,
		Platform: plat,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History:  []ocispec.History{{Created: &now, Comment: msg}},
	}
	cfgDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageConfig, cfg, nil)
	if err != nil {
		return nil, err
	}
	out, recName, err := s.storeImage(ctx, cfgDesc, []ocispec.Descriptor{layer}, name, plat)
	if err != nil {
		return nil, err
	}
	s.publish("import", out.ID, map[string]string{"name": imagetypes.FamiliarName(recName)})
	return out, nil
}

// importPlatform is the platform an import records: the service's, or the
// one asked for (docker import --platform), as dockerd's classic store
// takes it: any architecture of the service's operating system.
func (s *Service) importPlatform(want string) (ocispec.Platform, error) {
	if want == "" {
		return s.platform, nil
	}
	p, err := platforms.Parse(want)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: %s: %w", want, strings.TrimSuffix(err.Error(), ": invalid argument"), errdefs.ErrInvalidArgument)
	}
	p = platforms.Normalize(p)
	if p.OS != s.platform.OS {
		return ocispec.Platform{}, fmt.Errorf("importing for %s: operating system is not supported (berth's images are %s): %w", p.OS, s.platform.OS, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// storeImage writes the manifest of a config and its layers, unpacks it
// and names it name (dangling when empty): a layer the snapshotter cannot
// apply fails before any name moved. It returns the image and its record
// name.
func (s *Service) storeImage(ctx context.Context, cfgDesc ocispec.Descriptor, layers []ocispec.Descriptor, name string, p ocispec.Platform) (*imagetypes.Image, string, error) {
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    layers,
	}
	// The manifest references its config and layers for the garbage collector.
	gcLabels := map[string]string{"containerd.io/gc.ref.content.config": cfgDesc.Digest.String()}
	for i, l := range layers {
		gcLabels[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = l.Digest.String()
	}
	mDesc, err := writeJSON(ctx, s.client.ContentStore(), ocispec.MediaTypeImageManifest, manifest, gcLabels)
	if err != nil {
		return nil, "", err
	}
	mDesc.Platform = &p

	recName := name
	if recName == "" {
		recName = danglingName(mDesc.Digest)
	}
	if err := s.EnsureUnpacked(ctx, client.NewImageWithPlatform(s.client, images.Image{Name: recName, Target: mDesc}, s.matcher)); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.groups(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := s.setName(ctx, all, recName, mDesc, nil); err != nil {
		return nil, "", err
	}
	out, err := s.lookupAfterChange(ctx, cfgDesc.Digest)
	return out, recName, err
}

// lookupAfterChange inspects the image with this ID.
func (s *Service) lookupAfterChange(ctx context.Context, id digest.Digest) (*imagetypes.Image, error) {
	all, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	g := all[id]
	if g == nil {
		return nil, notFound(id.String())
	}
	return s.inspect(ctx, g), nil
}

// writeLayer stores the tar read from r as a gzip layer blob, checking that
// it is a tar archive on the way. It returns the blob's descriptor and the
// diff ID (digest of the uncompressed tar).
func writeLayer(ctx context.Context, cs content.Store, r io.Reader) (ocispec.Descriptor, digest.Digest, error) {
	ds, err := compression.DecompressStream(r)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("read import stream: %w", err)
	}
	defer ds.Close()

	ref := "berth-import-" + randomHex()
	w, err := content.OpenWriter(ctx, cs, content.WithRef(ref))
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer w.Close()
	counted := &countingWriter{w: w}
	gz := gzip.NewWriter(counted)
	differ := digest.Canonical.Digester()
	var raw countingWriter
	raw.w = io.MultiWriter(gz, differ.Hash())
	src := io.TeeReader(ds, &raw)

	// Walk the tar so that non-tar input fails here, clearly.
	tr := tar.NewReader(src)
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = cs.Abort(ctx, ref)
			return ocispec.Descriptor{}, "", fmt.Errorf("the input is not a tar archive of a root file system: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			_ = cs.Abort(ctx, ref)
			return ocispec.Descriptor{}, "", fmt.Errorf("read import stream: %w", err)
		}
	}
	// Keep the tar's trailing blocks in the layer too.
	if _, err := io.Copy(io.Discard, src); err != nil {
		_ = cs.Abort(ctx, ref)
		return ocispec.Descriptor{}, "", fmt.Errorf("read import stream: %w", err)
	}
	if raw.n == 0 {
		// No input at all: the layer is an empty tar archive, as dockerd
		// makes it (a root file system of no files is an image too).
		if _, err := raw.Write(make([]byte, 1024)); err != nil {
			_ = cs.Abort(ctx, ref)
			return ocispec.Descriptor{}, "", err
		}
	}
	if err := gz.Close(); err != nil {
		_ = cs.Abort(ctx, ref)
		return ocispec.Descriptor{}, "", err
	}
	diffID := differ.Digest()
	dgst := w.Digest()
	err = w.Commit(ctx, counted.n, dgst, content.WithLabels(map[string]string{labels.LabelUncompressed: diffID.String()}))
	if err != nil && !errdefs.IsAlreadyExists(err) {
		_ = cs.Abort(ctx, ref)
		return ocispec.Descriptor{}, "", fmt.Errorf("store layer: %w", err)
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: dgst, Size: counted.n}, diffID, nil
}

// writeJSON stores v as a blob of mediaType with the given labels.
func writeJSON(ctx context.Context, cs content.Store, mediaType string, v any, lbls map[string]string) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	var opts []content.Opt
	if lbls != nil {
		opts = append(opts, content.WithLabels(lbls))
	}
	if err := content.WriteBlob(ctx, cs, "berth-"+desc.Digest.String(), bytes.NewReader(b), desc, opts...); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("store %s: %w", mediaType, err)
	}
	if len(lbls) > 0 {
		// WriteBlob does not label a blob that existed already.
		var fields []string
		for k := range lbls {
			fields = append(fields, "labels."+k)
		}
		if _, err := cs.Update(ctx, content.Info{Digest: desc.Digest, Labels: lbls}, fields...); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("label %s: %w", mediaType, err)
		}
	}
	return desc, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
