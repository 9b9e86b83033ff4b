package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/cmd/berthd/internal/daemon"
)

// newApp builds berthd's command line: a flag for every config key (the
// key with dashes), applied over the config file when set.
func newApp() *cli.App {
	d := config.Default()
	return &cli.App{
		Name:  "berthd",
		Usage: "berth's container engine daemon",
		UsageText: "berthd [OPTIONS]\n\n" +
			"Settings come from the config file, then from these flags (which win).\n" +
			"Each flag is also a key of the file, with underscores (--bin-dirs: bin_dirs).\n" +
			"See docs/operations.md.",
		Version:         version,
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Value: config.DefaultPath, Usage: "config file (a missing file means defaults)", EnvVars: []string{"BERTHD_CONFIG"}},
			&cli.StringFlag{Name: "root", Value: d.Root, Usage: "directory for persistent data"},
			&cli.StringFlag{Name: "state", Value: d.State, Usage: "directory for runtime data (sockets, pid files)"},
			&cli.StringFlag{Name: "socket", Usage: "API socket (default <state>/berth.sock)"},
			&cli.StringFlag{Name: "socket-group", Value: d.SocketGroup, Usage: "group owning the API socket, if it exists"},
			&cli.StringFlag{Name: "containerd-address", Usage: "use the containerd at this socket instead of running one"},
			&cli.StringFlag{Name: "namespace", Value: d.Namespace, Usage: "containerd namespace"},
			&cli.StringFlag{Name: "runtime", Value: d.Runtime, Usage: "containerd runtime for containers"},
			&cli.StringFlag{Name: "cgroup-driver", Value: d.CgroupDriver, Usage: "who makes containers' cgroups: cgroupfs or systemd (needs systemd as init)"},
			&cli.StringFlag{Name: "snapshotter", Value: d.Snapshotter, Usage: "containerd snapshotter for images and containers"},
			&cli.StringSliceFlag{Name: "bin-dirs", Aliases: []string{"bin-dir"}, Value: cli.NewStringSlice(d.BinDirs...), Usage: "directories searched before $PATH for containerd, runc, shims, logger, snapshotter"},
			&cli.StringFlag{Name: "cni-bin-dir", Value: d.CNIBinDir, Usage: "directory of the CNI plugins"},
			&cli.StringFlag{Name: "bridge", Value: d.Bridge, Usage: "interface name of the default bridge network (none: no default network, as dockerd -b none)"},
			&cli.StringFlag{Name: "bridge-subnet", Usage: "subnet of the default bridge network (default 172.17.0.0/16, or a free pool subnet)"},
			&cli.StringFlag{Name: "firewall-prefix", Value: d.FirewallPrefix, Usage: "prefix of berth's firewall: its nftables table is ip <prefix in lower case>"},
			&cli.StringSliceFlag{Name: "default-address-pool", Aliases: []string{"default-address-pools"}, Usage: "address pool for networks created without a subnet: base=10.10.0.0/16,size=24 (repeatable)"},
			&cli.StringSliceFlag{Name: "dns-upstreams", Aliases: []string{"dns-upstream"}, Usage: "resolver (ip or ip:port) the embedded DNS forwards to (default: the host's resolv.conf)"},
			&cli.StringSliceFlag{Name: "insecure-registries", Aliases: []string{"insecure-registry"}, Usage: "registry (host:port or CIDR) reached over plain HTTP / without TLS verification; loopback always is (repeatable)"},
			&cli.StringSliceFlag{Name: "registry-mirrors", Aliases: []string{"registry-mirror"}, Usage: "mirror tried before a registry for pulls: host=URL, e.g. docker.io=http://127.0.0.1:5001 (repeatable)"},
			&cli.StringSliceFlag{Name: "cdi-spec-dir", Aliases: []string{"cdi-spec-dirs"}, Usage: "directory of CDI device specs (repeatable; default /etc/cdi and /var/run/cdi; \"\" alone: CDI off)"},
			&cli.StringFlag{Name: "registry-ca-dir", Usage: "per-registry certificates: <dir>/<host:port>/*.crt, client .cert/.key"},
			&cli.StringFlag{Name: "tcp-address", Usage: "also serve the API on this host:port, with mutual TLS (needs --tlscacert, --tlscert, --tlskey)"},
			&cli.BoolFlag{Name: "docker-api", Value: d.DockerAPI, Usage: "serve the Docker Engine API (--docker-api=false turns it off)"},
			&cli.StringFlag{Name: "docker-socket", Usage: "Docker Engine API socket (default <state>/docker.sock)"},
			&cli.StringFlag{Name: "docker-tcp-address", Usage: "also serve the Docker Engine API on this host:port, with mutual TLS (needs --tlscacert, --tlscert, --tlskey)"},
			&cli.StringFlag{Name: "ui", Usage: "serve the web dashboard on this host:port, e.g. 127.0.0.1:7070 (off by default; berth ui prints its login address); not loopback: mutual TLS"},
			&cli.StringFlag{Name: "tlscacert", Usage: "CA that signs the TCP API's client certificates"},
			&cli.StringFlag{Name: "tlscert", Usage: "berthd's TLS certificate for the TCP API"},
			&cli.StringFlag{Name: "tlskey", Usage: "berthd's TLS key for the TCP API"},
			&cli.StringFlag{Name: "log-max-size", Value: d.LogMaxSize, Usage: "default size at which container logs rotate (-1: never)"},
			&cli.IntFlag{Name: "log-max-file", Value: d.LogMaxFile, Usage: "default number of container log files kept"},
			&cli.StringFlag{Name: "builder-idle-timeout", Value: d.BuilderIdleTimeout, Usage: "stop berth-buildkitd after this long without a build (-1: never)"},
			&cli.StringFlag{Name: "build-cache-max-size", Usage: "cap of the build cache's garbage collection (default: 10% of the disk, at most 100 GB)"},
			&cli.BoolFlag{Name: "enable-berth-snapshotter", Value: d.EnableBerthSnapshotter, Usage: "run berth-snapshotter and register it as containerd's snapshotter \"berth\""},
			&cli.BoolFlag{Name: "api-reflection", Value: d.APIReflection, Usage: "serve gRPC server reflection on the API (--api-reflection=false: off)"},
			&cli.StringFlag{Name: "cluster-node-timeout", Value: d.ClusterNodeTimeout, Usage: "in a cluster: how long a node that stopped heartbeating is still reported ready (2s to 1m)"},
			&cli.StringFlag{Name: "service-drain-period", Value: d.ServiceDrainPeriod, Usage: "in a cluster: how long a service task stays up after it left the load balancers, before it is stopped (0 to 1m)"},
			&cli.StringFlag{Name: "host-gateway-ip", Usage: "address of host-gateway in containers' --add-host (default: the gateway of the container's network)"},
			&cli.StringFlag{Name: "default-ipc-mode", Usage: "IPC mode of containers created without one: private or shareable (default private)"},
			&cli.StringFlag{Name: "default-cgroupns-mode", Usage: "cgroup namespace mode of containers created without one: private or host (default private on cgroup v2, host on v1)"},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"D"}, Usage: "debug logs (berthd and its children)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "berthd's log format: text or json"},
			&cli.BoolFlag{Name: "uninstall", Usage: "remove berth's networks, bridges and firewall (nftables table) from the host, then exit (berthd must be stopped)"},
		},
		Action: run,
	}
}

func loadConfig(c *cli.Context) (*config.Config, error) {
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
		cfg.BinDirs = c.StringSlice("bin-dirs")
	}
	if c.IsSet("default-address-pool") {
		// urfave splits values at commas: "base=…,size=…" arrives as two.
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
		for _, v := range c.StringSlice("default-address-pool") {
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
		cfg.DNSUpstreams = c.StringSlice("dns-upstreams")
	}
	if c.IsSet("insecure-registries") {
		cfg.InsecureRegistries = c.StringSlice("insecure-registries")
	}
	if c.IsSet("registry-mirrors") {
		cfg.RegistryMirrors = map[string][]string{}
		for _, v := range c.StringSlice("registry-mirrors") {
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
		for _, d := range c.StringSlice("cdi-spec-dir") {
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

func run(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	logger, err := newLogger(c.String("log-format"), cfg.Debug)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
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
