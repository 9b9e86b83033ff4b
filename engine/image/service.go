// Package image is the engine's image service: local image handling over the
// containerd client (import of a root file system, load and save of image
// archives, tag, remove, list, inspect) with Docker's semantics and names.
//
// An image is identified, as in Docker, by its config digest (the image ID).
// containerd stores images as named records pointing at a manifest or index;
// every record whose content has the same config is one more tag of the
// same image. An image without a tag keeps a record under an internal
// dangling name (see IsDangling) so that containerd does not collect it.
package image

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	eventbus "github.com/berthproject/berth/engine/events"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// InUseFunc reports the IDs of the containers that use an image. imageID is
// the image's config digest ("sha256:…"), the ID containers record as the
// image they were created from.
type InUseFunc func(ctx context.Context, imageID string) ([]string, error)

// Options configure a Service.
type Options struct {
	// Namespace is the containerd namespace every call works in (default
	// "berth"). It is applied inside each method; callers need not set it on
	// the context.
	Namespace string
	// Snapshotter images are unpacked into (default: containerd's default,
	// "overlayfs").
	Snapshotter string
	// Platform images are loaded, unpacked and imported for (default: this
	// host's, platforms.DefaultSpec()).
	Platform *ocispec.Platform
	// InUse, when set, is asked before an image's last reference is removed;
	// an image in use is only removed with Force.
	InUse InUseFunc
	// Events, when set, receives Docker's image events (tag, untag, delete,
	// import, load, save, pull, push).
	Events *eventbus.Bus
	// Registry are the settings for pulls and pushes (insecure registries,
	// mirrors, CA certificates).
	Registry RegistryOptions
}

// Service manages the images of one containerd namespace. Its methods are
// safe for concurrent use; changes to names are serialised.
type Service struct {
	client   *client.Client
	opts     Options
	platform ocispec.Platform
	matcher  platforms.MatchComparer

	// mu serialises changes to image names (tag, remove, load, import) so
	// that the dangling bookkeeping sees a consistent set of names.
	mu sync.Mutex

	cacheMu sync.Mutex
	// targets caches what a target digest resolves to (content is immutable).
	targets map[digest.Digest]*resolvedTarget

	// pulls are the pulls in flight, by normalised name and platform.
	pullMu sync.Mutex
	pulls  map[string]*pullJob

	hostsMu   sync.Mutex
	hostsPath string // containerd hosts files, see hostsDir
}

// resolvedTarget is what a record's target (manifest or index) holds for the
// service's platform.
type resolvedTarget struct {
	manifest ocispec.Manifest
	configD  ocispec.Descriptor
	config   ocispec.Image
	// health is the config's Docker HEALTHCHECK (not in the OCI config).
	health *containertypes.HealthConfig
}

// New returns an image service over c.
func New(c *client.Client, opts Options) *Service {
	if opts.Namespace == "" {
		opts.Namespace = "berth"
	}
	if opts.Snapshotter == "" {
		opts.Snapshotter = defaults.DefaultSnapshotter
	}
	p := platforms.DefaultSpec()
	if opts.Platform != nil {
		p = platforms.Normalize(*opts.Platform)
	}
	return &Service{
		client:   c,
		opts:     opts,
		platform: p,
		matcher:  platforms.Only(p),
		targets:  map[digest.Digest]*resolvedTarget{},
	}
}

// Snapshotter is the snapshotter images are unpacked into.
func (s *Service) Snapshotter() string { return s.opts.Snapshotter }

// Namespace is the containerd namespace of the service.
func (s *Service) Namespace() string { return s.opts.Namespace }

func (s *Service) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, s.opts.Namespace)
}

// group is one Docker image: every record whose target has the same config.
type group struct {
	id      digest.Digest
	records []images.Image // sorted by name; named records first, dangling last
	rt      *resolvedTarget
}

// names are the group's non-dangling record names.
func (g *group) names() []string {
	var out []string
	for _, r := range g.records {
		if !imagetypes.IsDangling(r.Name) {
			out = append(out, r.Name)
		}
	}
	return out
}

func (g *group) dangling() bool { return len(g.names()) == 0 }

// primary is the record that stands for the image: its first name, or its
// dangling record.
func (g *group) primary() images.Image { return g.records[0] }

