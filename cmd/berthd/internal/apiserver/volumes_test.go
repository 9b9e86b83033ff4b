package apiserver_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	volumetypes "github.com/berthproject/berth/pkg/types/volume"
)

// fakeVolumes records what the API hands the volume service.
type fakeVolumes struct {
	created  volumetypes.CreateOptions
	vol      *volumetypes.Volume
	filters  map[string][]string
	pruned   volumetypes.PruneOptions
	imported []byte
}

func (f *fakeVolumes) Create(ctx context.Context, o volumetypes.CreateOptions) (*volumetypes.Volume, error) {
	f.created = o
	return f.vol, nil
}
func (f *fakeVolumes) List(ctx context.Context, filters map[string][]string) ([]*volumetypes.Volume, error) {
	f.filters = filters
	return []*volumetypes.Volume{f.vol}, nil
}
func (f *fakeVolumes) Inspect(ctx context.Context, name string) (*volumetypes.Volume, error) {
	if name != f.vol.Name {
		return nil, fmt.Errorf("No such volume: %s: %w", name, errdefs.ErrNotFound)
	}
	return f.vol, nil
}
func (f *fakeVolumes) Remove(ctx context.Context, name string, force bool) error {
	return fmt.Errorf("remove %s: volume is in use - [abc]: %w", name, errdefs.ErrConflict)
}
func (f *fakeVolumes) Prune(ctx context.Context, o volumetypes.PruneOptions) ([]string, uint64, error) {
	f.pruned = o
	return []string{"a", "b"}, 42, nil
}
func (f *fakeVolumes) Export(ctx context.Context, name string, w io.Writer) error {
	_, err := w.Write(bytes.Repeat([]byte("x"), 3<<20)) // several chunks
	return err
}
func (f *fakeVolumes) Import(ctx context.Context, name string, r io.Reader) error {
	b, err := io.ReadAll(r)
	f.imported = b
	return err
}

func TestVolumesRoundTrip(t *testing.T) {
	f := &fakeVolumes{}
	v := filled[volumetypes.Volume](t)
	f.vol = &v
	c := serve(t, apiserver.Backend{Volumes: f})
	ctx := testCtx(t)

	opts := filled[volumetypes.CreateOptions](t)
	got, err := c.Volumes().Create(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "volume.Volume (Create)", *got, v)
	opts.Anonymous = false // not part of the request: the daemon decides
	same(t, "volume.CreateOptions", f.created, opts)
	list, err := c.Volumes().List(ctx, map[string][]string{"dangling": {"true"}})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	same(t, "volume.Volume (List)", *list[0], v)
	same(t, "filters", f.filters, map[string][]string{"dangling": {"true"}})
	if _, err := c.Volumes().Inspect(ctx, "nope"); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such volume: nope") {
		t.Errorf("inspect: %v", err)
	}
	if err := c.Volumes().Remove(ctx, "x", true); !errdefs.IsConflict(err) {
		t.Errorf("remove: %v", err)
	}
	deleted, size, err := c.Volumes().Prune(ctx, volumetypes.PruneOptions{All: true, Filters: map[string][]string{"label": {"a=b"}}})
	if err != nil || strings.Join(deleted, ",") != "a,b" || size != 42 || !f.pruned.All || f.pruned.Filters["label"][0] != "a=b" {
		t.Errorf("prune: %v %d %v %+v", deleted, size, err, f.pruned)
	}
	var buf bytes.Buffer
	if err := c.Volumes().Export(ctx, "x", &buf); err != nil || buf.Len() != 3<<20 {
		t.Errorf("export: %d bytes, %v", buf.Len(), err)
	}
	in := bytes.Repeat([]byte("y"), 2<<20+17)
	if err := c.Volumes().Import(ctx, "x", bytes.NewReader(in)); err != nil || !bytes.Equal(f.imported, in) {
		t.Errorf("import: %d bytes, %v", len(f.imported), err)
	}
}

// TestCopyNotServed: a container backend without cp answers NotImplemented.
func TestCopyNotServed(t *testing.T) {
	_, c := serveFake(t)
	ctx := testCtx(t)
	if err := c.CopyTo(ctx, "x", containertypes.CopyToOptions{Path: "/"}, strings.NewReader("")); !errdefs.IsNotImplemented(err) {
		t.Errorf("CopyTo: %v", err)
	}
	if _, _, err := c.CopyFrom(ctx, "x", "/"); !errdefs.IsNotImplemented(err) {
		t.Errorf("CopyFrom: %v", err)
	}
}
