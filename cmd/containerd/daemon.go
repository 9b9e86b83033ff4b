package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/containerd/containerd/v2/cmd/containerd/server"
	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/version"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/grpclog"
)

// What follows is the action of containerd's cmd/containerd/command (v2.3.7,
// main.go, main_unix.go, config.go) for Linux without systemd: the same
// steps in the same order. Left out: what is for Windows services and
// systemd notification (no-ops on berth's build), and the log hook that
// copies log entries into tracing spans (no span is ever recorded without
// a tracing plugin, and berth's containerd has none).

func init() {
	// As containerd's own: gRPC's logs would mix with containerd's.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
}

// run serves until SIGTERM or SIGINT.
func run(o options) error {
	var (
		start       = time.Now()
		signals     = make(chan os.Signal, 2048)
		serverC     = make(chan *server.Server, 1)
		ctx, cancel = context.WithCancel(context.Background())
		config      = defaultConfig()
	)
	defer cancel()

	// The config file is read if it exists or was named.
	if _, err := os.Stat(o.config); !os.IsNotExist(err) || o.configSet {
		g := registry.Graph(func(*plugin.Registration) bool { return false })
		if err := srvconfig.LoadConfigWithPlugins(ctx, o.config, func() iter.Seq[plugin.Registration] {
			return slices.Values(g)
		}, config); err != nil {
			return err
		}
	}
	if err := applyFlags(o, config); err != nil {
		return err
	}
	if err := server.CreateTopLevelDirectories(config); err != nil {
		return err
	}

	// The signal handler starts as soon as it can, so no signal is missed
	// during boot.
	done := handleSignals(ctx, signals, serverC, cancel)
	signal.Notify(signals, unix.SIGTERM, unix.SIGINT, unix.SIGUSR1, unix.SIGPIPE)

	if err := mount.SetTempMountLocation(filepath.Join(config.Root, "tmpmounts")); err != nil {
		return fmt.Errorf("creating temp mount location: %w", err)
	}
	// Temporary mounts left by a containerd that died are unmounted.
	warnings, err := mount.CleanupTempMounts(0)
	if err != nil {
		log.G(ctx).WithError(err).Error("unmounting temp mounts")
	}
	for _, w := range warnings {
		log.G(ctx).WithError(w).Warn("cleanup temp mount")
	}

	log.G(ctx).WithFields(log.Fields{
		"version":  version.Version,
		"revision": version.Revision,
	}).Info("starting containerd")

	type srvResp struct {
		s   *server.Server
		err error
	}
	// The server is made in a goroutine, so a SIGTERM is handled while it
	// initializes (opening the bolt database blocks for as long as
	// another containerd holds it).
	chsrv := make(chan srvResp)
	go func() {
		defer close(chsrv)
		s, err := server.New(ctx, config)
		if err != nil {
			select {
			case chsrv <- srvResp{err: err}:
			case <-ctx.Done():
			}
			return
		}
		select {
		case <-ctx.Done():
			s.Stop()
		case chsrv <- srvResp{s: s}:
		}
	}()

	var s *server.Server
	select {
	case <-ctx.Done():
		return ctx.Err()
	case r := <-chsrv:
		if r.err != nil {
			return r.err
		}
		s = r.s
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case serverC <- s:
	}

	if err := s.Start(ctx); err != nil {
		return err
	}
	readyC := make(chan struct{})
	go func() {
		s.Wait()
		close(readyC)
	}()
	select {
	case <-readyC:
		log.G(ctx).Infof("containerd successfully booted in %fs", time.Since(start).Seconds())
		<-done
	case <-done:
	}
	return nil
}

// defaultConfig is containerd's config before its file is read.
func defaultConfig() *srvconfig.Config {
	return &srvconfig.Config{
		Version:          version.ConfigVersion,
		Root:             defaults.DefaultRootDir,
		State:            defaults.DefaultStateDir,
		DisabledPlugins:  []string{},
		RequiredPlugins:  []string{},
		StreamProcessors: streamProcessors(),
		Imports:          []string{defaults.DefaultConfigIncludePattern},
		Plugins: map[string]any{
			"io.containerd.server.v1.grpc": map[string]any{
				"address":               defaults.DefaultAddress,
				"max_recv_message_size": defaults.DefaultMaxRecvMsgSize,
				"max_send_message_size": defaults.DefaultMaxSendMsgSize,
			},
		},
	}
}

