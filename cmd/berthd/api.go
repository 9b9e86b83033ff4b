package main

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/cmd/berthd/internal/daemon"
	"github.com/berthproject/berth/engine"
)

// serveAPIExtras registers what every gRPC tool expects beside berth's own
// services: the standard health service, SERVING while berthd reaches
// containerd (and berth-snapshotter when it runs it), and server reflection
// unless the config turns it off. Call it after the berth.v1 services are
// registered: health knows them by name.
func serveAPIExtras(ctx context.Context, env daemon.Env, srv *grpc.Server, e *engine.Engine) {
	cfg := env.Config
	var services []string
	for name := range srv.GetServiceInfo() {
		services = append(services, name)
	}
	h := apiserver.NewHealth(services...)
	h.Register(srv)
	// containerd serves grpc.health.v1 itself; once it reports SERVING the
	// engine's own connection must answer too.
	h.WatchDependency(ctx, "containerd", env.ContainerdAddress, e.Ping)
	if env.Embedded && cfg.EnableBerthSnapshotter && cfg.Snapshotter == config.SnapshotterBerth {
		// berth-snapshotter serves containerd's Snapshots service over
		// ttrpc, without a health service: berthd holds a connection to it
		// and sees its death when the connection breaks.
		h.WatchTTRPC(ctx, "snapshotter", cfg.SnapshotterSocket(), daemon.SnapshotterReady)
	}
	if !h.WaitServing(ctx, 10*time.Second) {
		env.Logger.Warn("API health: NOT_SERVING at startup", "down", strings.Join(h.Down(), "; "))
	}
	go func() {
		<-ctx.Done() // berthd is stopping: say so before the server goes
		h.Shutdown()
	}()
	if cfg.APIReflection {
		reflection.Register(srv)
	}
}
