// Package client is the Go client of berthd's gRPC API. It speaks the
// berth.v1 protocol and hands back the engine's own types
// (container.Summary, events.Message, ...), so callers such as the CLI never
// touch protocol messages. Errors come back typed: errors.Is(err,
// errdefs.ErrNotFound) works for an error raised in the engine, err.Error()
// is the engine's message, and a process that cannot be started is a
// *container.StartError.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	berthv1 "github.com/berthproject/berth/proto/berth/v1"
	"github.com/berthproject/berth/proto/berth/v1/conv"
)

// DefaultAddress is berthd's socket when neither an address nor $BERTH_HOST is given.
const DefaultAddress = "unix:///run/berth/berth.sock"

// HostEnv names the environment variable that overrides DefaultAddress.
const HostEnv = "BERTH_HOST"

// maxRecvMsgSize bounds one message from the daemon. Streamed data comes in
// chunks of at most 1 MiB; this leaves room for large lists and inspects.
const maxRecvMsgSize = 64 << 20

// chunkSize is the size of the data chunks the client streams (stdin, tar).
const chunkSize = 256 << 10

// Client is a connection to berthd. It is safe for concurrent use.
type Client struct {
	address    string
	conn       *grpc.ClientConn
	containers berthv1.ContainersServiceClient
	images     berthv1.ImagesServiceClient
	system     berthv1.SystemServiceClient
}

// DefaultHost returns $BERTH_HOST, or DefaultAddress when it is not set.
func DefaultHost() string {
	if h := os.Getenv(HostEnv); h != "" {
		return h
	}
	return DefaultAddress
}

// New connects to berthd at address: "unix:///path", or a plain socket
// path; "" means DefaultHost(). A "tcp://host:port" address uses mutual TLS
// with the files in $BERTH_CERT_PATH (see NewTLS). The connection is made lazily; a missing
// socket is reported at once as errdefs.ErrUnavailable.
func New(ctx context.Context, address string) (*Client, error) {
	if address == "" {
		address = DefaultHost()
	}
	if strings.HasPrefix(address, "tcp://") {
		return newTCP(ctx, address)
	}
	path, err := socketPath(address)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("Cannot connect to berthd at unix://%s: %v. Is berthd running?", path, err))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
		grpc.WithChainUnaryInterceptor(unaryErrors),
		grpc.WithChainStreamInterceptor(streamErrors),
	)
	if err != nil {
		return nil, fmt.Errorf("berth client: %w", err)
	}
	return &Client{
		address:    "unix://" + path,
		conn:       conn,
		containers: berthv1.NewContainersServiceClient(conn),
		images:     berthv1.NewImagesServiceClient(conn),
		system:     berthv1.NewSystemServiceClient(conn),
	}, nil
}

// socketPath accepts "unix:///path", "unix:path" and "/path".
func socketPath(address string) (string, error) {
	switch {
	case strings.HasPrefix(address, "unix://"):
		address = strings.TrimPrefix(address, "unix://")
	case strings.HasPrefix(address, "unix:"):
		address = strings.TrimPrefix(address, "unix:")
	case strings.Contains(address, "://"):
		return "", fmt.Errorf("berth client: unsupported address %q (want unix:///path): %w", address, errdefs.ErrInvalidArgument)
	}
	if address == "" {
		return "", fmt.Errorf("berth client: empty socket path: %w", errdefs.ErrInvalidArgument)
	}
	return address, nil
}

// Address is the daemon's address as "unix:///path".
func (c *Client) Address() string { return c.address }

// Conn is the underlying gRPC connection, for services this package does
// not wrap yet.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// unaryErrors turns every status error into the engine's typed error.
func unaryErrors(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return conv.ErrorFromGRPC(invoker(ctx, method, req, reply, cc, opts...))
}

// streamErrors does the same for streams: the error of opening the stream
// and every error but io.EOF from Send, Recv and Header.
func streamErrors(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, conv.ErrorFromGRPC(err)
	}
	return &typedStream{ClientStream: s}, nil
}

type typedStream struct {
	grpc.ClientStream
}

func (s *typedStream) RecvMsg(m any) error { return convStreamErr(s.ClientStream.RecvMsg(m)) }
func (s *typedStream) SendMsg(m any) error { return convStreamErr(s.ClientStream.SendMsg(m)) }

func (s *typedStream) Header() (md metadata.MD, err error) {
	md, err = s.ClientStream.Header()
	return md, convStreamErr(err)
}

func convStreamErr(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return conv.ErrorFromGRPC(err)
}
