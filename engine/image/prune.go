package image

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	labelfilters "github.com/berthproject/berth/pkg/types/filters"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Prune removes dangling images (with All: every image) that no container
// uses and that pass opts.Filters, as `docker image prune`; with All, an
// image a container uses keeps only its last name (sorted), as dockerd's. A bad filter is
// errdefs.ErrInvalidArgument and removes nothing.
func (s *Service) Prune(ctx context.Context, opts imagetypes.PruneOptions) (*imagetypes.PruneReport, error) {
	ctx = s.ns(ctx)
	f, err := parsePruneFilters(opts)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]digest.Digest, 0, len(all))
	for id, g := range all {
		if f.match(g) {
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
				// As dockerd, which removes each name in turn until the
				// last one refuses (a container uses the image): it keeps
				// its last name in sorted order and loses the others.
				if names := slices.Sorted(slices.Values(all[id].names())); f.all && len(names) > 1 {
					for _, n := range names[:len(names)-1] {
						resp, err := s.removeOne(ctx, n, false)
						rep.Deleted = append(rep.Deleted, resp...)
						if err != nil && !errdefs.IsNotFound(err) {
							errs = append(errs, err)
						}
					}
				}
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

// pruneFilters is a parsed PruneOptions.
type pruneFilters struct {
	all       bool
	until     time.Time
	labels    []string
	notLabels []string
}

func parsePruneFilters(opts imagetypes.PruneOptions) (pruneFilters, error) {
	f := pruneFilters{all: opts.All}
	for key, vals := range opts.Filters {
		switch key {
		case "dangling":
			for _, v := range vals {
				switch strings.ToLower(v) {
				case "true", "1":
				case "false", "0":
					f.all = true
				default:
					return f, fmt.Errorf("invalid filter 'dangling=%s': use true or false: %w", v, errdefs.ErrInvalidArgument)
				}
			}
		case "until":
			for _, v := range vals {
				t, err := parseFilterTime(v, time.Now())
				if err != nil {
					return f, fmt.Errorf("invalid filter 'until=%s': %v: %w", v, err, errdefs.ErrInvalidArgument)
				}
				if f.until.IsZero() || t.Before(f.until) {
					f.until = t
				}
			}
		case "label":
			f.labels = append(f.labels, vals...)
		case "label!":
			f.notLabels = append(f.notLabels, vals...)
		default:
			return f, fmt.Errorf("invalid filter '%s': image prune takes dangling, until, label and label!: %w", key, errdefs.ErrInvalidArgument)
		}
	}
	return f, nil
}

// match: g is dangling (or any image with all), created before until,
// has every label and none of the excluded ones.
func (f pruneFilters) match(g *group) bool {
	if !f.all && !g.dangling() {
		return false
	}
	if !f.until.IsZero() {
		c := g.rt.config.Created
		if c == nil || !c.Before(f.until) {
			return false
		}
	}
	return labelfilters.Labels(g.rt.config.Config.Labels, f.labels, f.notLabels)
}
