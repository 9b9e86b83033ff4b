package main

import (
	"context"
	"io"

	"google.golang.org/grpc"

	"github.com/berthproject/berth/engine"
	"github.com/berthproject/berth/pkg/apiserver"
	"github.com/berthproject/berth/pkg/daemon"
)

// register builds the engine on the containerd berthd waited for and
// registers berth's API services on srv.
func register(ctx context.Context, env daemon.Env, srv *grpc.Server) (io.Closer, error) {
	cfg := env.Config
	maxSize, err := cfg.LogMaxSizeBytes()
	if err != nil {
		return nil, err
	}
	e, err := engine.New(ctx,
		engine.WithContainerdAddress(env.ContainerdAddress),
		engine.WithNamespace(cfg.Namespace),
		engine.WithRoot(cfg.Root),
		engine.WithState(cfg.State),
		engine.WithRuntime(cfg.Runtime),
		engine.WithSnapshotter(cfg.Snapshotter),
		engine.WithBinDirs(cfg.BinDirs...),
		engine.WithLogDefaults(maxSize, cfg.LogMaxFile),
		engine.WithLogger(env.Logger),
	)
	if err != nil {
		return nil, err
	}
	// After containerd restarts, reconnect at once instead of waiting out
	// gRPC's reconnect back-off (up to seconds).
	env.OnContainerdRestart(func() {
		if conn, ok := e.Client().Conn().(*grpc.ClientConn); ok {
			conn.ResetConnectBackoff()
		}
	})
	apiserver.Register(srv, e, apiserver.DaemonInfo{Version: version, GitCommit: gitCommit()})
	return e, nil
}
