package image

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Push uploads the image named ref to its registry. ref must be a name (a
// tag pushes that tag; a name without one pushes ":latest"). A
// multi-platform index is pushed whole when all of its manifests are here;
// otherwise the manifest of the service's platform is pushed under the tag,
// as Docker does with a partially pulled index.
func (s *Service) Push(ctx context.Context, ref string, opts imagetypes.PushOptions) (*imagetypes.PushResult, error) {
	ctx = s.ns(ctx)
	progress := opts.Progress
	if progress == nil {
		progress = func(imagetypes.Progress) {}
	}
	name, err := imagetypes.NormalizeName(ref)
	if err != nil {
		return nil, err
	}
	all, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	g, n := byName(all, name)
	if g == nil || n != name {
		return nil, fmt.Errorf("An image does not exist locally with the tag: %s: %w", imagetypes.FamiliarName(name), errdefs.ErrNotFound)
	}
	rec, _ := g.record(name)
	target, err := s.pushTarget(ctx, rec.Target)
	if err != nil {
		return nil, err
	}
	named, _ := reference.ParseNormalizedNamed(name)
	host := reference.Domain(named)
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	progress(imagetypes.Progress{Message: fmt.Sprintf("The push refers to repository [%s]", named.Name())})

	tracker := docker.NewInMemoryTracker()
	pt := &pushTracker{tracker: tracker, out: progress}
	pollCtx, stopPoll := context.WithCancel(ctx)
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pollCtx.Done():
				return
			case <-tick.C:
				pt.poll(pollCtx, false)
			}
		}
	}()
	err = s.client.Push(ctx, name, target,
		client.WithResolver(s.resolver(opts.Auth, tracker)),
		client.WithPlatformMatcher(platforms.All),
		client.WithMaxConcurrentUploadedLayers(defaultConcurrency()),
		client.WithImageHandlerWrapper(pt.wrap),
	)
	stopPoll()
	<-pollDone
	if err != nil {
		return nil, registryError("push", imagetypes.FamiliarName(name), host, err)
	}
	pt.poll(ctx, true)
	progress(imagetypes.Progress{Message: fmt.Sprintf("%s: digest: %s size: %d", tag, target.Digest, target.Size)})
	s.publish("push", g.id.String(), map[string]string{"name": imagetypes.FamiliarName(name)})
	return &imagetypes.PushResult{Tag: tag, Digest: target.Digest.String(), Size: target.Size}, nil
}

// pushTarget is what to push for a record's target: the target itself when
// all of its content is here, else the manifest for the service's platform.
func (s *Service) pushTarget(ctx context.Context, target ocispec.Descriptor) (ocispec.Descriptor, error) {
	if !images.IsIndexType(target.MediaType) {
		return target, nil
	}
	cs := s.client.ContentStore()
	complete := true
	err := images.Walk(ctx, images.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if _, err := cs.Info(ctx, d.Digest); err != nil {
			if errdefs.IsNotFound(err) {
				complete = false
				return nil, images.ErrSkipDesc
			}
			return nil, err
		}
		if images.IsIndexType(d.MediaType) || images.IsManifestType(d.MediaType) {
			return images.Children(ctx, cs, d)
		}
		return nil, nil
	}), target)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if complete {
		return target, nil
	}
	var found *ocispec.Descriptor
	err = images.Walk(ctx, images.FilterPlatforms(images.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if images.IsManifestType(d.MediaType) && found == nil {
			found = &d
			return nil, nil
		}
		if images.IsIndexType(d.MediaType) {
			return images.Children(ctx, cs, d)
		}
		return nil, nil
	}), s.matcher), target)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if found == nil {
		return ocispec.Descriptor{}, fmt.Errorf("push: no manifest for %s in the index %s: %w", platforms.Format(s.platform), target.Digest, errdefs.ErrNotFound)
	}
	return *found, nil
}

// pushTracker reports the blobs of a push from the resolver's status tracker.
type pushTracker struct {
	tracker docker.StatusTracker
	out     imagetypes.ProgressFunc

	mu    sync.Mutex
	descs []ocispec.Descriptor
	keys  []string
	last  map[string]imagetypes.Progress
}

func (t *pushTracker) wrap(h images.Handler) images.Handler {
	return images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if images.IsLayerType(desc.MediaType) {
			t.mu.Lock()
			t.descs = append(t.descs, desc)
			t.keys = append(t.keys, remotes.MakeRefKey(ctx, desc))
			t.mu.Unlock()
		}
		return h.Handle(ctx, desc)
	})
}

func (t *pushTracker) poll(_ context.Context, final bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[string]imagetypes.Progress{}
	}
	for i, d := range t.descs {
		p := imagetypes.Progress{ID: shortID(d.Digest.String()), Total: d.Size, Status: imagetypes.StatusPreparing}
		st, err := t.tracker.GetStatus(t.keys[i])
		switch {
		case err == nil && st.Exists:
			p.Status = imagetypes.StatusLayerExists
		case err == nil && st.Committed, final:
			p.Status, p.Current = imagetypes.StatusPushed, d.Size
		case err == nil:
			p.Status, p.Current = imagetypes.StatusPushing, st.Offset
		}
		if t.last[t.keys[i]] != p {
			t.last[t.keys[i]] = p
			t.out(p)
		}
	}
}
