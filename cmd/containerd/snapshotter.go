package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	protobuftypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/platforms"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
	"github.com/containerd/ttrpc"
)

// snapshotterName is berth-snapshotter's name in containerd, the one
// berthd, BuildKit and containerd's clients ask for.
const snapshotterName = "berth"

// snapshotterConfig is the plugin's config, written by berthd under
// [plugins."io.containerd.snapshotter.v1.berth"].
type snapshotterConfig struct {
	// Address is berth-snapshotter's unix socket. Empty: the plugin is
	// skipped (berthd runs no berth-snapshotter).
	Address string `toml:"address"`
}

// registerSnapshotter registers berth-snapshotter as the snapshot plugin
// "berth". It is what a [proxy_plugins.berth] entry would be, over ttrpc
// instead of gRPC: berth-snapshotter serves containerd's Snapshots service
// over ttrpc (snapshotter/server.go), so it links no grpc-go, and its
// binary, most of its idle memory, is a third smaller
// (docs/performance.md, "Idle daemons, fourth pass"). The calls are
// containerd's core/snapshots/proxy's, on containerd's generated ttrpc
// client.
//
// A config (the file at path, containerd's --config) that still names "berth" as a gRPC
// proxy plugin, written by an older berthd for a berth-snapshotter that
// serves gRPC, keeps that proxy plugin: containerd refuses two plugins of
// one name, and the proxy plugin works as it did.
func registerSnapshotter(path string) {
	if proxied(path) {
		return
	}
	registry.Register(&plugin.Registration{
		Type:   plugins.SnapshotPlugin,
		ID:     snapshotterName,
		Config: &snapshotterConfig{},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			cfg := ic.Config.(*snapshotterConfig)
			if cfg.Address == "" {
				return nil, fmt.Errorf("no address configured: %w", plugin.ErrSkipPlugin)
			}
			ic.Meta.Exports = map[string]string{"address": cfg.Address}
			ic.Meta.Platforms = append(ic.Meta.Platforms, platforms.DefaultSpec())
			return &ttrpcSnapshotter{conn: &redialer{address: cfg.Address}}, nil
		},
	})
}

// redialer keeps one ttrpc connection to berth-snapshotter and makes a new
// one at the first call after it broke (berthd restarts a snapshotter that
// died). A call in flight when the connection breaks fails with
// ErrUnavailable and is not retried: it may have been done, as with
// gRPC's proxy plugins.
type redialer struct {
	address string

	mu     sync.Mutex
	client *ttrpc.Client
}

func (r *redialer) get(ctx context.Context) (snapshotsapi.TTRPCSnapshotsClient, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client == nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var d net.Dialer
		conn, err := d.DialContext(dctx, "unix", r.address)
		if err != nil {
			return nil, fmt.Errorf("berth-snapshotter at %s: %v: %w", r.address, err, errdefs.ErrUnavailable)
		}
		var c *ttrpc.Client
		c = ttrpc.NewClient(conn, ttrpc.WithOnClose(func() {
			r.mu.Lock()
			if r.client == c {
				r.client = nil
			}
			r.mu.Unlock()
		}))
		r.client = c
	}
	return snapshotsapi.NewTTRPCSnapshotsClient(r.client), nil
}

func (r *redialer) close() error {
	r.mu.Lock()
	c := r.client
	r.client = nil
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.Close()
}

// toNative turns a call's error into its errdefs class: the snapshotter's
// own errors travel as gRPC status codes, a broken connection is
// ErrUnavailable.
func toNative(err error) error {
	if errors.Is(err, ttrpc.ErrClosed) {
		return fmt.Errorf("berth-snapshotter: %v: %w", err, errdefs.ErrUnavailable)
	}
	return errgrpc.ToNative(err)
}

// ttrpcSnapshotter is containerd's core/snapshots/proxy over ttrpc.
type ttrpcSnapshotter struct {
	conn *redialer
}

func localInfo(opts []snapshots.Opt) (snapshots.Info, error) {
	var local snapshots.Info
	for _, opt := range opts {
		if err := opt(&local); err != nil {
			return local, err
		}
	}
	return local, nil
}

func (p *ttrpcSnapshotter) Stat(ctx context.Context, key string) (snapshots.Info, error) {
	c, err := p.conn.get(ctx)
	if err != nil {
		return snapshots.Info{}, err
	}
	resp, err := c.Stat(ctx, &snapshotsapi.StatSnapshotRequest{Snapshotter: snapshotterName, Key: key})
	if err != nil {
		return snapshots.Info{}, toNative(err)
	}
	return proxy.InfoFromProto(resp.Info), nil
}

