package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"
)

// Node-to-node requests (a service's logs read from the node running a
// task) go to the other node's cluster endpoint, the join port, over
// mutual TLS: the caller presents its node certificate, and a handler
// registered with Handle answers only callers holding a certificate of
// the cluster's CA.

// Handle serves h for paths under prefix (e.g. "/v1/services/") on this
// node's cluster endpoint, to other nodes of the cluster only.
func (s *Service) Handle(prefix string, h http.Handler) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	if s.handlers == nil {
		s.handlers = map[string]http.Handler{}
	}
	s.handlers[prefix] = h
}

// peerHandler finds the handler registered for r's path.
func (s *Service) peerHandler(r *http.Request) http.Handler {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	for p, h := range s.handlers {
		if strings.HasPrefix(r.URL.Path, p) {
			return h
		}
	}
	return nil
}

// servePeer answers a request for a registered handler: only a caller
// with a verified cluster certificate gets through.
func (s *Service) servePeer(w http.ResponseWriter, r *http.Request) bool {
	h := s.peerHandler(r)
	if h == nil {
		return false
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		http.Error(w, "a cluster node certificate is required", http.StatusForbidden)
		return true
	}
	h.ServeHTTP(w, r)
	return true
}

// PeerURL is the base URL of the cluster endpoint of the node at addr.
func (s *Service) PeerURL(addr string) string {
	return "https://" + hostPort(addr, s.opts.JoinPort)
}

// PeerClient is an HTTPS client presenting this node's cluster
// certificate and trusting only the cluster's CA.
func (s *Service) PeerClient() (*http.Client, error) {
	s.mu.Lock()
	inCluster := s.st != nil
	s.mu.Unlock()
	if !inCluster {
		return nil, notInCluster()
	}
	ca, cert, key := tlsFiles(s.tlsDir())
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("cluster CA: no certificate")
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     30 * time.Second,
	}}, nil
}

// clientCAs is the pool the cluster endpoint verifies callers' optional
// certificates against.
func clientCAs(caPEM []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return pool
}
