package main

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"context"
	"io"
	"log/slog"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/cmd/berthd/internal/daemon"
	"github.com/berthproject/berth/cmd/berthd/internal/ui"
	"github.com/berthproject/berth/cni"
	"github.com/berthproject/berth/engine"
	"github.com/berthproject/berth/engine/build"
	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/image"
)

// register builds the engine on the containerd berthd waited for and
// registers berth's API services on srv.
func register(ctx context.Context, env daemon.Env, srv *grpc.Server) (io.Closer, error) {
	cfg := env.Config
	maxSize, err := cfg.LogMaxSizeBytes()
	if err != nil {
		return nil, err
	}
	network, err := networkConfig(cfg)
	if err != nil {
		return nil, err
	}
	idle, err := cfg.BuilderIdleTimeoutDuration()
	if err != nil {
		return nil, err
	}
	cacheMax, err := cfg.BuildCacheMaxBytes()
	if err != nil {
		return nil, err
	}
	nodeTimeout, err := cfg.ClusterNodeTimeoutDuration()
	if err != nil {
		return nil, err
	}
	drain, err := cfg.ServiceDrainPeriodDuration()
	if err != nil {
		return nil, err
	}
	// BERTH_CLUSTER_CERT_VALIDITY shortens the node certificates' validity
	// (5 years) so that tests see them renewed (docs/cluster.md).
	var certValidity time.Duration
	if v := os.Getenv("BERTH_CLUSTER_CERT_VALIDITY"); v != "" {
		if certValidity, err = time.ParseDuration(v); err != nil || certValidity < 3*time.Second {
			return nil, fmt.Errorf("BERTH_CLUSTER_CERT_VALIDITY=%q: give a duration of 3s or more", v)
		}
	}
	e, err := engine.New(ctx,
		engine.WithContainerdAddress(env.ContainerdAddress),
		engine.WithNamespace(cfg.Namespace),
		engine.WithRoot(cfg.Root),
		engine.WithState(cfg.State),
		engine.WithRuntime(cfg.Runtime),
		engine.WithCgroupDriver(cfg.CgroupDriver),
		engine.WithNamespaceDefaults(cfg.DefaultIpcMode, cfg.DefaultCgroupnsMode),
		engine.WithSnapshotter(cfg.Snapshotter),
		engine.WithBinDirs(cfg.BinDirs...),
		engine.WithLogDefaults(maxSize, cfg.LogMaxFile),
		engine.WithNetwork(network),
		engine.WithLogger(env.Logger),
		engine.WithBuilder(build.Options{IdleTimeout: idle, GCMaxUsed: cacheMax, Debug: cfg.Debug}),
		engine.WithCluster(cluster.Options{NodeTimeout: nodeTimeout, EngineVersion: version, CertValidity: certValidity}),
		engine.WithServiceDrainPeriod(drain),
		engine.WithCDISpecDirs(cfg.CDISpecDirs...),
		engine.WithRegistry(image.RegistryOptions{Insecure: cfg.InsecureRegistries, Mirrors: cfg.RegistryMirrors, CADir: cfg.RegistryCADir,
			HostsDir: filepath.Join(cfg.State, "registry-hosts")}),
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
	serveAPIExtras(ctx, env, srv, e) // health, reflection
	var cs closers
	if cfg.UI != "" {
		b := ui.Backend{Backend: backend(e), Files: e.Containers()}
		if bs := e.Builds(); bs != nil {
			b.Builds = bs
		}
		if c := e.Cluster(); c != nil {
			b.Cluster = c
		}
		u, err := serveUI(cfg, b, env.Logger)
		if err != nil {
			e.Close()
			return nil, err
		}
		cs = append(cs, u)
	}
	if cfg.DockerAPI {
		docker, err := serveDocker(cfg, e, env.Logger)
		if err != nil {
			_ = cs.Close()
			e.Close()
			return nil, err
		}
		cs = append(cs, docker)
	}
	return append(cs, e), nil
}

// networkConfig is the network manager's configuration from berthd's.
func networkConfig(cfg *config.Config) (cni.Config, error) {
	subnet, err := cfg.BridgeSubnetPrefix()
	if err != nil {
		return cni.Config{}, err
	}
	nc := cni.Config{
		Root:  cfg.Root,
		State: cfg.State,
		// berth's own plugins (berth-cni-overlay) are installed with the
		// upstream ones, or found next to berth's other binaries.
		PluginDirs:     append([]string{cfg.CNIBinDir}, cfg.BinDirs...),
		DefaultBridge:  cfg.Bridge,
		DefaultSubnet:  subnet,
		FirewallPrefix: cfg.FirewallPrefix,
	}
	if cfg.HostGatewayIP != "" {
		if nc.HostGatewayIP, err = netip.ParseAddr(cfg.HostGatewayIP); err != nil {
			return cni.Config{}, err
		}
	}
	for _, p := range cfg.DefaultAddressPools {
		base, err := p.Prefix()
		if err != nil {
			return cni.Config{}, err
		}
		nc.AddressPools = append(nc.AddressPools, cni.AddressPool{Base: base, Size: p.Size})
	}
	for _, u := range cfg.DNSUpstreams {
		up, err := config.DNSUpstream(u)
		if err != nil {
			return cni.Config{}, err
		}
		nc.DNSUpstreams = append(nc.DNSUpstreams, up)
	}
	return nc, nil
}

// uninstall removes what berth's networking put on the host (networks and
// their bridges, sandboxes left, the nftables table). Containers are not
// touched: stop and remove them first.
func uninstall(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	unlock, err := daemon.LockState(cfg)
	if err != nil {
		return err
	}
	defer unlock()
	ncfg, err := networkConfig(cfg)
	if err != nil {
		return err
	}
	m, err := cni.New(ctx, ncfg)
	if err != nil {
		return err
	}
	if err := m.Uninstall(ctx); err != nil {
		return err
	}
	logger.Info("removed berth's networks and firewall", "bridge", cfg.Bridge, "firewall_prefix", cfg.FirewallPrefix)
	return nil
}