// streamProcessors are containerd's default ones: ocicrypt's ctd-decoder
// for encrypted layers, used if it is installed.
func streamProcessors() map[string]srvconfig.StreamProcessor {
	const (
		ctdDecoder = "ctd-decoder"
		basename   = "io.containerd.ocicrypt.decoder.v1"
	)
	args := []string{"--decryption-keys-path", filepath.Join(defaults.DefaultConfigDir, "ocicrypt", "keys")}
	env := []string{"OCICRYPT_KEYPROVIDER_CONFIG=" + filepath.Join(defaults.DefaultConfigDir, "ocicrypt", "ocicrypt_keyprovider.conf")}
	return map[string]srvconfig.StreamProcessor{
		basename + ".tar.gzip": {
			Accepts: []string{images.MediaTypeImageLayerGzipEncrypted},
			Returns: ocispec.MediaTypeImageLayerGzip,
			Path:    ctdDecoder,
			Args:    args,
			Env:     env,
		},
		basename + ".tar": {
			Accepts: []string{images.MediaTypeImageLayerEncrypted},
			Returns: ocispec.MediaTypeImageLayer,
			Path:    ctdDecoder,
			Args:    args,
			Env:     env,
		},
	}
}

// applyFlags sets the logging and the flags' overrides of the config: a
// flag given wins over the config.
func applyFlags(o options, config *srvconfig.Config) error {
	level := o.logLevel
	if level == "" {
		level = config.Debug.Level
	}
	if level != "" {
		if err := log.SetLevel(level); err != nil {
			return err
		}
	}
	format := log.OutputFormat(config.Debug.Format)
	if format == "" {
		format = log.TextFormat
	}
	if err := log.SetFormat(format); err != nil {
		return err
	}

	for _, v := range []struct {
		flag string
		dir  *string
	}{
		{o.root, &config.Root},
		{o.state, &config.State},
	} {
		if v.flag == "" {
			continue
		}
		abs, err := filepath.Abs(v.flag)
		if err != nil {
			return err
		}
		*v.dir = abs
	}

	if o.address != "" {
		var grpcConfig map[string]any
		v, ok := config.Plugins["io.containerd.server.v1.grpc"]
		if !ok {
			grpcConfig = make(map[string]any)
		} else if grpcConfig, ok = v.(map[string]any); !ok {
			return fmt.Errorf("grpc plugin has invalid configuration: %w", errdefs.ErrInvalidArgument)
		}
		grpcConfig["address"] = o.address
		config.Plugins["io.containerd.server.v1.grpc"] = grpcConfig

		if _, ok := config.Plugins["io.containerd.server.v1.ttrpc"]; !ok {
			ttrpcConfig := map[string]any{"address": o.address + ".ttrpc"}
			if uid, ok := grpcConfig["uid"]; ok {
				ttrpcConfig["uid"] = uid
			}
			if gid, ok := grpcConfig["gid"]; ok {
				ttrpcConfig["gid"] = gid
			}
			config.Plugins["io.containerd.server.v1.ttrpc"] = ttrpcConfig
		}
	}
	return nil
}

// handleSignals stops the server at SIGTERM or SIGINT and closes the
// channel it returns; SIGUSR1 dumps the goroutines' stacks; SIGPIPE is
// ignored.
func handleSignals(ctx context.Context, signals chan os.Signal, serverC chan *server.Server, cancel func()) chan struct{} {
	done := make(chan struct{}, 1)
	go func() {
		var s *server.Server
		for {
			select {
			case s = <-serverC:
			case sig := <-signals:
				// No log for SIGPIPE: its message could raise more.
				if sig == unix.SIGPIPE {
					continue
				}
				log.G(ctx).WithField("signal", sig).Debug("received signal")
				if sig == unix.SIGUSR1 {
					dumpStacks()
					continue
				}
				cancel()
				if s != nil {
					s.Stop()
				}
				close(done)
				return
			}
		}
	}()
	return done
}

// dumpStacks logs every goroutine's stack and writes it to
// $TMPDIR/containerd.<pid>.stacks.log.
func dumpStacks() {
	var (
		buf       []byte
		stackSize int
	)
	bufferLen := 16384
	for stackSize == len(buf) {
		buf = make([]byte, bufferLen)
		stackSize = runtime.Stack(buf, true)
		bufferLen *= 2
	}
	buf = buf[:stackSize]
	log.L.Infof("=== BEGIN goroutine stack dump ===\n%s\n=== END goroutine stack dump ===", buf)

	name := filepath.Join(os.TempDir(), fmt.Sprintf("containerd.%d.stacks.log", os.Getpid()))
	if err := os.WriteFile(name, buf, 0o644); err != nil {
		return
	}
	log.L.Infof("goroutine stack dump written to %s", name)
}
