package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/transfer"
	transferimage "github.com/containerd/containerd/v2/core/transfer/image"
	"github.com/containerd/containerd/v2/core/transfer/registry"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/pkg/atomicfile"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Pulls go through containerd's transfer service: containerd itself fetches
// the blobs from the registry into its content store and unpacks them, so
// the data does not cross berthd (it would otherwise go registry → berthd
// over HTTP → containerd over gRPC). The registry settings reach containerd
// as a hosts directory (containerd's hosts.toml format) that the service
// writes from RegistryOptions.

// transferPull fetches and unpacks name for platform through containerd's
// transfer service and returns the image record containerd created.
func (s *Service) transferPull(ctx context.Context, name string, platform ocispec.Platform, auth *imagetypes.AuthConfig, progress imagetypes.ProgressFunc) (images.Image, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return images.Image{}, err
	}
	host := reference.Domain(named)
	opts := []registry.Opt{registry.WithCredentials(transferCreds{auth})}
	if content, special := s.hostsFile(host); special || s.opts.Registry.HostsDir != "" {
		dir, err := s.hostsDir()
		if err != nil {
			return images.Image{}, err
		}
		if err := writeHostsFile(dir, host, content, special); err != nil {
			return images.Image{}, err
		}
		opts = append(opts, registry.WithHostDir(dir))
	}
	src, err := registry.NewOCIRegistry(ctx, name, opts...)
	if err != nil {
		return images.Image{}, err
	}
	dst := transferimage.NewStore(name,
		transferimage.WithPlatforms(platform),
		transferimage.WithUnpack(platform, s.opts.Snapshotter))
	tp := &transferProgress{out: progress, state: map[string]string{}}
	if err := s.client.Transfer(ctx, src, dst, transfer.WithProgress(tp.update)); err != nil {
		return images.Image{}, err
	}
	tp.finish()
	return s.client.ImageService().Get(ctx, name)
}

// transferCreds hands the user's credentials to containerd when the
// registry asks for them.
type transferCreds struct{ auth *imagetypes.AuthConfig }

func (c transferCreds) GetCredentials(_ context.Context, _, host string) (registry.Credentials, error) {
	if c.auth == nil || !sameRegistry(c.auth.ServerAddress, host) {
		return registry.Credentials{Host: host}, nil
	}
	if c.auth.IdentityToken != "" {
		return registry.Credentials{Host: host, Secret: c.auth.IdentityToken}, nil
	}
	return registry.Credentials{Host: host, Username: c.auth.Username, Secret: c.auth.Password}, nil
}

// transferProgress turns the transfer service's events into berth's.
type transferProgress struct {
	out   imagetypes.ProgressFunc
	order []string
	size  map[string]int64
	state map[string]string // short ID → last status
}

func (t *transferProgress) update(p transfer.Progress) {
	if p.Desc == nil || !images.IsLayerType(p.Desc.MediaType) {
		return
	}
	id := shortID(p.Desc.Digest.String())
	var status string
	cur := p.Progress
	switch p.Event {
	case "waiting":
		status, cur = imagetypes.StatusWaiting, 0
	case "downloading":
		status = imagetypes.StatusDownloading
	case "complete":
		status = imagetypes.StatusDownloadComplete
	case "extracting":
		status = imagetypes.StatusExtracting
	case "extracted":
		status = imagetypes.StatusPullComplete
	case "already exists":
		status = imagetypes.StatusAlreadyExists
	default:
		return
	}
	if _, seen := t.state[id]; !seen {
		t.order = append(t.order, id)
		if t.size == nil {
			t.size = map[string]int64{}
		}
		t.size[id] = p.Desc.Size
	}
	t.state[id] = status
	t.out(imagetypes.Progress{ID: id, Status: status, Current: cur, Total: p.Desc.Size})
}

