package image

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/engine/internal/lease"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

var nowFunc = time.Now

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Resolve finds the image ref names: a name ("busybox" means
// "docker.io/library/busybox:latest"; "repo@sha256:…" by manifest digest),
// a full ID ("sha256:…" or 64 hex) or a unique ID prefix. It returns the
// containerd image (platform-bound to the service's platform) and its parsed
// config. An unknown or ambiguous ref is errdefs.ErrNotFound ("No such
// image: <ref>").
func (s *Service) Resolve(ctx context.Context, ref string) (client.Image, ocispec.Image, error) {
	ctx = s.ns(ctx)
	g, name, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, ocispec.Image{}, err
	}
	rec := g.primary()
	if name != "" {
		rec, _ = g.record(name)
	}
	return client.NewImageWithPlatform(s.client, rec, s.matcher), g.rt.config, nil
}

// EnsureUnpacked unpacks img into the service's snapshotter unless it is
// unpacked already.
func (s *Service) EnsureUnpacked(ctx context.Context, img client.Image) error {
	ctx = s.ns(ctx)
	ok, err := img.IsUnpacked(ctx, s.opts.Snapshotter)
	if err != nil {
		return fmt.Errorf("check unpack of %s: %w", imagetypes.FamiliarName(img.Name()), err)
	}
	if ok {
		return nil
	}
	// Under a berth lease (unless the caller holds one): the client's own
	// (client.WithLease) has no holder label, so berthd's start does not
	// remove it when berthd is killed in the middle of the unpack, and it
	// keeps what the unpack made for a day (the chaos soak found one).
	if _, held := leases.FromContext(ctx); !held {
		var done func(context.Context) error
		ctx, done, err = lease.With(ctx, s.client)
		if err != nil {
			return fmt.Errorf("unpack %s: creating lease: %w", imagetypes.FamiliarName(img.Name()), err)
		}
		defer func() { _ = done(context.WithoutCancel(ctx)) }()
	}
	if err := img.Unpack(ctx, s.opts.Snapshotter); err != nil {
		return fmt.Errorf("unpack %s into %s: %w", imagetypes.FamiliarName(img.Name()), s.opts.Snapshotter, err)
	}
	return nil
}

// ResolveForRun resolves ref as Resolve does, makes sure the image is
// unpacked, and returns what a container needs: the image's name, ID, config
// and the chain ID of its top snapshot. It is on the path of every `run`:
// the config comes from the service's cache and "is it unpacked" is one
// Stat of the top snapshot.
func (s *Service) ResolveForRun(ctx context.Context, ref string) (imagetypes.Resolved, error) {
	ctx = s.ns(ctx)
	g, name, err := s.lookup(ctx, ref)
	if err != nil {
		return imagetypes.Resolved{}, err
	}
	rec := g.primary()
	if name != "" {
		rec, _ = g.record(name)
	}
	cfg := g.rt.config
	r := imagetypes.Resolved{Name: rec.Name, ID: g.rt.configD.Digest.String(), Config: cfg, Healthcheck: g.rt.health}
	if len(cfg.RootFS.DiffIDs) == 0 {
		return r, nil
	}
	r.ChainID = identity.ChainID(cfg.RootFS.DiffIDs).String()
	if _, err := s.client.SnapshotService(s.opts.Snapshotter).Stat(ctx, r.ChainID); err == nil {
		return r, nil
	} else if !errdefs.IsNotFound(err) {
		return imagetypes.Resolved{}, fmt.Errorf("check unpack of %s: %w", imagetypes.FamiliarName(rec.Name), err)
	}
	if err := s.EnsureUnpacked(ctx, client.NewImageWithPlatform(s.client, rec, s.matcher)); err != nil {
		return imagetypes.Resolved{}, err
	}
	return r, nil
}

// size is the unpacked size of g in the service's snapshotter, or the
// compressed size of its layers when it is not (fully) unpacked.
func (s *Service) size(ctx context.Context, g *group) int64 {
	var compressed int64
	for _, l := range g.rt.manifest.Layers {
		compressed += l.Size
	}
	diffIDs := g.rt.config.RootFS.DiffIDs
	if len(diffIDs) == 0 {
		return compressed
	}
	sn := s.client.SnapshotService(s.opts.Snapshotter)
	var total int64
	for _, chain := range identity.ChainIDs(append([]digest.Digest(nil), diffIDs...)) {
		u, err := sn.Usage(ctx, chain.String())
		if err != nil { // not unpacked (fully): report what is stored
			return compressed
		}
		total += u.Size
	}
	return total
}
