package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// maxManifest bounds a manifest or index read from a registry.
const maxManifest = 4 << 20

// Distribution asks ref's registry what ref names now: the descriptor of
// its manifest or index and the platforms it holds (Docker's distribution
// inspect, `docker manifest inspect`'s first question). Nothing is pulled.
func (s *Service) Distribution(ctx context.Context, ref string, auth *imagetypes.AuthConfig) (ocispec.Descriptor, []ocispec.Platform, error) {
	name, err := imagetypes.NormalizeName(ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	named, _ := reference.ParseNormalizedNamed(name)
	host := reference.Domain(named)
	fail := func(err error) (ocispec.Descriptor, []ocispec.Platform, error) {
		return ocispec.Descriptor{}, nil, registryError("inspect", imagetypes.FamiliarName(name), host, err)
	}
	resolver := s.resolver(auth, nil)
	resolved, desc, err := resolver.Resolve(ctx, name)
	if err != nil {
		return fail(err)
	}
	fetcher, err := resolver.Fetcher(ctx, resolved)
	if err != nil {
		return fail(err)
	}
	read := func(d ocispec.Descriptor, v any) error {
		if d.Size > maxManifest {
			return fmt.Errorf("%s is %d bytes, more than %d: %w", d.Digest, d.Size, maxManifest, errdefs.ErrInvalidArgument)
		}
		rc, err := fetcher.Fetch(ctx, d)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, maxManifest))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	var plats []ocispec.Platform
	switch {
	case images.IsIndexType(desc.MediaType):
		var idx ocispec.Index
		if err := read(desc, &idx); err != nil {
			return fail(err)
		}
		for _, m := range idx.Manifests {
			if m.Platform != nil {
				plats = append(plats, *m.Platform)
			}
		}
	case images.IsManifestType(desc.MediaType):
		var m ocispec.Manifest
		if err := read(desc, &m); err != nil {
			return fail(err)
		}
		var cfg ocispec.Image
		if err := read(m.Config, &cfg); err != nil {
			return fail(err)
		}
		plats = append(plats, cfg.Platform)
	default:
		return fail(fmt.Errorf("%s is a %s, neither an image manifest nor an index: %w", name, desc.MediaType, errdefs.ErrInvalidArgument))
	}
	return desc, plats, nil
}
