package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// CertPathEnv names the directory with the client's TLS files for a
// tcp:// address (ca.pem, cert.pem, key.pem, as Docker's DOCKER_CERT_PATH);
// default ~/.berth.
const CertPathEnv = "BERTH_CERT_PATH"

// TLSConfigFromDir loads ca.pem (berthd's CA), cert.pem and key.pem (the
// client's certificate) from dir. Missing or bad files are
// errdefs.ErrInvalidArgument.
func TLSConfigFromDir(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("berth client: a tcp:// address needs mutual TLS: loading the client certificate from %s ($%s): %v: %w", dir, CertPathEnv, err, errdefs.ErrInvalidArgument)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("berth client: reading berthd's CA: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("berth client: no certificate in %s: %w", filepath.Join(dir, "ca.pem"), errdefs.ErrInvalidArgument)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// NewTLS connects to berthd's TCP API at address ("tcp://host:port") with
// mutual TLS.
func NewTLS(ctx context.Context, address string, tc *tls.Config) (*Client, error) {
	hostPort, ok := strings.CutPrefix(address, "tcp://")
	if !ok || hostPort == "" {
		return nil, fmt.Errorf("berth client: want tcp://host:port, got %q: %w", address, errdefs.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("dns:///"+hostPort,
		grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
		grpc.WithChainUnaryInterceptor(unaryErrors),
		grpc.WithChainStreamInterceptor(streamErrors),
	)
	if err != nil {
		return nil, fmt.Errorf("berth client: %w", err)
	}
	return &Client{
		address:    "tcp://" + hostPort,
		conn:       conn,
		containers: berthv1.NewContainersServiceClient(conn),
		images:     berthv1.NewImagesServiceClient(conn),
		system:     berthv1.NewSystemServiceClient(conn),
	}, nil
}

// newTCP is New for a tcp:// address: TLS files from $BERTH_CERT_PATH.
func newTCP(ctx context.Context, address string) (*Client, error) {
	dir := os.Getenv(CertPathEnv)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("berth client: set %s: %w", CertPathEnv, err)
		}
		dir = filepath.Join(home, ".berth")
	}
	tc, err := TLSConfigFromDir(dir)
	if err != nil {
		return nil, err
	}
	return NewTLS(ctx, address, tc)
}