func (g *group) record(name string) (images.Image, bool) {
	for _, r := range g.records {
		if r.Name == name {
			return r, true
		}
	}
	return images.Image{}, false
}

// resolve returns what target holds for the service's platform, cached.
func (s *Service) resolve(ctx context.Context, target ocispec.Descriptor) (*resolvedTarget, error) {
	s.cacheMu.Lock()
	rt, ok := s.targets[target.Digest]
	s.cacheMu.Unlock()
	if ok {
		return rt, nil
	}
	cs := s.client.ContentStore()
	m, err := images.Manifest(ctx, cs, target, s.matcher)
	if err != nil {
		return nil, err
	}
	cfg, health, err := readConfigHealth(ctx, cs, m.Config)
	if err != nil {
		return nil, err
	}
	rt = &resolvedTarget{manifest: m, configD: m.Config, config: cfg, health: health}
	s.cacheMu.Lock()
	s.targets[target.Digest] = rt
	s.cacheMu.Unlock()
	return rt, nil
}

func readConfig(ctx context.Context, cs content.Provider, d ocispec.Descriptor) (ocispec.Image, error) {
	cfg, _, err := readConfigHealth(ctx, cs, d)
	return cfg, err
}

// readConfigHealth is readConfig with the Docker HEALTHCHECK the config
// carries, if any ("config": {"Healthcheck": ...}; the OCI config has no
// such field).
func readConfigHealth(ctx context.Context, cs content.Provider, d ocispec.Descriptor) (ocispec.Image, *containertypes.HealthConfig, error) {
	var cfg ocispec.Image
	b, err := content.ReadBlob(ctx, cs, d)
	if err != nil {
		return cfg, nil, err
	}
	if err := jsonUnmarshal(b, &cfg); err != nil {
		return cfg, nil, fmt.Errorf("image config %s: %w", d.Digest, err)
	}
	var docker struct {
		Config struct {
			Healthcheck *containertypes.HealthConfig `json:"Healthcheck"`
		} `json:"config"`
	}
	if err := jsonUnmarshal(b, &docker); err != nil {
		return cfg, nil, nil // an odd healthcheck does not make the image unusable
	}
	return cfg, docker.Config.Healthcheck, nil
}

// groups lists every image of the namespace, by ID. Records whose content is
// missing, unreadable or has nothing for the service's platform are left out.
func (s *Service) groups(ctx context.Context) (map[digest.Digest]*group, error) {
	recs, err := s.client.ImageService().List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[digest.Digest]*group{}
	for _, r := range recs {
		rt, err := s.resolve(ctx, r.Target)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// Missing content, nothing for our platform, or a broken
			// config: such a record is not a usable image; leave it out
			// rather than failing every listing.
			continue
		}
		g := out[rt.configD.Digest]
		if g == nil {
			g = &group{id: rt.configD.Digest, rt: rt}
			out[g.id] = g
		}
		g.records = append(g.records, r)
	}
	for _, g := range out {
		sort.Slice(g.records, func(i, j int) bool {
			a, b := g.records[i].Name, g.records[j].Name
			if imagetypes.IsDangling(a) != imagetypes.IsDangling(b) {
				return !imagetypes.IsDangling(a)
			}
			return a < b
		})
		// The group's config view follows its primary record.
		if rt, err := s.resolve(ctx, g.primary().Target); err == nil {
			g.rt = rt
		}
	}
	return out, nil
}

// lookup finds the image ref names. name is the record name when ref named
// the image (a tag or a digest reference), "" when ref was an ID.
//
// Order, as Docker: a "sha256:" prefix is an ID (full or unique prefix);
// anything else is first tried as a name, then, if it is hex, as an ID prefix.
func (s *Service) lookup(ctx context.Context, ref string) (g *group, name string, err error) {
	all, err := s.groups(ctx)
	if err != nil {
		return nil, "", err
	}
	return s.lookupIn(all, ref)
}

