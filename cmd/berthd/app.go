package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	"github.com/berthproject/berth/cmd/berthd/internal/cmdline"
	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/cmd/berthd/internal/daemon"
)

// runMain parses berthd's command line and runs it (or prints its help
// or version).
func runMain(args []string, stdout io.Writer) error {
	c := newCommand()
	if exit, err := c.Parse(args, stdout); exit || err != nil {
		return err
	}
	return run(c)
}

// newCommand builds berthd's command line: a flag for every config key
// (the key with dashes), applied over the config file when set.
func newCommand() *cmdline.Command {
	d := config.Default()
	return &cmdline.Command{
		Name:  "berthd",
		Usage: "berth's container engine daemon",
		UsageText: "berthd [OPTIONS]\n\n" +
			"Settings come from the config file, then from these flags (which win).\n" +
			"Each flag is also a key of the file, with underscores (--bin-dirs: bin_dirs).\n" +
			"See docs/operations.md.",
		Version: version,
		Flags: []*cmdline.Flag{
			cmdline.String("config", config.DefaultPath, "config file (a missing file means defaults)").WithEnv("BERTHD_CONFIG"),
			cmdline.String("root", d.Root, "directory for persistent data"),
			cmdline.String("state", d.State, "directory for runtime data (sockets, pid files)"),
			cmdline.String("socket", "", "API socket (default <state>/berth.sock)"),
			cmdline.String("socket-group", d.SocketGroup, "group owning the API socket, if it exists"),
			cmdline.String("containerd-address", "", "use the containerd at this socket instead of running one"),
			cmdline.String("namespace", d.Namespace, "containerd namespace"),
			cmdline.String("runtime", d.Runtime, "containerd runtime for containers"),
			cmdline.String("cgroup-driver", d.CgroupDriver, "who makes containers' cgroups: cgroupfs or systemd (needs systemd as init)"),
			cmdline.String("snapshotter", d.Snapshotter, "containerd snapshotter for images and containers"),
			cmdline.Strings("bin-dirs", d.BinDirs, "directories searched before $PATH for containerd, runc, shims, logger, snapshotter").WithAliases("bin-dir"),
			cmdline.String("cni-bin-dir", d.CNIBinDir, "directory of the CNI plugins"),
			cmdline.String("bridge", d.Bridge, "interface name of the default bridge network (none: no default network, as dockerd -b none)"),
			cmdline.String("bridge-subnet", "", "subnet of the default bridge network (default 172.17.0.0/16, or a free pool subnet)"),
			cmdline.String("firewall-prefix", d.FirewallPrefix, "prefix of berth's firewall: its nftables table is ip <prefix in lower case>"),
			cmdline.Strings("default-address-pool", nil, "address pool for networks created without a subnet: base=10.10.0.0/16,size=24 (repeatable)").WithAliases("default-address-pools"),
			cmdline.Strings("dns-upstreams", nil, "resolver (ip or ip:port) the embedded DNS forwards to (default: the host's resolv.conf)").WithAliases("dns-upstream"),
			cmdline.Strings("insecure-registries", nil, "registry (host:port or CIDR) reached over plain HTTP / without TLS verification; loopback always is (repeatable)").WithAliases("insecure-registry"),
			cmdline.Strings("registry-mirrors", nil, "mirror tried before a registry for pulls: host=URL, e.g. docker.io=http://127.0.0.1:5001 (repeatable)").WithAliases("registry-mirror"),
			cmdline.Strings("cdi-spec-dir", nil, "directory of CDI device specs (repeatable; default /etc/cdi and /var/run/cdi; \"\" alone: CDI off)").WithAliases("cdi-spec-dirs"),
			cmdline.String("registry-ca-dir", "", "per-registry certificates: <dir>/<host:port>/*.crt, client .cert/.key"),
			cmdline.String("tcp-address", "", "also serve the API on this host:port, with mutual TLS (needs --tlscacert, --tlscert, --tlskey)"),
			cmdline.Bool("docker-api", d.DockerAPI, "serve the Docker Engine API (--docker-api=false turns it off)"),
			cmdline.String("docker-socket", "", "Docker Engine API socket (default <state>/docker.sock)"),
			cmdline.String("docker-tcp-address", "", "also serve the Docker Engine API on this host:port, with mutual TLS (needs --tlscacert, --tlscert, --tlskey)"),
			cmdline.String("ui", "", "serve the web dashboard on this host:port, e.g. 127.0.0.1:7070 (off by default; berth ui prints its login address); not loopback: mutual TLS"),
			cmdline.String("tlscacert", "", "CA that signs the TCP API's client certificates"),
			cmdline.String("tlscert", "", "berthd's TLS certificate for the TCP API"),
			cmdline.String("tlskey", "", "berthd's TLS key for the TCP API"),
			cmdline.String("log-max-size", d.LogMaxSize, "default size at which container logs rotate (-1: never)"),
			cmdline.Int("log-max-file", d.LogMaxFile, "default number of container log files kept"),
			cmdline.String("builder-idle-timeout", d.BuilderIdleTimeout, "stop berth-buildkitd after this long without a build (-1: never)"),
			cmdline.String("build-cache-max-size", "", "cap of the build cache's garbage collection (default: 10% of the disk, at most 100 GB)"),
			cmdline.Bool("enable-berth-snapshotter", d.EnableBerthSnapshotter, "run berth-snapshotter and register it as containerd's snapshotter \"berth\""),
			cmdline.Bool("api-reflection", d.APIReflection, "serve gRPC server reflection on the API (--api-reflection=false: off)"),
			cmdline.String("cluster-node-timeout", d.ClusterNodeTimeout, "in a cluster: how long a node that stopped heartbeating is still reported ready (2s to 1m)"),
			cmdline.String("service-drain-period", d.ServiceDrainPeriod, "in a cluster: how long a service task stays up after it left the load balancers, before it is stopped (0 to 1m)"),
			cmdline.String("host-gateway-ip", "", "address of host-gateway in containers' --add-host (default: the gateway of the container's network)"),
			cmdline.String("default-ipc-mode", "", "IPC mode of containers created without one: private or shareable (default private)"),
			cmdline.String("default-cgroupns-mode", "", "cgroup namespace mode of containers created without one: private or host (default private on cgroup v2, host on v1)"),
			cmdline.Bool("debug", false, "debug logs (berthd and its children)").WithAliases("D"),
			cmdline.String("log-format", "text", "berthd's log format: text or json"),
			cmdline.Bool("uninstall", false, "remove berth's networks, bridges and firewall (nftables table) from the host, then exit (berthd must be stopped)"),
		},
	}
}

