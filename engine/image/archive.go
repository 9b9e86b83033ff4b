package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/engine/internal/lease"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Load reads an image archive, in docker-archive (`docker save`) or OCI
// layout format, stores its images and unpacks them into the service's
// snapshotter. Names come from the archive (docker RepoTags, the OCI
// annotations io.containerd.image.name or a full reference in
// org.opencontainers.image.ref.name), normalised as Docker does; an image
// without a name is loaded dangling. A name that pointed at another image
// moves, and that image becomes dangling if it has no name left. progress,
// if not nil, receives Docker's lines ("Loaded image: busybox:latest",
// "Loaded image ID: sha256:…"). It returns the loaded images.
func (s *Service) Load(ctx context.Context, r io.Reader, progress func(string)) (_ []imagetypes.Image, err error) {
	ctx = s.ns(ctx)
	if progress == nil {
		progress = func(string) {}
	}
	ctx, done, err := lease.With(ctx, s.client)
	if err != nil {
		return nil, err
	}
	// A lease that fails to go is removed at berthd's next start, or expires
	// (lease.Expiration), and GC collects what it held.
	defer func() { _ = done(context.WithoutCancel(ctx)) }()

	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	// Hold every current image in the lease while names move, so that an
	// image losing its last name survives until it is kept as dangling.
	oldTargets := map[string]ocispec.Descriptor{}
	if l, ok := leases.FromContext(ctx); ok {
		ls := s.client.LeasesService()
		seen := map[digest.Digest]bool{}
		for _, g := range before {
			for _, rec := range g.records {
				oldTargets[rec.Name] = rec.Target
				if seen[rec.Target.Digest] {
					continue
				}
				seen[rec.Target.Digest] = true
				if err := ls.AddResource(ctx, leases.Lease{ID: l}, leases.Resource{ID: rec.Target.Digest.String(), Type: "content"}); err != nil {
					return nil, err
				}
			}
		}
	}

	// A load that fails after containerd stored its records (a layer that
	// does not unpack) puts the records back as they were: nothing of the
	// archive is left, no name moved.
	defer func() {
		if err != nil {
			if rerr := s.restoreRecords(context.WithoutCancel(ctx), oldTargets); rerr != nil {
				err = fmt.Errorf("%w (and restoring the image names: %v)", err, rerr)
			}
		}
	}()

	imported, err := s.client.Import(ctx, r,
		client.WithImportPlatform(s.matcher),
		client.WithImageRefTranslator(ociRefName),
		client.WithDigestRef(danglingName),
		client.WithSkipDigestRef(func(name string) bool { return name != "" }),
	)
	if err != nil {
		if errdefs.IsNotFound(err) || errors.Is(err, tar.ErrHeader) || strings.Contains(err.Error(), "unrecognized image format") {
			return nil, fmt.Errorf("load: not an image archive (docker-archive or OCI): %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if errors.Is(err, images.ErrEmptyWalk) {
			// containerd's "image might be filtered out": every image of
			// the archive is for another platform.
			return nil, fmt.Errorf("load: the archive has no image for this host's platform (%s): berth keeps the images it can run: %w",
				platforms.Format(s.platform), errdefs.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("load: %w", err)
	}

	var names []string
	// Names from an io.containerd.image.name annotation are taken as they
	// are: store them in normalised form.
	for _, img := range imported {
		name := img.Name
		if !imagetypes.IsDangling(name) {
			if full, err := imagetypes.NormalizeName(name); err == nil && full != name {
				if _, err := s.client.ImageService().Create(ctx, images.Image{Name: full, Target: img.Target, Labels: img.Labels}); err != nil {
					if !errdefs.IsAlreadyExists(err) {
						return nil, err
					}
					if _, err := s.client.ImageService().Update(ctx, images.Image{Name: full, Target: img.Target}, "target"); err != nil {
						return nil, err
					}
				}
				if err := s.client.ImageService().Delete(ctx, name); err != nil && !errdefs.IsNotFound(err) {
					return nil, err
				}
				name = full
			}
		}
		names = append(names, name)
	}

	after, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	var (
		out      []imagetypes.Image
		loaded   = map[digest.Digest]bool{}
		unpacked = map[digest.Digest]bool{}
	)
	for _, name := range names {
		g, _ := byName(after, name)
		if g == nil {
			continue // nothing for our platform
		}
		rec, _ := g.record(name)
		if !unpacked[rec.Target.Digest] {
			unpacked[rec.Target.Digest] = true
			if err := s.EnsureUnpacked(ctx, client.NewImageWithPlatform(s.client, rec, s.matcher)); err != nil {
				if errdefs.IsNotFound(err) {
					return nil, fmt.Errorf("load: not a complete image archive: %s needs content the archive lacks (%v); nothing was loaded: %w", imagetypes.FamiliarName(name), err, errdefs.ErrInvalidArgument)
				}
				return nil, fmt.Errorf("load: %w", err)
			}
		}
		if imagetypes.IsDangling(name) {
			progress("Loaded image ID: " + g.id.String())
		} else {
			progress("Loaded image: " + imagetypes.FamiliarName(name))
		}
		s.publish("load", g.id.String(), map[string]string{"name": imagetypes.FamiliarName(name)})
		if !loaded[g.id] {
			loaded[g.id] = true
			if !g.dangling() {
				if err := s.dropDangling(ctx, g); err != nil {
					return nil, err
				}
			}
			out = append(out, *s.inspect(ctx, g))
		}
	}

	// Images that lost their last name to the archive stay, dangling.
	for name, target := range oldTargets {
		if imagetypes.IsDangling(name) {
			continue
		}
		oldRT, err := s.resolve(ctx, target)
		if err != nil {
			continue
		}
		if g := after[oldRT.configD.Digest]; g != nil {
			continue // still has a record
		}
		if _, err := s.client.ImageService().Create(ctx, images.Image{Name: danglingName(target.Digest), Target: target}); err != nil && !errdefs.IsAlreadyExists(err) {
			return out, err
		}
	}
	return out, nil
}

// restoreRecords makes the image records those of old (name → target):
// records not in old are deleted, the others point at their old target.
func (s *Service) restoreRecords(ctx context.Context, old map[string]ocispec.Descriptor) error {
	is := s.client.ImageService()
	current, err := is.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, img := range current {
		if _, ok := old[img.Name]; !ok {
			if err := is.Delete(ctx, img.Name); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	for name, target := range old {
		_, err := is.Update(ctx, images.Image{Name: name, Target: target}, "target")
		if errdefs.IsNotFound(err) {
			_, err = is.Create(ctx, images.Image{Name: name, Target: target})
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ociRefName turns an org.opencontainers.image.ref.name annotation into an
// image name: a full reference is normalised, a bare tag ("latest") names
// nothing (the image loads dangling unless io.containerd.image.name names it).
func ociRefName(ref string) string {
	if !strings.ContainsAny(ref, "/:@") {
		return ""
	}
	full, err := imagetypes.NormalizeName(ref)
	if err != nil {
		return ""
	}
	return full
}

// Save writes the images refs name as one archive that both `docker load`
// (manifest.json) and OCI tools (oci-layout, index.json) read, for the
// service's platform. A ref that is a name is saved under that name; a ref
// that is an ID is saved without a name, as Docker does.
func (s *Service) Save(ctx context.Context, w io.Writer, refs []string) error {
	ctx = s.ns(ctx)
	if len(refs) == 0 {
		return fmt.Errorf("no image given to save: %w", errdefs.ErrInvalidArgument)
	}
	all, err := s.groups(ctx)
	if err != nil {
		return err
	}
	opts := []archive.ExportOpt{archive.WithPlatform(s.matcher)}
	var ids []string
	created := map[string]time.Time{} // config blob -> the image's creation
	// A repository without a tag saves every tag it has, as Docker; a
	// name asked for twice is saved once.
	var expanded []string
	seen := map[string]bool{}
	for _, ref := range refs {
		names := repoTagNames(all, ref)
		if len(names) == 0 {
			names = []string{ref}
		}
		for _, n := range names {
			key := n
			if full, err := imagetypes.NormalizeName(n); err == nil {
				key = full
			}
			if !seen[key] {
				seen[key] = true
				expanded = append(expanded, n)
			}
		}
	}
	for _, ref := range expanded {
		g, name, err := s.lookupIn(all, ref)
		if err != nil {
			return err
		}
		ids = append(ids, g.id.String())
		if c := g.rt.config.Created; c != nil {
			created["blobs/"+g.id.Algorithm().String()+"/"+g.id.Encoded()] = *c
		}
		rec := g.primary()
		if name != "" {
			rec, _ = g.record(name)
		}
		desc := rec.Target
		// Drop names the target carries from its own import: the archive
		// names only what was asked for.
		desc.Annotations = maps.Clone(desc.Annotations)
		delete(desc.Annotations, images.AnnotationImageName)
		delete(desc.Annotations, ocispec.AnnotationRefName)
		// An image asked for by repo@digest is saved without a name (as
		// dockerd), not with the tag byName found it by.
		if name != "" && !strings.Contains(ref, "@") {
			if named, err := reference.ParseNormalizedNamed(name); err == nil {
				if _, isDigest := named.(reference.Digested); !isDigest {
					opts = append(opts, archive.WithManifest(desc, name))
					continue
				}
			}
		}
		opts = append(opts, archive.WithManifest(desc))
	}
	if err := s.export(ctx, w, created, opts); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	for _, id := range ids {
		s.publish("save", id, nil)
	}
	return nil
}

// export writes the archive of opts with each image's config file dated
// at the image's creation, as dockerd's save does (containerd's export
// dates every entry at the epoch).
func (s *Service) export(ctx context.Context, w io.Writer, created map[string]time.Time, opts []archive.ExportOpt) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := s.client.Export(ctx, pw, opts...)
		pw.CloseWithError(err)
		done <- err
	}()
	err := retime(w, pr, created)
	pr.CloseWithError(errors.New("save ended")) // ends an export still writing
	if xerr := <-done; xerr != nil {
		return xerr
	}
	return err
}

// retime copies the tar stream r to w, dating the entries named in times.
func retime(w io.Writer, r io.Reader, times map[string]time.Time) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if t, ok := times[h.Name]; ok {
			h.ModTime = t
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// repoTagNames returns the names of every image of repository ref (given
// without tag or digest), sorted; none when ref names a tag.
func repoTagNames(all map[digest.Digest]*group, ref string) []string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil || !reference.IsNameOnly(named) {
		return nil
	}
	var out []string
	for _, g := range all {
		for _, r := range g.records {
			if !imagetypes.IsDangling(r.Name) && repoOf(r.Name) == named.Name() {
				out = append(out, r.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}
