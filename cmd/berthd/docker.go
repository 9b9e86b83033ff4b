package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/cmd/berthd/internal/daemon"
	"github.com/berthproject/berth/cmd/berthd/internal/dockerapi"
	"github.com/berthproject/berth/engine"
)

// serveDocker serves the Docker Engine API over e on cfg.DockerSocket (and
// cfg.DockerTCPAddress with mutual TLS). The returned Closer stops it.
func serveDocker(cfg *config.Config, e *engine.Engine, log *slog.Logger) (io.Closer, error) {
	b := backend(e)
	srv := &http.Server{
		Handler: daemon.IdleHTTP(dockerapi.New(b, dockerapi.Info{
			Version: version, GitCommit: gitCommit(), Debug: cfg.Debug,
			InsecureRegistries: cfg.InsecureRegistries, RegistryMirrors: cfg.RegistryMirrors,
		}, log)),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var ls []net.Listener
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	l, err := daemon.ListenUnix(cfg.DockerSocket, cfg.SocketGroup, log)
	if err != nil {
		return nil, err
	}
	ls = append(ls, l)
	if cfg.DockerTCPAddress != "" {
		tl, err := daemon.ListenMutualTLS(cfg, cfg.DockerTCPAddress)
		if err != nil {
			closeAll()
			return nil, err
		}
		ls = append(ls, tl)
		log.Info("Docker API on TCP with mutual TLS", "address", tl.Addr().String())
	}
	for _, l := range ls {
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("Docker API server", "error", err)
			}
		}()
	}
	log.Info("Docker API ready", "socket", cfg.DockerSocket)
	return closerFunc(func() error {
		// Streams (logs -f, events) end with the server; hijacked attach
		// and exec connections end with their containers and processes.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		os.Remove(cfg.DockerSocket)
		return nil
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// closers closes each in order, returning the first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// backend is the engine as the Docker API and the dashboard call it.
func backend(e *engine.Engine) dockerapi.Backend {
	b := dockerapi.Backend{Containers: e.Containers(), Images: e.Images(), Volumes: e.Volumes(), Events: e.Events(), System: e}
	if n := e.Networks(); n != nil {
		b.Networks = n
	}
	if bs := e.Builds(); bs != nil && bs.Available() {
		b.Builds = bs
	}
	if c := e.Cluster(); c != nil {
		b.Cluster = c
	}
	if sv := e.Services(); sv != nil {
		b.Services = sv
	}
	return b
}
