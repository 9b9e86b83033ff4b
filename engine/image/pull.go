package image

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/semaphore"

	"github.com/berthproject/berth/engine/internal/lease"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// pullJob is one pull in flight; concurrent pulls of the same reference and
// platform join it and share its progress and result.
type pullJob struct {
	done chan struct{}
	img  *imagetypes.Image
	err  error

	mu      sync.Mutex
	subs    []imagetypes.ProgressFunc
	seen    []imagetypes.Progress // replayed to subscribers that join late
	callers int
	left    int
	cancel  context.CancelFunc
}

func (j *pullJob) send(p imagetypes.Progress) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seen = append(j.seen, p)
	for _, s := range j.subs {
		s(p)
	}
}

func (j *pullJob) subscribe(fn imagetypes.ProgressFunc) {
	if fn == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, p := range j.seen {
		fn(p)
	}
	j.subs = append(j.subs, fn)
}

// Pull fetches ref from its registry, verifies every blob's digest, unpacks
// the layers into the service's snapshotter while others still download,
// and names the image ref. A reference without a tag pulls ":latest". A
// failed or cancelled pull leaves no image record and no partial snapshot;
// what was downloaded stays in containerd's ingest area and is resumed by the
// next pull. Concurrent pulls of the same reference share one transfer.
func (s *Service) Pull(ctx context.Context, ref string, opts imagetypes.PullOptions) (*imagetypes.Image, error) {
	ctx = s.ns(ctx)
	name, err := imagetypes.NormalizeName(ref)
	if err != nil {
		return nil, err
	}
	platform := s.platform
	if opts.Platform != "" {
		p, err := platforms.Parse(opts.Platform)
		if err != nil {
			return nil, fmt.Errorf("invalid platform %q: %v: %w", opts.Platform, err, errdefs.ErrInvalidArgument)
		}
		platform = platforms.Normalize(p)
	}
	// Callers with other credentials do not share a transfer: theirs might
	// be the ones that work.
	key := name + " " + platforms.Format(platform)
	if a := opts.Auth; a != nil {
		key += fmt.Sprintf(" %x", sha256.Sum256([]byte(a.ServerAddress+"\x00"+a.Username+"\x00"+a.Password+"\x00"+a.IdentityToken)))
	}

	s.pullMu.Lock()
	if s.pulls == nil {
		s.pulls = map[string]*pullJob{}
	}
	job, joined := s.pulls[key]
	if !joined {
		job = &pullJob{done: make(chan struct{})}
		s.pulls[key] = job
		// The transfer runs on its own context so that one caller going
		// away does not fail the others; the last one to leave cancels it.
		var jctx context.Context
		jctx, job.cancel = context.WithCancel(context.WithoutCancel(ctx))
		go func() {
			defer close(job.done)
			defer job.cancel()
			job.img, job.err = s.pull(jctx, name, platform, opts.Auth, job.send)
			s.pullMu.Lock()
			if s.pulls[key] == job {
				delete(s.pulls, key)
			}
			s.pullMu.Unlock()
		}()
	}
	job.mu.Lock()
	job.callers++
	job.mu.Unlock()
	s.pullMu.Unlock()
	job.subscribe(opts.Progress)

	select {
	case <-job.done:
		return job.img, job.err
	case <-ctx.Done():
		s.leave(job)
		return nil, ctx.Err()
	}
}

// leave records that a caller of job gave up; the last one cancels it.
func (s *Service) leave(job *pullJob) {
	s.pullMu.Lock()
	defer s.pullMu.Unlock()
	job.mu.Lock()
	defer job.mu.Unlock()
	job.left++
	if job.left >= job.callers {
		// Nobody waits for it any more: stop it, and let the next pull of
		// the same image start afresh instead of joining a cancelled one.
		if job.cancel != nil {
			job.cancel()
		}
		for k, j := range s.pulls {
			if j == job {
				delete(s.pulls, k)
			}
		}
	}
}

