package image

import (
	"context"
	"errors"
	"sort"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Prune removes dangling images (with All: every image) that no container
// uses, as `docker image prune`.
func (s *Service) Prune(ctx context.Context, opts imagetypes.PruneOptions) (*imagetypes.PruneReport, error) {
	ctx = s.ns(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]digest.Digest, 0, len(all))
	for id, g := range all {
		if opts.All || g.dangling() {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	rep := &imagetypes.PruneReport{}
	var errs []error
	for _, id := range ids {
		if s.opts.InUse != nil {
			users, err := s.opts.InUse(ctx, id.String())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(users) > 0 {
				continue
			}
		}
		size := s.size(ctx, all[id])
		resp, err := s.removeOne(ctx, id.String(), true)
		rep.Deleted = append(rep.Deleted, resp...)
		if err != nil {
			if !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		rep.SpaceReclaimed += size
	}
	s.publish("prune", "", nil)
	return rep, errors.Join(errs...)
}

// History returns the build history of an image, newest first, with the
// size of the layer each entry made.
func (s *Service) History(ctx context.Context, ref string) ([]imagetypes.HistoryEntry, error) {
	ctx = s.ns(ctx)
	g, _, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	cfg := g.rt.config
	layers := g.rt.manifest.Layers
	chain := identity.ChainIDs(append([]digest.Digest(nil), cfg.RootFS.DiffIDs...))
	sn := s.client.SnapshotService(s.opts.Snapshotter)
	layerSize := func(i int) int64 {
		if i >= len(chain) {
			return 0
		}
		if u, err := sn.Usage(ctx, chain[i].String()); err == nil {
			return u.Size
		}
		if i < len(layers) {
			return layers[i].Size
		}
		return 0
	}
	hist := cfg.History
	if len(hist) == 0 {
		// No history in the config: one entry per layer.
		for range cfg.RootFS.DiffIDs {
			hist = append(hist, hist0())
		}
	}
	out := make([]imagetypes.HistoryEntry, 0, len(hist))
	li := 0
	for _, h := range hist {
		e := imagetypes.HistoryEntry{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment}
		if h.Created != nil {
			e.Created = *h.Created
		}
		if !h.EmptyLayer {
			e.Size = layerSize(li)
			li++
		}
		out = append(out, e)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 0 {
		out[0].ID = g.id.String()
		out[0].Tags = repoTags(g)
	}
	return out, nil
}

func hist0() ocispec.History { return ocispec.History{} }
