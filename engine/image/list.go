package image

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Inspect returns the full view of the image ref names (see Resolve for the
// forms of ref).
func (s *Service) Inspect(ctx context.Context, ref string) (*imagetypes.Image, error) {
	ctx = s.ns(ctx)
	g, _, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.inspect(ctx, g), nil
}

func (s *Service) inspect(ctx context.Context, g *group) *imagetypes.Image {
	c := g.rt.config
	img := &imagetypes.Image{
		ID:           g.id.String(),
		RepoTags:     repoTags(g),
		RepoDigests:  s.repoDigests(ctx, g),
		Author:       c.Author,
		Architecture: c.Architecture,
		Variant:      c.Variant,
		Os:           c.OS,
		Size:         s.size(ctx, g),
		Config:       runConfig(c),
		RootFS:       imagetypes.RootFS{Type: c.RootFS.Type, Layers: []string{}},
		Target:       g.primary().Target.Digest.String(),
	}
	if c.Created != nil {
		img.Created = *c.Created
	}
	for _, d := range c.RootFS.DiffIDs {
		img.RootFS.Layers = append(img.RootFS.Layers, d.String())
	}
	for _, h := range c.History {
		e := imagetypes.History{CreatedBy: h.CreatedBy, Author: h.Author, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if h.Created != nil {
			e.Created = *h.Created
		}
		img.History = append(img.History, e)
	}
	for _, r := range g.records {
		img.Names = append(img.Names, r.Name)
	}
	return img
}

// RunConfig returns the run configuration of image ref (what a container's
// inspect shows of its image), without the sizes and repo digests Inspect
// works out (a snapshot usage and a content lookup per layer and name).
//
// A full image ID is answered from the cache of resolved targets when one
// holds its config (content-addressed, it cannot change), without listing
// every image: a container inspect asks each time. Such an answer outlives
// the image, as a container's config does in Docker.
func (s *Service) RunConfig(ctx context.Context, ref string) (*imagetypes.Config, error) {
	if d, err := digest.Parse(ref); err == nil {
		s.cacheMu.Lock()
		for _, rt := range s.targets {
			if rt.configD.Digest == d {
				cfg := runConfig(rt.config)
				s.cacheMu.Unlock()
				return &cfg, nil
			}
		}
		s.cacheMu.Unlock()
	}
	ctx = s.ns(ctx)
	g, _, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	cfg := runConfig(g.rt.config)
	return &cfg, nil
}

func runConfig(c ocispec.Image) imagetypes.Config {
	return imagetypes.Config{
		User:         c.Config.User,
		ExposedPorts: c.Config.ExposedPorts,
		Env:          c.Config.Env,
		Entrypoint:   c.Config.Entrypoint,
		Cmd:          c.Config.Cmd,
		Volumes:      c.Config.Volumes,
		WorkingDir:   c.Config.WorkingDir,
		Labels:       c.Config.Labels,
		StopSignal:   c.Config.StopSignal,
	}
}

// repoTags are g's names in familiar form, sorted.
func repoTags(g *group) []string {
	out := []string{}
	for _, n := range g.names() {
		if named, err := reference.ParseNormalizedNamed(n); err == nil {
			if _, isDigest := named.(reference.Canonical); isDigest {
				continue // a pull by digest is a RepoDigest, not a tag
			}
		}
		out = append(out, imagetypes.FamiliarName(n))
	}
	sort.Strings(out)
	return out
}

// repoDigests are "repo@manifest-digest" for records whose content came from
// a registry (the content store records a distribution source for it).
func (s *Service) repoDigests(ctx context.Context, g *group) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, r := range g.records {
		if imagetypes.IsDangling(r.Name) {
			continue
		}
		info, err := s.client.ContentStore().Info(ctx, r.Target.Digest)
		if err != nil {
			continue
		}
		pulled := false
		for k := range info.Labels {
			if strings.HasPrefix(k, labels.LabelDistributionSource) {
				pulled = true
				break
			}
		}
		if !pulled {
			continue
		}
		rd := familiarRepo(r.Name) + "@" + r.Target.Digest.String()
		if !seen[rd] {
			seen[rd] = true
			out = append(out, rd)
		}
	}
	sort.Strings(out)
	return out
}

// List returns the images of the namespace, newest first.
func (s *Service) List(ctx context.Context, opts imagetypes.ListOptions) ([]imagetypes.Summary, error) {
	ctx = s.ns(ctx)
	f, err := s.parseFilters(ctx, opts.Filters)
	if err != nil {
		return nil, err
	}
	all, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	var out []imagetypes.Summary
	for _, g := range all {
		tags, ok := f.match(g)
		if !ok {
			continue
		}
		sum := imagetypes.Summary{
			ID:          g.id.String(),
			RepoTags:    tags,
			RepoDigests: f.digests(s.repoDigests(ctx, g)),
			Size:        s.size(ctx, g),
			Labels:      g.rt.config.Config.Labels,
		}
		if c := g.rt.config.Created; c != nil {
			sum.Created = *c
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// filters is a parsed ListOptions.Filters.
type filters struct {
	dangling   *bool
	references []string
	labels     []string
	before     *time.Time
	until      *time.Time
	since      *time.Time
}

func (s *Service) parseFilters(ctx context.Context, in map[string][]string) (*filters, error) {
	f := &filters{}
	for key, vals := range in {
		switch key {
		case "dangling":
			for _, v := range vals {
				var b bool
				switch strings.ToLower(v) {
				case "true", "1":
					b = true
				case "false", "0":
					b = false
				default:
					return nil, fmt.Errorf("invalid filter 'dangling=%s': use true or false: %w", v, errdefs.ErrInvalidArgument)
				}
				if f.dangling != nil && *f.dangling != b {
					return nil, fmt.Errorf("conflicting dangling filters: %w", errdefs.ErrInvalidArgument)
				}
				f.dangling = &b
			}
		case "reference":
			for _, v := range vals {
				if _, err := path.Match(v, ""); err != nil {
					return nil, fmt.Errorf("invalid reference filter %q: %v: %w", v, err, errdefs.ErrInvalidArgument)
				}
			}
			f.references = append(f.references, vals...)
		case "label":
			f.labels = append(f.labels, vals...)
		case "until":
			for _, v := range vals {
				t, err := parseFilterTime(v, time.Now())
				if err != nil {
					return nil, fmt.Errorf("invalid filter 'until=%s': %v: %w", v, err, errdefs.ErrInvalidArgument)
				}
				// Several values: the earliest wins, as dockerd's.
				if f.until == nil || t.Before(*f.until) {
					f.until = &t
				}
			}
		case "before", "since":
			for _, v := range vals {
				g, _, err := s.lookup(ctx, v)
				if err != nil {
					return nil, err
				}
				var t time.Time
				if c := g.rt.config.Created; c != nil {
					t = *c
				}
				p := &f.before
				if key == "since" {
					p = &f.since
				}
				// Several values: the strictest bound wins.
				if *p == nil || (key == "before" && t.Before(**p)) || (key == "since" && t.After(**p)) {
					*p = &t
				}
			}
		default:
			return nil, fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
		}
	}
	return f, nil
}

// match reports whether g passes the filters and the RepoTags to show (only
// the matching ones when a reference filter is given).
func (f *filters) match(g *group) ([]string, bool) {
	tags := repoTags(g)
	if f.dangling != nil && *f.dangling != (len(tags) == 0) {
		return nil, false
	}
	if len(f.references) > 0 {
		var kept []string
		for _, t := range tags {
			for _, pat := range f.references {
				if refMatch(pat, t) {
					kept = append(kept, t)
					break
				}
			}
		}
		if len(kept) == 0 {
			return nil, false
		}
		tags = kept
	}
	cl := g.rt.config.Config.Labels
	for _, l := range f.labels {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := cl[k]
		if !ok || (hasValue && got != v) {
			return nil, false
		}
	}
	var created time.Time
	if c := g.rt.config.Created; c != nil {
		created = *c
	}
	if f.until != nil && !created.Before(*f.until) {
		return nil, false
	}
	if f.before != nil && !created.Before(*f.before) {
		return nil, false
	}
	if f.since != nil && !created.After(*f.since) {
		return nil, false
	}
	return tags, true
}

// digests keeps the repository digests ("busybox@sha256:…") whose
// repository matches a reference filter, as dockerd filters them with the
// tags (else the docker CLI shows `other:<none>` rows for an image that
// another name shares).
func (f *filters) digests(ds []string) []string {
	if len(f.references) == 0 {
		return ds
	}
	var kept []string
	for _, d := range ds {
		repo, _, _ := strings.Cut(d, "@")
		for _, pat := range f.references {
			if ok, _ := path.Match(pat, repo); ok {
				kept = append(kept, d)
				break
			}
			if ok, _ := path.Match(pat, d); ok {
				kept = append(kept, d)
				break
			}
		}
	}
	return kept
}

// refMatch matches a reference filter pattern against a familiar tag
// ("busybox:latest") as Docker does: against the whole tag, and, for a
// pattern without a tag, against the repository alone.
func refMatch(pattern, tag string) bool {
	if ok, _ := path.Match(pattern, tag); ok {
		return true
	}
	repo := tag
	if i := strings.LastIndex(tag, ":"); i > strings.LastIndex(tag, "/") {
		repo = tag[:i]
	}
	ok, _ := path.Match(pattern, repo)
	return ok
}

// parseFilterTime reads an until filter as dockerd does: an RFC 3339 time,
// Unix seconds with an optional fraction, or a duration before now ("24h").
func parseFilterTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if sec, frac, _ := strings.Cut(v, "."); sec != "" && strings.Trim(sec, "0123456789") == "" && strings.Trim(frac, "0123456789") == "" {
		n, err := strconv.ParseInt(sec, 10, 64)
		if err == nil {
			var ns int64
			if frac != "" {
				frac = (frac + "000000000")[:9]
				ns, _ = strconv.ParseInt(frac, 10, 64)
			}
			return time.Unix(n, ns), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("want a time (RFC 3339), Unix seconds or a duration (24h)")
}
