package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
)

// listenTLS opens the TCP API listener: mutual TLS only. berthd presents
// cfg.TLSCert/TLSKey and accepts only clients whose certificate is signed
// by cfg.TLSCACert; a client without one fails the handshake before any
// request is read.
func listenTLS(cfg *config.Config) (net.Listener, error) {
	tc, err := serverTLSConfig(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", cfg.TCPAddress)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(l, tc), nil
}

func serverTLSConfig(cfg *config.Config) (*tls.Config, error) {
	if cfg.TLSCACert == "" || cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, fmt.Errorf("tcp_address %s needs tlscacert, tlscert and tlskey: the TCP API requires mutual TLS", cfg.TCPAddress)
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("loading berthd's TLS certificate: %w", err)
	}
	pem, err := os.ReadFile(cfg.TLSCACert)
	if err != nil {
		return nil, fmt.Errorf("reading the client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", cfg.TLSCACert)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"}, // gRPC over HTTP/2
	}, nil
}
