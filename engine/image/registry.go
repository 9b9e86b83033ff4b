package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/system"
)

// RegistryOptions are the daemon-wide registry settings.
type RegistryOptions struct {
	// Insecure registries are reached over plain HTTP (after HTTPS fails)
	// and without certificate verification: "host:port", "host", or a CIDR
	// ("10.0.0.0/8") matched against a literal IP host. Loopback registries
	// (127.0.0.0/8, ::1, localhost) are always insecure, as in Docker.
	Insecure []string
	// Mirrors are tried, in order, before a registry for pulls
	// ("docker.io" → ["http://127.0.0.1:5001"]). A mirror never receives a
	// push.
	Mirrors map[string][]string
	// CADir holds per-registry certificates in Docker's layout:
	// <CADir>/<host[:port]>/*.crt (CAs, added to the system pool),
	// <name>.cert + <name>.key (a client certificate).
	CADir string
	// HostsDir is where containerd hosts files (hosts.toml) for these
	// settings are written for containerd's transfer service (default: a
	// private temp dir).
	HostsDir string
	// DialTimeout bounds connecting to a registry (default 10 s), so an
	// unreachable registry fails in bounded time.
	DialTimeout time.Duration
}

// registryHost maps Docker Hub's name to its API host.
func registryHost(host string) string {
	if host == "docker.io" || host == "index.docker.io" {
		return "registry-1.docker.io"
	}
	return host
}

// sameRegistry reports whether an auth's server address names host.
func sameRegistry(server, host string) bool {
	server = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	server, _, _ = strings.Cut(server, "/")
	return registryHost(server) == registryHost(host) || (server == "index.docker.io" && host == "registry-1.docker.io")
}

// isLoopback reports whether host (host[:port]) is localhost or a loopback IP.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// isInsecure reports whether host (host[:port]) may use plain HTTP.
func (o RegistryOptions) isInsecure(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, e := range o.Insecure {
		if e == host || e == h {
			return true
		}
		if _, n, err := net.ParseCIDR(e); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// tlsConfig is the TLS configuration for host: the system CAs plus the
// host's from CADir, its client certificate, and no verification for an
// insecure registry.
func (o RegistryOptions) tlsConfig(host string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: insecure} //nolint:gosec // insecure registries are opted in
	if o.CADir == "" {
		return cfg, nil
	}
	dir := filepath.Join(o.CADir, host)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch filepath.Ext(e.Name()) {
		case ".crt":
			if cfg.RootCAs == nil {
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil || cfg.RootCAs == nil {
					cfg.RootCAs = x509.NewCertPool()
				}
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			if !cfg.RootCAs.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("registry CA %s: no certificate found: %w", p, errdefs.ErrInvalidArgument)
			}
		case ".cert":
			key := strings.TrimSuffix(p, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(p, key)
			if err != nil {
				return nil, fmt.Errorf("registry client certificate %s: %w", p, err)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		}
	}
	return cfg, nil
}

// hostConfig is one endpoint to try for a registry.
type hostConfig struct {
	host, scheme string
	caps         docker.HostCapabilities
	path         string
}

// endpoints are the mirrors of host (pull and resolve only), then host.
func (o RegistryOptions) endpoints(host string) []hostConfig {
	var out []hostConfig
	mirrors := o.Mirrors[host]
	if host == "registry-1.docker.io" && len(mirrors) == 0 {
		mirrors = o.Mirrors["docker.io"]
	}
	for _, m := range mirrors {
		scheme, rest := "https", m
		if u, err := url.Parse(m); err == nil && u.Host != "" {
			scheme, rest = u.Scheme, u.Host+strings.TrimSuffix(u.Path, "/")
		}
		h, p, _ := strings.Cut(rest, "/")
		path := "/v2"
		if p != "" {
			path = "/" + p + "/v2"
		}
		out = append(out, hostConfig{host: h, scheme: scheme, path: path, caps: docker.HostCapabilityPull | docker.HostCapabilityResolve})
	}
	return append(out, hostConfig{host: host, scheme: "https", path: "/v2",
		caps: docker.HostCapabilityPull | docker.HostCapabilityResolve | docker.HostCapabilityPush})
}

// resolver is a containerd resolver for one pull, push or login, with the
// user's credentials (auth may be nil) and the daemon's registry settings.
func (s *Service) resolver(auth *imagetypes.AuthConfig, tracker docker.StatusTracker) remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: s.registryHosts(auth), Tracker: tracker})
}

