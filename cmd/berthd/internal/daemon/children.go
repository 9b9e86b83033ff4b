package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/pkg/ctrdconfig"
	"github.com/berthproject/berth/pkg/supervisor"
)

// ShimSocketDirEnv tells berth's shim where to put its sockets. containerd
// passes its own environment to the shims it starts.
const ShimSocketDirEnv = "BERTH_SHIM_SOCKET_DIR"

// defaultPath is used when berthd itself was started without a PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// childEnv is the environment of containerd and the snapshotter: berthd's
// own, with bin_dirs first in PATH, the shim socket dir, and without the
// variables that belong to berthd alone (runtime tuning, systemd's
// notification and socket activation).
func childEnv(cfg *config.Config) []string {
	drop := map[string]bool{
		"PATH": true, "GOMAXPROCS": true, "GOGC": true, "GOMEMLIMIT": true,
		"NOTIFY_SOCKET": true, "LISTEN_PID": true, "LISTEN_FDS": true, "LISTEN_FDNAMES": true,
		ShimSocketDirEnv: true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	return append(env,
		"PATH="+cfg.SearchPath(path),
		ShimSocketDirEnv+"="+cfg.ShimSocketDir(),
	)
}

// containerdSpec describes the embedded containerd.
func containerdSpec(cfg *config.Config, logger *slog.Logger) (supervisor.Spec, error) {
	bin, err := cfg.Lookup("containerd")
	if err != nil {
		return supervisor.Spec{}, err
	}
	level := "info"
	if cfg.Debug {
		level = "debug"
	}
	opts := ctrdconfig.Options{
		Root:        cfg.ContainerdRoot(),
		State:       cfg.ContainerdState(),
		Address:     cfg.ContainerdSocket(),
		LogLevel:    level,
		Snapshotter: cfg.Snapshotter,
	}
	if dir := cfg.ShimSocketDir(); len(dir) <= ctrdconfig.MaxShimSocketDir {
		opts.ShimSocketDir = dir
	} else {
		logger.Warn("state dir too long for containerd's shim socket dir; runc shims use containerd's default",
			"dir", dir, "max", ctrdconfig.MaxShimSocketDir)
	}
	if cfg.EnableBerthSnapshotter {
		opts.BerthSnapshotter = cfg.SnapshotterSocket()
	}
	confPath := cfg.ContainerdConfigPath()
	return supervisor.Spec{
		Name: "containerd",
		Path: bin,
		Args: []string{"--config", confPath},
		// GOGC=50: its heap after a burst (an image load) is ~5 MB smaller,
		// idle (docs/performance.md, "Idle daemons").
		Env:      append(childEnv(cfg), "GOGC=50"),
		LogFile:  cfg.ContainerdLog(),
		PIDFile:  cfg.ContainerdPIDFile(),
		Identity: confPath,
		Probe:    supervisor.ContainerdProbe(cfg.ContainerdSocket()),
		// Written at every start, so a restarted containerd sees the
		// current settings; an adopted one keeps those it started with.
		BeforeStart: func() error { return ctrdconfig.Write(confPath, opts) },
		// A containerd left running by a previous berthd is adopted only if
		// it runs with the config this berthd would write.
		Outdated: func() string {
			want, err := ctrdconfig.Generate(opts)
			if err != nil {
				return err.Error()
			}
			if have, err := os.ReadFile(confPath); err != nil || !bytes.Equal(have, want) {
				return "its config differs from the current settings"
			}
			return ""
		},
		StopTimeout: 15 * time.Second,
	}, nil
}

// snapshotterSpec describes berth-snapshotter.
func snapshotterSpec(cfg *config.Config) (supervisor.Spec, error) {
	bin, err := cfg.Lookup("berth-snapshotter")
	if err != nil {
		return supervisor.Spec{}, err
	}
	sock := cfg.SnapshotterSocket()
	args := []string{"--root", cfg.SnapshotterRoot(), "--address", sock}
	if cfg.Debug {
		args = append(args, "--debug")
	}
	return supervisor.Spec{
		Name:     "berth-snapshotter",
		Path:     bin,
		Args:     args,
		Env:      childEnv(cfg),
		LogFile:  cfg.SnapshotterLog(),
		PIDFile:  cfg.SnapshotterPIDFile(),
		Identity: sock,
		Probe:    supervisor.SocketProbe(sock),
		// Nothing answers on it (checked by the supervisor): a leftover.
		BeforeStart: func() error { return removeIfExists(sock) },
		// One left running by an older berth may serve gRPC, which berth's
		// containerd no longer speaks to it.
		Outdated: func() string {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := snapshotterAnswers(ctx, sock); err != nil {
				return "it does not serve the Snapshots service over ttrpc: " + err.Error()
			}
			return ""
		},
	}, nil
}

// SnapshotterReady asks berth-snapshotter, over the ttrpc connection c,
// about a snapshot that cannot exist: any answer of the Snapshots service
// (NotFound) says it serves.
func SnapshotterReady(ctx context.Context, c *ttrpc.Client) error {
	_, err := snapshotsapi.NewTTRPCSnapshotsClient(c).Stat(ctx, &snapshotsapi.StatSnapshotRequest{
		Snapshotter: config.SnapshotterBerth, Key: "berthd health check: no such snapshot",
	})
	if err == nil || errdefs.IsNotFound(errgrpc.ToNative(err)) {
		return nil
	}
	return err
}

// snapshotterAnswers connects to berth-snapshotter's socket and checks it
// with SnapshotterReady.
func snapshotterAnswers(ctx context.Context, sock string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	c := ttrpc.NewClient(conn)
	defer func() { _ = c.Close() }()
	return SnapshotterReady(ctx, c)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// waitExternal waits for an existing containerd to answer.
func waitExternal(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := supervisor.ContainerdVersion(pctx, path)
		pcancel()
		if err == nil {
			return v, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("containerd at %s does not answer: %w", path, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