func (s *Service) pull(ctx context.Context, name string, platform ocispec.Platform, auth *imagetypes.AuthConfig, progress imagetypes.ProgressFunc) (*imagetypes.Image, error) {

	named, _ := reference.ParseNormalizedNamed(name)
	host := reference.Domain(named)
	tagOrDigest := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tagOrDigest = t.Tag()
	} else if d, ok := named.(reference.Digested); ok {
		tagOrDigest = d.Digest().String()
	}

	// A lease holds what is fetched until the name points at it, and the
	// images that may lose their name to this pull until they are kept as
	// dangling.
	ctx, done, err := lease.With(ctx, s.client)
	if err != nil {
		return nil, err
	}
	// A lease that fails to go is removed at berthd's next start, or expires
	// (lease.Expiration), and GC collects what it held.
	defer func() { _ = done(context.WithoutCancel(ctx)) }()
	before, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	var oldTarget *ocispec.Descriptor
	if g, n := byName(before, name); g != nil && n == name {
		rec, _ := g.record(name)
		oldTarget = &rec.Target
		if l, ok := leases.FromContext(ctx); ok {
			if err := s.client.LeasesService().AddResource(ctx, leases.Lease{ID: l}, leases.Resource{ID: rec.Target.Digest.String(), Type: "content"}); err != nil {
				return nil, err
			}
		}
	}

	matcher := platforms.Only(platform)
	// Resolve here first: the registry's answer comes back typed (not
	// found, unauthorized, unreachable), which errors from inside
	// containerd's transfer service are not.
	if _, _, err := s.resolver(auth, nil).Resolve(ctx, name); err != nil {
		return nil, registryError("pull", imagetypes.FamiliarName(name), host, err)
	}
	// As dockerd, after the registry has the reference: a pull it refuses
	// has no progress (the Docker API answers it with an HTTP error).
	progress(imagetypes.Progress{Message: fmt.Sprintf("%s: Pulling from %s", tagOrDigest, reference.Path(named))})
	rec, err := s.transferPull(ctx, name, platform, auth, progress)
	if errdefs.IsNotImplemented(err) {
		// A containerd without the transfer service: fetch from here.
		rec, err = s.clientPull(ctx, name, matcher, auth, progress)
	}
	if err != nil {
		return nil, registryError("pull", imagetypes.FamiliarName(name), host, err)
	}

	target := rec.Target
	s.mu.Lock()
	err = s.afterPull(ctx, before, name, oldTarget, target)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	rt, err := s.resolveFor(ctx, target, matcher)
	if err != nil {
		return nil, err
	}
	progress(imagetypes.Progress{Message: "Digest: " + target.Digest.String()})
	if oldTarget != nil && oldTarget.Digest == target.Digest {
		progress(imagetypes.Progress{Message: "Status: Image is up to date for " + imagetypes.FamiliarName(name)})
	} else {
		progress(imagetypes.Progress{Message: "Status: Downloaded newer image for " + imagetypes.FamiliarName(name)})
	}
	s.publish("pull", rt.configD.Digest.String(), map[string]string{"name": imagetypes.FamiliarName(name)})
	if !platforms.Only(s.platform).Match(platform) {
		// Not an image for this host: the service's views (which follow
		// the host's platform) cannot show it; report what was pulled.
		return &imagetypes.Image{ID: rt.configD.Digest.String(), RepoTags: []string{imagetypes.FamiliarName(name)}, Architecture: rt.config.Architecture, Os: rt.config.OS, Variant: rt.config.Variant, Names: []string{name}, Target: target.Digest.String()}, nil
	}
	return s.lookupAfterChange(ctx, rt.configD.Digest)
}

// afterPull keeps as dangling the image that lost name to the pull (when
// that was its last name) and drops the pulled image's dangling record.
// Call with s.mu held.
func (s *Service) afterPull(ctx context.Context, before map[digest.Digest]*group, name string, oldTarget *ocispec.Descriptor, target ocispec.Descriptor) error {
	if oldTarget != nil && oldTarget.Digest != target.Digest {
		if old, _ := byName(before, name); old != nil && len(old.names()) == 1 && !slices.ContainsFunc(old.records, func(r images.Image) bool { return imagetypes.IsDangling(r.Name) }) {
			rec, _ := old.record(name)
			if _, err := s.client.ImageService().Create(ctx, images.Image{Name: danglingName(oldTarget.Digest), Target: *oldTarget, Labels: rec.Labels}); err != nil && !errdefs.IsAlreadyExists(err) {
				return err
			}
		}
	}
	rt, err := s.resolve(ctx, target)
	if err != nil {
		// Another platform's image: nothing of ours to tidy.
		return nil
	}
	after, err := s.groups(ctx)
	if err != nil {
		return err
	}
	if g := after[rt.configD.Digest]; g != nil {
		return s.dropDangling(ctx, g)
	}
	return nil
}

// resolveFor is resolve for a platform other than the service's.
func (s *Service) resolveFor(ctx context.Context, target ocispec.Descriptor, m platforms.MatchComparer) (*resolvedTarget, error) {
	if m.Match(s.platform) {
		return s.resolve(ctx, target)
	}
	mf, err := images.Manifest(ctx, s.client.ContentStore(), target, m)
	if err != nil {
		return nil, err
	}
	cfg, health, err := readConfigHealth(ctx, s.client.ContentStore(), mf.Config)
	if err != nil {
		return nil, err
	}
	return &resolvedTarget{manifest: mf, configD: mf.Config, config: cfg, health: health}, nil
}

// defaultConcurrency is how many blobs move at once.
func defaultConcurrency() int { return max(8, 2*runtime.NumCPU()) }

// clientPull fetches and unpacks name from berthd's side (containerd's
// client resolver and unpacker), following progress in the content store
// and the snapshotter.
func (s *Service) clientPull(ctx context.Context, name string, matcher platforms.MatchComparer, auth *imagetypes.AuthConfig, progress imagetypes.ProgressFunc) (images.Image, error) {
	sn := s.client.SnapshotService(s.opts.Snapshotter)
	tracker := newPullTracker(s.client.ContentStore(), sn, progress)
	pollCtx, stopPoll := context.WithCancel(ctx)
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); tracker.run(pollCtx, 100*time.Millisecond) }()
	img, err := s.client.Pull(ctx, name,
		client.WithResolver(s.resolver(auth, nil)),
		client.WithPlatformMatcher(matcher),
		client.WithPullUnpack,
		client.WithPullSnapshotter(s.opts.Snapshotter),
		client.WithMaxConcurrentDownloads(defaultConcurrency()),
		client.WithImageHandlerWrapper(tracker.wrap),
		// With a limiter, a snapshotter that can rebase (containerd's
		// overlayfs; any that declares the "rebase" capability) unpacks
		// layers in parallel, each into its own snapshot, then commits them
		// onto each other in order; others unpack one after another while
		// the next layers still download.
		client.WithUnpackOpts([]client.UnpackOpt{client.WithUnpackLimiter(semaphore.NewWeighted(int64(max(2, runtime.NumCPU()))))}),
	)
	stopPoll()
	<-pollDone
	if err != nil {
		return images.Image{}, err
	}
	tracker.poll(ctx, true)
	return img.Metadata(), nil
}
