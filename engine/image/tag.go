package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Tag gives the image source names target. source is any form Resolve
// accepts; target is a name ("app", "app:v1", "host:5000/app:v1"), and a name
// that pointed at another image moves (that image keeps its other names, or
// becomes dangling). A target with a digest is errdefs.ErrInvalidArgument.
func (s *Service) Tag(ctx context.Context, source, target string) error {
	ctx = s.ns(ctx)
	full, err := tagName(target)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.groups(ctx)
	if err != nil {
		return err
	}
	g, name, err := s.lookupIn(all, source)
	if err != nil {
		return err
	}
	rec := g.primary()
	if name != "" {
		rec, _ = g.record(name)
	}
	if err := s.setName(ctx, all, full, rec.Target, rec.Labels); err != nil {
		return fmt.Errorf("tag %s as %s: %w", source, target, err)
	}
	s.publish("tag", g.id.String(), map[string]string{"name": imagetypes.FamiliarName(full)})
	return nil
}

// tagName normalises a name given as a new tag.
func tagName(target string) (string, error) {
	full, err := imagetypes.NormalizeName(target)
	if err != nil {
		return "", err
	}
	named, _ := reference.ParseNormalizedNamed(full)
	if _, ok := named.(reference.Digested); ok {
		return "", fmt.Errorf("refusing to create a tag with a digest reference %q: %w", target, errdefs.ErrInvalidArgument)
	}
	if reference.FamiliarName(named) == "sha256" {
		// "sha256:x" would read as an image ID prefix.
		return "", fmt.Errorf("refusing to create an ambiguous tag using digest algorithm as name: %q: %w", target, errdefs.ErrInvalidArgument)
	}
	return full, nil
}

// Remove removes images with Docker's semantics, for each ref in turn:
//
//   - a name of an image that has other names only loses that name
//     (Untagged);
//   - the last name, or an ID, removes the image: all its names (Untagged)
//     and then its content and snapshots (Deleted: the ID);
//   - an ID whose image has names in more than one repository needs Force
//     (errdefs.ErrConflict);
//   - an image that a container uses (Options.InUse) is only removed with
//     Force (errdefs.ErrFailedPrecondition, "… container <id> is using its
//     referenced image <id>" by name, "… image is in use by container
//     <id>" by ID).
//
// It goes on with the next ref after an error, and returns what it did with
// every error joined (errors.Is works on the result).
func (s *Service) Remove(ctx context.Context, refs []string, opts imagetypes.RemoveOptions) ([]imagetypes.DeleteResponse, error) {
	ctx = s.ns(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		out  []imagetypes.DeleteResponse
		errs []error
	)
	for _, ref := range refs {
		resp, err := s.removeOne(ctx, ref, opts.Force)
		out = append(out, resp...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

func (s *Service) removeOne(ctx context.Context, ref string, force bool) ([]imagetypes.DeleteResponse, error) {
	all, err := s.groups(ctx)
	if err != nil {
		return nil, err
	}
	g, name, err := s.lookupIn(all, ref)
	if err != nil {
		return nil, err
	}
	is := s.client.ImageService()
	names := g.names()
	id := g.id.String()

	if name != "" && len(names) > 1 {
		if err := is.Delete(ctx, name); err != nil {
			return nil, err
		}
		s.publish("untag", id, map[string]string{"name": imagetypes.FamiliarName(name)})
		return []imagetypes.DeleteResponse{{Untagged: imagetypes.FamiliarName(name)}}, nil
	}
	if name == "" && !force && !oneRepo(names) {
		return nil, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories: %w", shortID(id), errdefs.ErrConflict)
	}
	if !force && s.opts.InUse != nil {
		users, err := s.opts.InUse(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("check containers using image %s: %w", shortID(id), err)
		}
		if len(users) > 0 {
			if name != "" { // dockerd's words
				return nil, fmt.Errorf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s: %w",
					imagetypes.FamiliarName(name), shortID(users[0]), shortID(id), errdefs.ErrFailedPrecondition)
			}
			return nil, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is in use by container %s: %w", shortID(id), shortID(users[0]), errdefs.ErrFailedPrecondition)
		}
	}

	var out []imagetypes.DeleteResponse
	for i, r := range g.records {
		var opts []images.DeleteOpt
		if i == len(g.records)-1 {
			// The last reference goes: collect content and snapshots now,
			// so that the space is free when Remove returns.
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, r.Name, opts...); err != nil && !errdefs.IsNotFound(err) {
			return out, fmt.Errorf("remove %s: %w", r.Name, err)
		}
		if !imagetypes.IsDangling(r.Name) {
			out = append(out, imagetypes.DeleteResponse{Untagged: imagetypes.FamiliarName(r.Name)})
			s.publish("untag", id, map[string]string{"name": imagetypes.FamiliarName(r.Name)})
		}
	}
	out = append(out, imagetypes.DeleteResponse{Deleted: id})
	s.publish("delete", id, nil)
	return out, nil
}

// oneRepo reports whether all names are in one repository (Docker removes
// such an image by ID without Force).
func oneRepo(names []string) bool {
	for _, n := range names[min(1, len(names)):] {
		if repoOf(n) != repoOf(names[0]) {
			return false
		}
	}
	return true
}
