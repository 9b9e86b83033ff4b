package image

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blobProvider serves one blob (a content.Provider).
type blobProvider []byte

type blobReader struct{ *bytes.Reader }

func (blobReader) Close() error { return nil }

func (b blobProvider) ReaderAt(context.Context, ocispec.Descriptor) (content.ReaderAt, error) {
	return blobReader{bytes.NewReader(b)}, nil
}

// TestReadConfigHealth: a Docker image's HEALTHCHECK (config.Healthcheck,
// durations in nanoseconds) is read along with the OCI config.
func TestReadConfigHealth(t *testing.T) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],
		"Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/"],"Interval":5000000000,"Retries":4,"StartPeriod":1000000}},
		"rootfs":{"type":"layers","diff_ids":[]}}`)
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	img, h, err := readConfigHealth(context.Background(), blobProvider(cfg), d)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Config.Cmd) != 1 {
		t.Errorf("OCI config not read: %+v", img.Config)
	}
	if h == nil || len(h.Test) != 2 || h.Test[0] != "CMD-SHELL" || h.Interval != 5*time.Second || h.Retries != 4 || h.StartPeriod != time.Millisecond {
		t.Fatalf("healthcheck = %+v", h)
	}
	plain := []byte(`{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[]}}`)
	d = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(plain), Size: int64(len(plain))}
	if _, h, err := readConfigHealth(context.Background(), blobProvider(plain), d); err != nil || h != nil {
		t.Fatalf("an image without HEALTHCHECK: %+v, %v", h, err)
	}
}
