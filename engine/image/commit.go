package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/containerd/v2/core/content"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/engine/internal/lease"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Commit makes an image from req.Parent and one more layer, as `docker
// commit` does: the parent's config with req's runtime configuration, one
// more diff ID and history entry; the manifest lists the parent's layers
// and the new one. The image is unpacked, then named req.Ref (dangling when
// empty). The caller holds a lease over the layer blob; on failure nothing
// named is left behind.
func (s *Service) Commit(ctx context.Context, req imagetypes.CommitRequest) (*imagetypes.Image, error) {
	ctx = s.ns(ctx)
	var name string
	if req.Ref != "" {
		var err error
		if name, err = tagName(req.Ref); err != nil {
			return nil, err
		}
	}
	ctx, done, err := lease.With(ctx, s.client)
	if err != nil {
		return nil, err
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()

	parent, _, err := s.lookup(ctx, req.Parent)
	if err != nil {
		return nil, fmt.Errorf("the container's image: %w", err)
	}
	cs := s.client.ContentStore()
	raw, err := content.ReadBlob(ctx, cs, parent.rt.configD)
	if err != nil {
		return nil, fmt.Errorf("read the config of image %s: %w", parent.id, err)
	}
	cfgBytes, err := commitConfig(raw, req, parent.rt.config.RootFS.DiffIDs)
	if err != nil {
		return nil, err
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgBytes), Size: int64(len(cfgBytes))}
	if err := content.WriteBlob(ctx, cs, "berth-"+cfgDesc.Digest.String(), bytes.NewReader(cfgBytes), cfgDesc); err != nil {
		return nil, fmt.Errorf("store the image config: %w", err)
	}
	layers := append(append([]ocispec.Descriptor(nil), parent.rt.manifest.Layers...), req.Layer)
	out, _, err := s.storeImage(ctx, cfgDesc, layers, name, s.platform)
	return out, err
}

// commitConfig is the parent's config (raw, so that fields berth does not
// know survive) with the committed container's runtime configuration, the
// new layer's diff ID and a history entry. Docker's "container" and
// "container_config" of the parent's build are dropped: they described
// another container.
func commitConfig(raw []byte, req imagetypes.CommitRequest, parentDiffIDs []digest.Digest) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("the parent image's config: %w", err)
	}
	now := nowFunc().UTC()
	runtime := struct {
		ocispec.ImageConfig
		Healthcheck *containertypes.HealthConfig `json:"Healthcheck,omitempty"`
		OnBuild     []string                     `json:"OnBuild,omitempty"`
	}{req.Config, req.Healthcheck, req.OnBuild}

	var history []ocispec.History
	if h, ok := doc["history"]; ok {
		if err := json.Unmarshal(h, &history); err != nil {
			return nil, fmt.Errorf("the parent image's history: %w", err)
		}
	}
	history = append(history, ocispec.History{Created: &now, CreatedBy: req.CreatedBy, Author: req.Author, Comment: req.Comment})
	diffIDs := append(append([]digest.Digest(nil), parentDiffIDs...), digest.Digest(req.DiffID))

	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		doc[k] = b
		return nil
	}
	delete(doc, "container")
	delete(doc, "container_config")
	delete(doc, "author")
	if req.Author != "" {
		if err := set("author", req.Author); err != nil {
			return nil, err
		}
	}
	for k, v := range map[string]any{
		"created": now,
		"config":  runtime,
		"rootfs":  ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
		"history": history,
	} {
		if err := set(k, v); err != nil {
			return nil, err
		}
	}
	return json.Marshal(doc)
}