// registryHosts are the endpoints of a registry with the user's credentials.
func (s *Service) registryHosts(auth *imagetypes.AuthConfig) docker.RegistryHosts {
	o := s.opts.Registry
	creds := func(host string) (string, string, error) {
		if auth == nil || !sameRegistry(auth.ServerAddress, host) {
			return "", "", nil
		}
		if auth.IdentityToken != "" {
			return "", auth.IdentityToken, nil
		}
		return auth.Username, auth.Password, nil
	}
	hosts := func(host string) ([]docker.RegistryHost, error) {
		host = registryHost(host)
		var out []docker.RegistryHost
		for _, e := range o.endpoints(host) {
			insecure := o.isInsecure(e.host)
			tcfg, err := o.tlsConfig(e.host, insecure)
			if err != nil {
				return nil, err
			}
			var rt http.RoundTripper = s.transport(tcfg)
			scheme := e.scheme
			if insecure && scheme == "https" {
				// Docker's rule for insecure registries: HTTPS first, plain
				// HTTP when the server does not speak TLS.
				rt = docker.NewHTTPFallback(rt)
			}
			cl := &http.Client{Transport: rt}
			out = append(out, docker.RegistryHost{
				Client:       cl,
				Authorizer:   docker.NewDockerAuthorizer(docker.WithAuthClient(cl), docker.WithAuthCreds(creds)),
				Host:         e.host,
				Scheme:       scheme,
				Path:         e.path,
				Capabilities: e.caps,
			})
		}
		return out, nil
	}
	return hosts
}

func (s *Service) transport(tcfg *tls.Config) *http.Transport {
	t := docker.DefaultHTTPTransport(tcfg)
	d := s.opts.Registry.DialTimeout
	if d <= 0 {
		d = 10 * time.Second
	}
	t.DialContext = (&net.Dialer{Timeout: d, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = 16
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
}

// registryError turns a resolver or transfer error into a clear message with
// an errdefs class: not found, unauthorized, unreachable, corrupt blob.
func registryError(op, ref, host string, err error) error {
	if err == nil {
		return nil
	}
	var st remoteerrors.ErrUnexpectedStatus
	var nerr net.Error
	var oerr *net.OpError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && !isNetTimeout(err):
		return err
	case errors.Is(err, docker.ErrInvalidAuthorization),
		errors.As(err, &st) && st.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: unauthorized: authentication required or wrong credentials for %s (see berth login): %w", op, ref, host, errdefs.ErrUnauthenticated)
	case errors.As(err, &st) && st.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s %s: access to %s denied: %w", op, ref, host, errdefs.ErrPermissionDenied)
	case errors.As(err, &st) && st.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: repository or tag not found in %s: %w", op, ref, host, errdefs.ErrNotFound)
	case errdefs.IsNotFound(err) && op == "pull":
		return fmt.Errorf("pull %s: manifest unknown: repository or tag not found in %s: %w", ref, host, errdefs.ErrNotFound)
	case strings.Contains(err.Error(), "unexpected commit digest") || strings.Contains(err.Error(), "digest mismatch"):
		return fmt.Errorf("%s %s: a blob from %s does not match its digest (corrupt or tampered content): %v: %w", op, ref, host, err, errdefs.ErrDataLoss)
	case strings.Contains(err.Error(), "dial unix "):
		// Not the registry (containerd reaches registries over TCP): one
		// of berth's own daemons on its unix socket, being restarted.
		backend := &system.BackendUnavailableError{Err: fmt.Errorf("%s %s: containerd did not answer: %v: %w", op, ref, err, errdefs.ErrUnavailable)}
		if strings.Contains(err.Error(), "snapshot") {
			backend = &system.BackendUnavailableError{Backend: system.BackendSnapshotter,
				Err: fmt.Errorf("%s %s: the snapshotter (%s) did not answer, it is restarting: %v: %w", op, ref, system.BackendSnapshotter, err, errdefs.ErrUnavailable)}
		}
		return backend
	case errors.As(err, &oerr) || errors.As(err, &nerr) || strings.Contains(err.Error(), "connection refused"):
		return &imagetypes.RegistryUnreachableError{Host: host, Err: fmt.Errorf("%s %s: registry %s is unreachable: %v: %w", op, ref, host, err, errdefs.ErrUnavailable)}
	}
	return fmt.Errorf("%s %s (registry %s): %w", op, ref, host, err)
}

func isNetTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}
