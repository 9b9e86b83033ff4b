package image

import (
	"context"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// pullTracker follows a pull's layers: a handler wrapper sees each layer
// start and finish fetching, a poller reads byte counts from the content
// store's active ingests and, for layers fetched, whether their snapshot
// exists (unpacked) in the snapshotter.
type pullTracker struct {
	cs  content.Store
	sn  snapshots.Snapshotter
	out imagetypes.ProgressFunc

	mu     sync.Mutex
	order  []digest.Digest
	layers map[digest.Digest]*layerState
	last   map[digest.Digest]imagetypes.Progress
}

type layerState struct {
	size        int64
	chainID     string
	started     bool
	fetched     bool
	existedThen bool
}

func newPullTracker(cs content.Store, sn snapshots.Snapshotter, out imagetypes.ProgressFunc) *pullTracker {
	return &pullTracker{cs: cs, sn: sn, out: out, layers: map[digest.Digest]*layerState{}, last: map[digest.Digest]imagetypes.Progress{}}
}

// wrap is a client.WithImageHandlerWrapper.
func (t *pullTracker) wrap(h images.Handler) images.Handler {
	return images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		layer := images.IsLayerType(desc.MediaType)
		if layer {
			t.mu.Lock()
			if l := t.layers[desc.Digest]; l != nil {
				l.started = true
			}
			t.mu.Unlock()
		}
		children, err := h.Handle(ctx, desc)
		if err != nil {
			return children, err
		}
		switch {
		case layer:
			t.mu.Lock()
			if l := t.layers[desc.Digest]; l != nil {
				l.fetched = true
			}
			t.mu.Unlock()
		case images.IsManifestType(desc.MediaType):
			t.mu.Lock()
			for _, c := range children {
				if images.IsLayerType(c.MediaType) {
					if _, ok := t.layers[c.Digest]; !ok {
						t.order = append(t.order, c.Digest)
						t.layers[c.Digest] = &layerState{size: c.Size}
					}
				}
			}
			t.mu.Unlock()
		case images.IsConfigType(desc.MediaType):
			t.setChainIDs(ctx, desc)
		}
		return children, nil
	})
}

// setChainIDs maps the layers to the snapshots they unpack into.
func (t *pullTracker) setChainIDs(ctx context.Context, cfgDesc ocispec.Descriptor) {
	cfg, err := readConfig(ctx, t.cs, cfgDesc)
	if err != nil {
		return
	}
	chain := identity.ChainIDs(append([]digest.Digest(nil), cfg.RootFS.DiffIDs...))
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(chain) != len(t.order) {
		return
	}
	for i, d := range t.order {
		l := t.layers[d]
		l.chainID = chain[i].String()
		if !l.started {
			if _, err := t.sn.Stat(ctx, l.chainID); err == nil {
				l.existedThen = true
			}
		}
	}
}

// poll sends what changed since the last poll.
func (t *pullTracker) poll(ctx context.Context, final bool) {
	active := map[digest.Digest]content.Status{}
	if sts, err := t.cs.ListStatuses(ctx); err == nil {
		for _, st := range sts {
			if st.Expected != "" {
				active[st.Expected] = st
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.order {
		l := t.layers[d]
		p := imagetypes.Progress{ID: shortID(d.String()), Total: l.size}
		switch {
		case l.existedThen:
			p.Status = imagetypes.StatusAlreadyExists
		case final:
			p.Status, p.Current = imagetypes.StatusPullComplete, l.size
		case l.fetched:
			p.Status, p.Current = imagetypes.StatusExtracting, l.size
			if l.chainID != "" {
				if _, err := t.sn.Stat(ctx, l.chainID); err == nil {
					p.Status = imagetypes.StatusPullComplete
				}
			}
		case l.started:
			p.Status = imagetypes.StatusDownloading
			if st, ok := active[d]; ok {
				p.Current = st.Offset
			} else if _, err := t.cs.Info(ctx, d); err == nil {
				p.Status, p.Current = imagetypes.StatusDownloadComplete, l.size
			}
		default:
			p.Status = imagetypes.StatusWaiting
		}
		if t.last[d] != p {
			t.last[d] = p
			t.out(p)
		}
	}
}

// run polls every interval until ctx ends.
func (t *pullTracker) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.poll(ctx, false)
		}
	}
}
