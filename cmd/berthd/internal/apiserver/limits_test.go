package apiserver_test

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// TestMessageSizeLimits: a request above MaxRecvMsgSize fails with
// RESOURCE_EXHAUSTED and names the limit; one below it is served.
func TestMessageSizeLimits(t *testing.T) {
	ctx := testCtx(t)
	sock := filepath.Join(tempDir(t), "api.sock")
	f := newFake()
	listen(t, sock, func(s *grpc.Server) {
		apiserver.RegisterServices(s, apiserver.Backend{Containers: f, Images: fakeImages{f: f}, Events: f, System: f}, daemonInfo)
	}, apiserver.ServerOptions()...)
	containers := berthv1.NewContainersServiceClient(dial(t, sock))
	create := func(envSize int) error {
		_, err := containers.Create(ctx, &berthv1.CreateContainerRequest{Config: &berthv1.ContainerConfig{
			Image: "busybox", Env: []string{"BIG=" + strings.Repeat("x", envSize)},
		}})
		return err
	}
	if err := create(apiserver.MaxRecvMsgSize - 1<<10); err != nil {
		t.Errorf("a request just below the limit: %v", err)
	}
	err := create(apiserver.MaxRecvMsgSize + 1)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "16777216") {
		t.Errorf("a request above the limit: %v", err)
	}
}
