package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/cmd/berthd/internal/daemon"
	"github.com/berthproject/berth/cmd/berthd/internal/ui"
)

// serveUI serves the web dashboard on cfg.UI: plain HTTP on a loopback
// address, mutual TLS on any other. Its login address goes to
// cfg.UIURLFile() for `berth ui`. The returned Closer stops it.
func serveUI(cfg *config.Config, b ui.Backend, log *slog.Logger) (io.Closer, error) {
	host, _, err := net.SplitHostPort(cfg.UI)
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	var l net.Listener
	if loopback {
		l, err = net.Listen("tcp", cfg.UI)
	} else {
		l, err = daemon.ListenMutualTLS(cfg, cfg.UI)
		if err != nil {
			err = fmt.Errorf("ui %s is not a loopback address, so it needs mutual TLS (tlscacert, tlscert, tlskey): %w", cfg.UI, err)
		}
	}
	if err != nil {
		return nil, err
	}
	h, err := ui.New(b, ui.Options{TLS: !loopback, Version: version, Log: log})
	if err != nil {
		l.Close()
		return nil, err
	}
	scheme := "http"
	if !loopback {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s/login?token=%s", scheme, l.Addr().String(), h.Token())
	if err := writeUIURL(cfg, url); err != nil {
		l.Close()
		return nil, err
	}
	// Live streams end when the server closes, not when their pages do.
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return base },
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("dashboard server", "error", err)
		}
	}()
	log.Info("dashboard ready: `berth ui` prints its login address", "address", l.Addr().String())
	return closerFunc(func() error {
		os.Remove(cfg.UIURLFile())
		cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		return nil
	}), nil
}

// writeUIURL writes the login address readable by root and the socket's
// group (who may use berthd anyway).
func writeUIURL(cfg *config.Config, url string) error {
	p := cfg.UIURLFile()
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(url+"\n"), 0o600); err != nil {
		return err
	}
	if g, err := user.LookupGroup(cfg.SocketGroup); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil && os.Chown(tmp, 0, gid) == nil {
			_ = os.Chmod(tmp, 0o640)
		}
	}
	return os.Rename(tmp, p)
}