// lookupIn is lookup over a listing already made.
func (s *Service) lookupIn(all map[digest.Digest]*group, ref string) (g *group, name string, err error) {
	if ref == "" {
		return nil, "", fmt.Errorf("no image given: %w", errdefs.ErrInvalidArgument)
	}
	if hexPart, ok := strings.CutPrefix(ref, "sha256:"); ok {
		if !isHex(hexPart) {
			return nil, "", notFound(ref)
		}
		g, err := byIDPrefix(all, hexPart, ref)
		return g, "", err
	}
	full, nerr := imagetypes.NormalizeName(ref)
	if nerr == nil {
		if g, name := byName(all, full); g != nil {
			return g, name, nil
		}
	}
	if nerr != nil && !isHex(ref) {
		return nil, "", nerr // "BusyBox": not a name, so not a missing image
	}
	if isHex(ref) {
		g, err := byIDPrefix(all, ref, ref)
		return g, "", err
	}
	return nil, "", notFound(ref)
}

func byName(all map[digest.Digest]*group, full string) (*group, string) {
	for _, g := range all {
		if _, ok := g.record(full); ok {
			return g, full
		}
	}
	// repo@digest: any record of that repository whose target has the digest.
	repo, dgst, ok := strings.Cut(full, "@")
	if !ok {
		return nil, ""
	}
	var found *group
	var foundName string
	for _, g := range all {
		for _, r := range g.records {
			if !imagetypes.IsDangling(r.Name) && repoOf(r.Name) == repo && r.Target.Digest.String() == dgst {
				if found == nil || r.Name < foundName {
					found, foundName = g, r.Name
				}
			}
		}
	}
	return found, foundName
}

// byIDPrefix finds the one image whose ID starts with prefix (hex). An
// ambiguous prefix finds nothing, as in Docker.
func byIDPrefix(all map[digest.Digest]*group, prefix, ref string) (*group, error) {
	var found *group
	for id, g := range all {
		if strings.HasPrefix(id.Encoded(), prefix) {
			if found != nil {
				return nil, &imagetypes.NotFoundError{Ref: ref, Err: fmt.Errorf("No such image: %s (the ID prefix is ambiguous): %w", ref, errdefs.ErrNotFound)}
			}
			found = g
		}
	}
	if found == nil {
		return nil, notFound(ref)
	}
	return found, nil
}

// publish sends an image event when the service has a bus.
func (s *Service) publish(action, id string, attrs map[string]string) {
	if s.opts.Events == nil {
		return
	}
	s.opts.Events.Publish(events.Message{
		Type:   events.TypeImage,
		Action: action,
		Actor:  events.Actor{ID: id, Attributes: attrs},
		Time:   nowFunc(),
	})
}

// setName points name at target, the way Docker retags: an image that loses
// its last name to this becomes dangling instead of disappearing, and a
// dangling record of the newly named image is dropped. Call with s.mu held.
func (s *Service) setName(ctx context.Context, all map[digest.Digest]*group, name string, target ocispec.Descriptor, labels map[string]string) error {
	is := s.client.ImageService()
	newRT, err := s.resolve(ctx, target)
	if err != nil {
		return err
	}
	if old, oldName := byName(all, name); old != nil && oldName == name {
		rec, _ := old.record(name)
		if rec.Target.Digest == target.Digest {
			return nil
		}
		if old.id != newRT.configD.Digest && len(old.names()) == 1 && !slices.ContainsFunc(old.records, func(r images.Image) bool { return imagetypes.IsDangling(r.Name) }) {
			// Keep the image that loses its last name, as <none>, before
			// the name moves (so the garbage collector never sees it
			// unreferenced).
			if _, err := is.Create(ctx, images.Image{Name: danglingName(rec.Target.Digest), Target: rec.Target, Labels: rec.Labels}); err != nil && !errdefs.IsAlreadyExists(err) {
				return err
			}
		}
		if _, err := is.Update(ctx, images.Image{Name: name, Target: target, Labels: labels}, "target", "labels"); err != nil {
			return err
		}
	} else if _, err := is.Create(ctx, images.Image{Name: name, Target: target, Labels: labels}); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return err
		}
		if _, err := is.Update(ctx, images.Image{Name: name, Target: target, Labels: labels}, "target", "labels"); err != nil {
			return err
		}
	}
	if g := all[newRT.configD.Digest]; g != nil && !imagetypes.IsDangling(name) {
		return s.dropDangling(ctx, g)
	}
	return nil
}

// dropDangling deletes g's dangling records (g has a name now).
func (s *Service) dropDangling(ctx context.Context, g *group) error {
	var errs []error
	for _, r := range g.records {
		if imagetypes.IsDangling(r.Name) {
			if err := s.client.ImageService().Delete(ctx, r.Name); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
