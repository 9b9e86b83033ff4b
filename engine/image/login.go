package image

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Login checks auth against its registry, as `docker login` asks the
// daemon to: it authenticates a request to the registry's /v2/ endpoint
// (basic or token auth, whichever the registry asks for). It stores
// nothing: the client keeps the credentials. It returns "Login Succeeded".
func (s *Service) Login(ctx context.Context, auth imagetypes.AuthConfig) (string, error) {
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(auth.ServerAddress, "https://"), "http://"), "/")
	host, _, _ = strings.Cut(host, "/")
	if host == "" {
		host = "docker.io"
	}
	if auth.Username == "" && auth.IdentityToken == "" {
		return "", fmt.Errorf("login: a username is required: %w", errdefs.ErrInvalidArgument)
	}
	auth.ServerAddress = host
	hosts, err := s.registryHosts(&auth)(registryHost(host))
	if err != nil {
		return "", err
	}
	h := hosts[len(hosts)-1] // the registry itself, not a mirror
	u := h.Scheme + "://" + h.Host + h.Path + "/"
	do := func(authorize bool) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if authorize {
			if err := h.Authorizer.Authorize(ctx, req); err != nil {
				return nil, err
			}
		}
		return h.Client.Do(req)
	}
	resp, err := do(false)
	if err != nil {
		return "", registryError("login", "to "+host, host, err)
	}
	drain(resp)
	if resp.StatusCode == http.StatusUnauthorized {
		if err := h.Authorizer.AddResponses(ctx, []*http.Response{resp}); err != nil {
			return "", registryError("login", "to "+host, host, err)
		}
		if resp, err = do(true); err != nil {
			return "", registryError("login", "to "+host, host, err)
		}
		drain(resp)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("login to %s: unauthorized: incorrect username or password: %w", host, errdefs.ErrUnauthenticated)
	case resp.StatusCode >= 300:
		return "", fmt.Errorf("login to %s: unexpected status %s: %w", host, resp.Status, errdefs.ErrUnknown)
	}
	return "Login Succeeded", nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}
