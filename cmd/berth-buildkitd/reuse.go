package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/snapshot"
	"github.com/opencontainers/image-spec/identity"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// reusingInstance skips the image export of a result exported before
// under the same names, when each name still points at that image and its
// file system is still unpacked: an unchanged rebuild then costs two or
// three calls to containerd instead of the exporter's thirty-odd (layer
// blobs, config, manifest, GC labels, the images' update, the unpack
// check). What it remembers lives as long as berth-buildkitd; anything
// else (another result, names, attributes, a push) exports as usual.
type reusingInstance struct {
	exporter.ExporterInstance
	attrs  map[string]string
	names  []string
	images images.Store
	snaps  snapshot.Snapshotter
	seen   *exportMemo
}

// exportMemo maps an export's key (exportKey) to its response.
type exportMemo struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func (e *reusingInstance) Export(ctx context.Context, src *exporter.Source, info exporter.ExportBuildInfo) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
	key, ok := exportKey(e.attrs, src)
	if ok {
		e.seen.mu.Lock()
		resp := e.seen.m[key]
		e.seen.mu.Unlock()
		if resp != nil && e.stillThere(ctx, resp, src) {
			return maps.Clone(resp), nil, nil, nil
		}
	}
	resp, fin, desc, err := e.ExporterInstance.Export(ctx, src, info)
	if err == nil && ok && resp[exptypes.ExporterImageDigestKey] != "" {
		e.seen.mu.Lock()
		if len(e.seen.m) > 256 {
			clear(e.seen.m)
		}
		e.seen.m[key] = maps.Clone(resp)
		e.seen.mu.Unlock()
	}
	return resp, fin, desc, err
}

// stillThere reports whether every name is the image resp describes and
// its top snapshot (the unpacked file system) exists.
func (e *reusingInstance) stillThere(ctx context.Context, resp map[string]string, src *exporter.Source) bool {
	want := resp[exptypes.ExporterImageDigestKey]
	for _, n := range e.names {
		img, err := e.images.Get(ctx, n)
		if err != nil || img.Target.Digest.String() != want {
			return false
		}
	}
	var cfg ocispecs.Image
	if err := json.Unmarshal(src.Metadata[exptypes.ExporterImageConfigKey], &cfg); err != nil || len(cfg.RootFS.DiffIDs) == 0 {
		return false
	}
	_, err := e.snaps.Stat(ctx, identity.ChainID(cfg.RootFS.DiffIDs).String())
	return err == nil
}

// exportKey identifies an export: the exporter's attributes, the result's
// refs (cache records, stable across rebuilds that hit the cache) and its
// metadata (the image config). ok is false for what is never reused: no
// names (a dangling image is named after its digest), a push, several
// platforms or attestations.
func exportKey(attrs map[string]string, src *exporter.Source) (string, bool) {
	if attrs["name"] == "" || attrs["push"] == "true" || src.Ref == nil || len(src.Refs) > 0 || len(src.Attestations) > 0 {
		return "", false
	}
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		h.Write([]byte("a\x00" + k + "\x00" + attrs[k] + "\x00"))
	}
	h.Write([]byte("r\x00" + src.Ref.ID() + "\x00"))
	for _, k := range slices.Sorted(maps.Keys(src.Metadata)) {
		h.Write([]byte("m\x00" + k + "\x00"))
		h.Write(src.Metadata[k])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// exportNames are the image names of an export's name attribute.
func exportNames(attrs map[string]string) []string {
	var out []string
	for _, n := range strings.Split(attrs["name"], ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
