package container

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// Rename gives a container a new, unused name.
func (s *Service) Rename(ctx context.Context, ref, newName string) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	if newName == "" {
		return fmt.Errorf("a new name is needed: %w", errdefs.ErrInvalidArgument)
	}
	r.op.Lock()
	defer r.op.Unlock()
	old := r.name
	if newName == old {
		return fmt.Errorf("Renaming a container with the same name as its current name: %s: %w", old, errdefs.ErrInvalidArgument)
	}
	if _, err := s.reserveName(newName, r.id); err != nil {
		return err
	}
	if err := s.storeName(ctx, r.id, newName); err != nil {
		s.releaseName(newName, r.id)
		return err
	}
	s.releaseName(old, r.id)
	if s.opts.Networks != nil {
		if err := s.opts.Networks.Rename(ctx, r.id, newName); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("renaming the container's DNS names", "id", r.id, "err", err)
		}
	}
	r.mu.Lock()
	r.name = newName
	r.mu.Unlock()
	s.publish(r, "rename", map[string]string{"oldName": "/" + old})
	return nil
}

// storeName writes a new name into the container's label and configuration.
func (s *Service) storeName(ctx context.Context, id, name string) error {
	_, cfg, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	cfg.Name = name
	ext, err := typeurl.MarshalAny(cfg)
	if err != nil {
		return err
	}
	_, err = s.containerStore().Update(ctx, containers.Container{
		ID:         id,
		Labels:     map[string]string{labelName: name},
		Extensions: map[string]typeurl.Any{extConfig: ext},
	}, "labels."+labelName, "extensions."+extConfig)
	return err
}