func (p *ttrpcSnapshotter) Update(ctx context.Context, info snapshots.Info, fieldpaths ...string) (snapshots.Info, error) {
	c, err := p.conn.get(ctx)
	if err != nil {
		return snapshots.Info{}, err
	}
	resp, err := c.Update(ctx, &snapshotsapi.UpdateSnapshotRequest{
		Snapshotter: snapshotterName,
		Info:        proxy.InfoToProto(info),
		UpdateMask:  &protobuftypes.FieldMask{Paths: fieldpaths},
	})
	if err != nil {
		return snapshots.Info{}, toNative(err)
	}
	return proxy.InfoFromProto(resp.Info), nil
}

func (p *ttrpcSnapshotter) Usage(ctx context.Context, key string) (snapshots.Usage, error) {
	c, err := p.conn.get(ctx)
	if err != nil {
		return snapshots.Usage{}, err
	}
	resp, err := c.Usage(ctx, &snapshotsapi.UsageRequest{Snapshotter: snapshotterName, Key: key})
	if err != nil {
		return snapshots.Usage{}, toNative(err)
	}
	return proxy.UsageFromProto(resp), nil
}

func (p *ttrpcSnapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	c, err := p.conn.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.Mounts(ctx, &snapshotsapi.MountsRequest{Snapshotter: snapshotterName, Key: key})
	if err != nil {
		return nil, toNative(err)
	}
	return mount.FromProto(resp.Mounts), nil
}

func (p *ttrpcSnapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	local, err := localInfo(opts)
	if err != nil {
		return nil, err
	}
	c, err := p.conn.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{
		Snapshotter: snapshotterName, Key: key, Parent: parent, Labels: local.Labels,
	})
	if err != nil {
		return nil, toNative(err)
	}
	return mount.FromProto(resp.Mounts), nil
}

func (p *ttrpcSnapshotter) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	local, err := localInfo(opts)
	if err != nil {
		return nil, err
	}
	c, err := p.conn.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.View(ctx, &snapshotsapi.ViewSnapshotRequest{
		Snapshotter: snapshotterName, Key: key, Parent: parent, Labels: local.Labels,
	})
	if err != nil {
		return nil, toNative(err)
	}
	return mount.FromProto(resp.Mounts), nil
}

func (p *ttrpcSnapshotter) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) error {
	local, err := localInfo(opts)
	if err != nil {
		return err
	}
	c, err := p.conn.get(ctx)
	if err != nil {
		return err
	}
	_, err = c.Commit(ctx, &snapshotsapi.CommitSnapshotRequest{
		Snapshotter: snapshotterName, Name: name, Key: key, Parent: local.Parent, Labels: local.Labels,
	})
	if err != nil {
		return toNative(err)
	}
	return nil
}

func (p *ttrpcSnapshotter) Remove(ctx context.Context, key string) error {
	c, err := p.conn.get(ctx)
	if err != nil {
		return err
	}
	if _, err := c.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: snapshotterName, Key: key}); err != nil {
		return toNative(err)
	}
	return nil
}

func (p *ttrpcSnapshotter) Walk(ctx context.Context, fn snapshots.WalkFunc, filters ...string) error {
	c, err := p.conn.get(ctx)
	if err != nil {
		return err
	}
	// The stream ends with the walk: a walk stopped early by fn cancels it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sc, err := c.List(ctx, &snapshotsapi.ListSnapshotsRequest{Snapshotter: snapshotterName, Filters: filters})
	if err != nil {
		return toNative(err)
	}
	for {
		resp, err := sc.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return toNative(err)
		}
		for _, info := range resp.Info {
			if err := fn(ctx, proxy.InfoFromProto(info)); err != nil {
				return err
			}
		}
	}
}

func (p *ttrpcSnapshotter) Cleanup(ctx context.Context) error {
	c, err := p.conn.get(ctx)
	if err != nil {
		return err
	}
	if _, err := c.Cleanup(ctx, &snapshotsapi.CleanupRequest{Snapshotter: snapshotterName}); err != nil {
		return toNative(err)
	}
	return nil
}

func (p *ttrpcSnapshotter) Close() error {
	return p.conn.close()
}

// proxied tells whether the config file at path has a proxy plugin
// named "berth".
func proxied(path string) bool {
	var cfg srvconfig.Config
	if err := srvconfig.LoadConfig(context.Background(), path, &cfg); err != nil {
		return false // containerd reports it when it reads the config itself
	}
	_, ok := cfg.ProxyPlugins[snapshotterName]
	return ok
}