// finish marks every layer done once the transfer has returned.
func (t *transferProgress) finish() {
	for _, id := range t.order {
		if st := t.state[id]; st != imagetypes.StatusPullComplete && st != imagetypes.StatusAlreadyExists {
			t.out(imagetypes.Progress{ID: id, Status: imagetypes.StatusPullComplete, Current: t.size[id], Total: t.size[id]})
		}
	}
}

// hostsDir is where the service writes containerd hosts files:
// RegistryOptions.HostsDir, else a private temp dir made when a registry
// first needs a file (kept for the life of the process: set HostsDir).
func (s *Service) hostsDir() (string, error) {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	if s.hostsPath != "" {
		return s.hostsPath, nil
	}
	dir := s.opts.Registry.HostsDir
	if dir == "" {
		d, err := os.MkdirTemp("", "berth-registry-hosts-")
		if err != nil {
			return "", err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	s.hostsPath = dir
	return dir, nil
}

// hostsFile is the containerd hosts file (hosts.toml) that makes
// containerd reach host as RegistryOptions say: mirrors first, plain HTTP
// for an insecure registry (TLS tried first, certificates not verified), the
// host's CA and client certificates. special is false when host needs none
// of that (containerd's defaults: HTTPS; loopback over HTTP).
func (s *Service) hostsFile(host string) (content string, special bool) {
	o := s.opts.Registry
	api := registryHost(host)
	var b bytes.Buffer
	// Loopback registries are insecure too, but need no file by themselves
	// (containerd does the same for them).
	insecure := o.isInsecure(api)
	scheme := "https"
	if insecure {
		scheme = "http"
	}
	fmt.Fprintf(&b, "server = %s\n", strconv.Quote(scheme+"://"+api))
	special = insecure && !isLoopback(api)
	if insecure {
		// With TLS settings, containerd tries HTTPS first and falls back
		// to plain HTTP, as Docker does for insecure registries.
		b.WriteString("skip_verify = true\n")
	}
	if cas, certs := o.certFiles(api); len(cas)+len(certs) > 0 {
		special = true
		if len(cas) > 0 {
			fmt.Fprintf(&b, "ca = [%s]\n", quoteAll(cas))
		}
		if len(certs) > 0 {
			var pairs []string
			for _, c := range certs {
				pairs = append(pairs, "["+quoteAll(c[:])+"]")
			}
			fmt.Fprintf(&b, "client = [%s]\n", strings.Join(pairs, ", "))
		}
	}
	// Mirrors are tables, after the top-level keys; containerd tries them
	// in order, then the server.
	for _, e := range o.endpoints(api) {
		if e.caps.Has(docker.HostCapabilityPush) {
			continue // the registry itself
		}
		special = true
		u := e.scheme + "://" + e.host
		if e.path != "/v2" {
			u += strings.TrimSuffix(e.path, "/v2")
		}
		fmt.Fprintf(&b, "\n[host.%s]\n  capabilities = [\"pull\", \"resolve\"]\n", strconv.Quote(u))
		if o.isInsecure(e.host) {
			b.WriteString("  skip_verify = true\n")
		}
		if cas, _ := o.certFiles(e.host); len(cas) > 0 {
			fmt.Fprintf(&b, "  ca = [%s]\n", quoteAll(cas))
		}
	}
	return b.String(), special
}

// writeHostsFile writes <dir>/<host>/hosts.toml (atomically, when it
// changed), or removes it when host needs none.
func writeHostsFile(dir, host, content string, special bool) error {
	path := filepath.Join(dir, host, "hosts.toml")
	if !special {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(content), 0o600)
}

// certFiles are host's CA files and client certificate pairs in CADir.
func (o RegistryOptions) certFiles(host string) (cas []string, certs [][2]string) {
	if o.CADir == "" {
		return nil, nil
	}
	dir := filepath.Join(o.CADir, host)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch filepath.Ext(e.Name()) {
		case ".crt":
			cas = append(cas, p)
		case ".cert":
			certs = append(certs, [2]string{p, strings.TrimSuffix(p, ".cert") + ".key"})
		}
	}
	return cas, certs
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
