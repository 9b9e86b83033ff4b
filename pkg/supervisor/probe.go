package supervisor

import (
	"context"
	"fmt"
	"net"

	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// ContainerdProbe answers nil once containerd serves its Version call on
// the unix socket at path.
func ContainerdProbe(path string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := ContainerdVersion(ctx, path)
		return err
	}
}

// ContainerdVersion asks the containerd at the unix socket path for its
// version.
func ContainerdVersion(ctx context.Context, path string) (string, error) {
	if err := SocketProbe(path)(ctx); err != nil {
		return "", err // fail fast before grpc's own dial retries
	}
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := versionapi.NewVersionClient(conn).Version(ctx, &emptypb.Empty{})
	if err != nil {
		return "", fmt.Errorf("containerd at %s: %w", path, err)
	}
	return resp.Version, nil
}

// SocketProbe answers nil once the unix socket at path accepts a
// connection.
func SocketProbe(path string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return err
		}
		return c.Close()
	}
}