func loadConfig(c *cmdline.Command) (*config.Config, error) {
	cfg, err := config.Load(c.String("config"))
	if err != nil {
		return nil, err
	}
	str := map[string]*string{
		"root": &cfg.Root, "state": &cfg.State, "socket": &cfg.Socket, "socket-group": &cfg.SocketGroup,
		"containerd-address": &cfg.ContainerdAddress, "namespace": &cfg.Namespace, "runtime": &cfg.Runtime, "cgroup-driver": &cfg.CgroupDriver,
		"snapshotter": &cfg.Snapshotter, "cni-bin-dir": &cfg.CNIBinDir, "log-max-size": &cfg.LogMaxSize,
		"builder-idle-timeout": &cfg.BuilderIdleTimeout, "build-cache-max-size": &cfg.BuildCacheMaxSize,
		"bridge": &cfg.Bridge, "bridge-subnet": &cfg.BridgeSubnet, "firewall-prefix": &cfg.FirewallPrefix,
		"tcp-address": &cfg.TCPAddress, "tlscacert": &cfg.TLSCACert, "tlscert": &cfg.TLSCert, "tlskey": &cfg.TLSKey,
		"docker-socket": &cfg.DockerSocket, "ui": &cfg.UI, "docker-tcp-address": &cfg.DockerTCPAddress,
		"host-gateway-ip": &cfg.HostGatewayIP, "default-ipc-mode": &cfg.DefaultIpcMode, "default-cgroupns-mode": &cfg.DefaultCgroupnsMode,
	}
	for name, p := range str {
		if c.IsSet(name) {
			*p = c.String(name)
		}
	}
	if c.IsSet("docker-api") {
		cfg.DockerAPI = c.Bool("docker-api")
	}
	if c.IsSet("bin-dirs") {
		cfg.BinDirs = c.Strings("bin-dirs")
	}
	if c.IsSet("default-address-pool") {
		// List values split at commas (as urfave/cli's did): "base=…,size=…"
		// arrives as two.
		cfg.DefaultAddressPools = nil
		var cur []string
		flush := func() error {
			if len(cur) == 0 {
				return nil
			}
			p, err := config.ParseAddressPool(strings.Join(cur, ","))
			cfg.DefaultAddressPools = append(cfg.DefaultAddressPools, p)
			cur = nil
			return err
		}
		for _, v := range c.Strings("default-address-pool") {
			if strings.HasPrefix(v, "base=") {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			cur = append(cur, v)
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if c.IsSet("dns-upstreams") {
		cfg.DNSUpstreams = c.Strings("dns-upstreams")
	}
	if c.IsSet("insecure-registries") {
		cfg.InsecureRegistries = c.Strings("insecure-registries")
	}
	if c.IsSet("registry-mirrors") {
		cfg.RegistryMirrors = map[string][]string{}
		for _, v := range c.Strings("registry-mirrors") {
			host, u, ok := strings.Cut(v, "=")
			if !ok {
				return nil, fmt.Errorf("--registry-mirror %q: want host=URL", v)
			}
			cfg.RegistryMirrors[host] = append(cfg.RegistryMirrors[host], u)
		}
	}
	if c.IsSet("cdi-spec-dir") {
		// As dockerd: --cdi-spec-dir "" alone leaves no directory (CDI off).
		cfg.CDISpecDirs = []string{}
		for _, d := range c.Strings("cdi-spec-dir") {
			if d != "" {
				cfg.CDISpecDirs = append(cfg.CDISpecDirs, d)
			}
		}
	}
	if c.IsSet("registry-ca-dir") {
		cfg.RegistryCADir = c.String("registry-ca-dir")
	}
	if c.IsSet("log-max-file") {
		cfg.LogMaxFile = c.Int("log-max-file")
	}
	if c.IsSet("api-reflection") {
		cfg.APIReflection = c.Bool("api-reflection")
	}
	if c.IsSet("cluster-node-timeout") {
		cfg.ClusterNodeTimeout = c.String("cluster-node-timeout")
	}
	if c.IsSet("service-drain-period") {
		cfg.ServiceDrainPeriod = c.String("service-drain-period")
	}
	if c.IsSet("debug") {
		cfg.Debug = c.Bool("debug")
	}
	if c.IsSet("enable-berth-snapshotter") {
		cfg.EnableBerthSnapshotter = c.Bool("enable-berth-snapshotter")
	}
	return cfg, cfg.Validate()
}

func newLogger(format string, debug bool) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if debug {
		opts.Level = slog.LevelDebug
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is neither text nor json", format)
}

func run(c *cmdline.Command) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	logger, err := newLogger(c.String("log-format"), cfg.Debug)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if c.Bool("uninstall") {
		return uninstall(ctx, cfg, logger)
	}
	// berthd outlives its terminal session. Caught rather than ignored: an
	// ignored signal would stay ignored in containerd, the shims and the
	// containers they exec.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			logger.Info("SIGHUP ignored")
		}
	}()
	logger.Info("starting berthd", "version", version, "pid", os.Getpid(), "config", c.String("config"))
	return daemon.Run(ctx, daemon.Options{
		Config:   cfg,
		Logger:   logger,
		Register: register,
		// Message size limits (docs/api.md "Limits").
		ServerOptions: apiserver.ServerOptions(),
	})
}
