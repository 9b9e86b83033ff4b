// Package engine is berth's embeddable container engine: a thin layer that
// turns container and image requests into containerd calls. berthd serves it
// over gRPC; an orchestrator can use it directly with engine.New. An Engine
// hands out one service per API noun (Containers, Images, Networks,
// Volumes), each implementing its interface of pkg/api, and implements the
// daemon-wide one (System) itself.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/cni"
	"github.com/berthproject/berth/engine/build"
	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/container"
	eventbus "github.com/berthproject/berth/engine/events"
	"github.com/berthproject/berth/engine/image"
	"github.com/berthproject/berth/engine/internal/lease"
	"github.com/berthproject/berth/engine/network"
	"github.com/berthproject/berth/engine/network/overlay"
	"github.com/berthproject/berth/engine/network/servicelb"
	"github.com/berthproject/berth/engine/service"
	"github.com/berthproject/berth/engine/volume"
	"github.com/berthproject/berth/pkg/containerio"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// Defaults of an engine built with no options.
const (
	DefaultContainerdAddress = "/run/berth/containerd/containerd.sock"
	DefaultNamespace         = "berth"
	DefaultRoot              = "/var/lib/berth"
	DefaultState             = "/run/berth"
	DefaultRuntime           = container.RuntimeBerth
	DefaultSnapshotter       = "berth"
	DefaultBinDir            = "/usr/local/lib/berth"
)

// Engine is berth's engine: the container and image services over one
// containerd namespace, and the event bus they publish on.
type Engine struct {
	cfg        config
	client     *client.Client
	containers *container.Service
	images     *image.Service
	networks   *cni.Manager // the plumbing under network
	overlay    *overlay.Service
	network    *network.Service
	volumes    *volume.Service
	cluster    *cluster.Service
	servicelb  *servicelb.Controller
	services   *service.Service
	events     *eventbus.Bus
	builds     *build.Service
	runc       binVersion // runc's, for Version

	cancel context.CancelFunc
	done   sync.WaitGroup
}

type config struct {
	containerdAddress string
	namespace         string
	root, state       string
	runtime           string
	snapshotter       string
	binDirs           []string
	logMaxSize        int64
	logMaxFiles       int
	cgroupDriver      string
	defaultIpcMode    string
	defaultCgroupns   string
	logger            *slog.Logger
	client            *client.Client
	network           *cni.Config // nil: defaults under root/state; see WithNetwork
	noNetwork         bool
	registry          image.RegistryOptions
	builder           build.Options
	cluster           *cluster.Options // nil: no cluster service
	serviceDrain      *time.Duration   // nil: service.DefaultDrainPeriod
	cdiSpecDirs       []string         // empty: CDI off
}

// Option configures New.
type Option func(*config)

// WithContainerdAddress is the containerd socket to use.
func WithContainerdAddress(addr string) Option { return func(c *config) { c.containerdAddress = addr } }

// WithContainerdClient uses an existing containerd client (its address option is then ignored).
func WithContainerdClient(cl *client.Client) Option { return func(c *config) { c.client = cl } }

// WithNamespace is the containerd namespace everything lives in.
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithRoot is the directory for persistent files (container logs and files).
func WithRoot(dir string) Option { return func(c *config) { c.root = dir } }

// WithState is the directory for runtime files (attach sockets, runc state).
func WithState(dir string) Option { return func(c *config) { c.state = dir } }

// WithCgroupDriver is who makes containers' cgroups: "cgroupfs" (the
// default) or "systemd" (transient scopes; the host's init must be systemd).
func WithCgroupDriver(name string) Option { return func(c *config) { c.cgroupDriver = name } }

// WithNamespaceDefaults sets the IPC mode and cgroup namespace mode of
// containers created without one ("" each: private IPC; a private cgroup
// namespace on cgroup v2, the host's on v1). They are recorded in the
// container at its creation, so a later change does not touch it.
func WithNamespaceDefaults(ipcMode, cgroupnsMode string) Option {
	return func(c *config) { c.defaultIpcMode, c.defaultCgroupns = ipcMode, cgroupnsMode }
}

// WithRuntime is the default runtime for new containers.
func WithRuntime(name string) Option { return func(c *config) { c.runtime = name } }

// WithSnapshotter is the snapshotter for images and containers.
func WithSnapshotter(name string) Option { return func(c *config) { c.snapshotter = name } }

// WithBinDirs are the directories where berth-logger and runc are found
// (then $PATH).
func WithBinDirs(dirs ...string) Option { return func(c *config) { c.binDirs = dirs } }

// WithLogDefaults sets the default log rotation of containers.
func WithLogDefaults(maxSize int64, maxFiles int) Option {
	return func(c *config) { c.logMaxSize, c.logMaxFiles = maxSize, maxFiles }
}

// WithNetwork configures berth's networking (bridge name, subnets, firewall
// chain prefix, plugin dirs). Root and State default to the engine's.
func WithNetwork(cfg cni.Config) Option { return func(c *config) { c.network = &cfg } }

// WithoutNetwork runs containers without berth's networking: the default
// network mode becomes "none" (host mode still works).
func WithoutNetwork() Option { return func(c *config) { c.noNetwork = true } }

// WithRegistry sets the registry options of pulls and pushes (insecure
// registries, mirrors, CA certificates).
func WithRegistry(o image.RegistryOptions) Option { return func(c *config) { c.registry = o } }

// WithCluster gives the engine its cluster service (engine/cluster):
// berthd's control plane across hosts. Root, State, BinDirs and Logger
// default to the engine's. Without it the engine has no cluster service.
func WithCluster(o cluster.Options) Option { return func(c *config) { c.cluster = &o } }

// WithServiceDrainPeriod is how long a service task of this node stays up
// after it left the load balancers, before it is stopped (default
// service.DefaultDrainPeriod, Docker's 2 s; 0: none).
func WithServiceDrainPeriod(d time.Duration) Option {
	return func(c *config) { c.serviceDrain = &d }
}

// WithBuilder sets the builder's idle timeout, cache cap and debug
// logging; its paths and containerd settings are the engine's.
func WithBuilder(o build.Options) Option { return func(c *config) { c.builder = o } }

// WithCDISpecDirs are the directories Container Device Interface specs
// are read from (default /etc/cdi and /var/run/cdi, as Docker); none turns
// CDI off.
func WithCDISpecDirs(dirs ...string) Option {
	return func(c *config) { c.cdiSpecDirs = append([]string{}, dirs...) }
}

// WithLogger is where the engine logs.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// New connects to containerd and starts the engine: it rebuilds its caches
// from containerd and begins following containerd's events (exits, restart
// policies). Close stops it; containers keep running.
func New(ctx context.Context, opts ...Option) (*Engine, error) {
	cfg := config{
		containerdAddress: DefaultContainerdAddress,
		namespace:         DefaultNamespace,
		root:              DefaultRoot,
		state:             DefaultState,
		runtime:           DefaultRuntime,
		snapshotter:       DefaultSnapshotter,
		binDirs:           []string{DefaultBinDir},
		logMaxSize:        containerio.DefaultMaxSize,
		logMaxFiles:       containerio.DefaultMaxFiles,
		logger:            slog.Default(),
		cdiSpecDirs:       container.DefaultCDISpecDirs,
	}
	for _, o := range opts {
		o(&cfg)
	}
	loggerPath, err := lookBin(cfg.binDirs, containerio.LoggerName)
	if err != nil {
		return nil, err
	}
	runcPath, _ := lookBin(cfg.binDirs, "runc")
	initPath, _ := lookBin(cfg.binDirs, "tini-static") // --init; Debian's tini-static
	for _, dir := range []string{cfg.root, cfg.state} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
	}
	cl := cfg.client
	if cl == nil {
		cl, err = client.New(cfg.containerdAddress, client.WithDefaultNamespace(cfg.namespace))
		if err != nil {
			return nil, fmt.Errorf("connecting to containerd at %s: %w", cfg.containerdAddress, err)
		}
	}
	warnVersionSkew(ctx, cl, cfg.logger)
	// The leases of operations that a killed berthd cut off (a create's
	// new snapshot, a pull's downloads) go before anything starts.
	if _, err := lease.RemoveStale(namespaces.WithNamespace(ctx, cfg.namespace), cl, cfg.logger); err != nil {
		cfg.logger.Warn("removing the leases of cut-off operations", "err", err)
	}
	bus := eventbus.NewBus()
	e := &Engine{cfg: cfg, client: cl, events: bus}
	if !cfg.noNetwork {
		ncfg := cni.Config{}
		if cfg.network != nil {
			ncfg = *cfg.network
		}
		if ncfg.Root == "" {
			ncfg.Root = cfg.root
		}
		if ncfg.State == "" {
			ncfg.State = cfg.state
		}
		if len(ncfg.PluginDirs) == 0 {
			for _, d := range cfg.binDirs {
				ncfg.PluginDirs = append(ncfg.PluginDirs, filepath.Join(d, "cni"), d)
			}
		}
		// The overlay driver is always there; it works once the node is in
		// a cluster (Overlay().SetStore).
		if e.overlay, err = overlay.New(overlay.Options{Logger: cfg.logger}); err != nil {
			if cfg.client == nil {
				cl.Close()
			}
			return nil, err
		}
		ncfg.Drivers = append(ncfg.Drivers, e.overlay)
		if e.networks, err = cni.New(ctx, ncfg); err != nil {
			e.overlay.Close()
			if cfg.client == nil {
				cl.Close()
			}
			return nil, fmt.Errorf("starting networking: %w", err)
		}
		e.overlay.Bind(e.networks)
	}
	e.images = image.New(cl, image.Options{
		Namespace:   cfg.namespace,
		Snapshotter: cfg.snapshotter,
		Events:      bus,
		Registry:    cfg.registry,
		InUse: func(ctx context.Context, imageID string) ([]string, error) {
			return e.containers.UsingImage(ctx, imageID)
		},
	})
	if e.volumes, err = volume.New(volume.Options{
		Root: cfg.root, Events: bus, Logger: cfg.logger,
		InUse: func(ctx context.Context) (map[string][]string, error) {
			return e.containers.VolumeUsers(ctx)
		},
	}); err != nil {
		if cfg.client == nil {
			cl.Close()
		}
		return nil, err
	}
	copts := container.Options{
		Client:              cl,
		Namespace:           cfg.namespace,
		Root:                cfg.root,
		State:               cfg.state,
		Runtime:             cfg.runtime,
		Snapshotter:         cfg.snapshotter,
		LoggerPath:          loggerPath,
		RuncPath:            runcPath,
		InitPath:            initPath,
		LogMaxSize:          cfg.logMaxSize,
		LogMaxFiles:         cfg.logMaxFiles,
		CgroupDriver:        cfg.cgroupDriver,
		DefaultIpcMode:      cfg.defaultIpcMode,
		DefaultCgroupnsMode: cfg.defaultCgroupns,
		Images:              imageResolver{e.images},
		Events:              bus,
		Logger:              cfg.logger,
		Volumes:             e.volumes,
		CDISpecDirs:         cfg.cdiSpecDirs,
	}
	if e.networks != nil { // a nil *cni.Manager must stay a nil interface
		copts.Networks = e.networks
	}
	e.containers, err = container.New(ctx, copts)
	if err != nil {
		if cfg.client == nil {
			cl.Close()
		}
		return nil, err
	}
	if e.networks != nil {
		e.network = network.New(network.Options{Manager: e.networks, Containers: e.containers, Events: bus, Overlay: e.overlay})
	}
	e.builds = newBuilder(ctx, cfg, e.networks)
	if cfg.cluster != nil {
		co := *cfg.cluster
		if co.Root == "" {
			co.Root = cfg.root
		}
		if co.State == "" {
			co.State = cfg.state
		}
		if len(co.BinDirs) == 0 {
			co.BinDirs = cfg.binDirs
		}
		if co.Logger == nil {
			co.Logger = cfg.logger
		}
		if e.cluster, err = cluster.New(co); err != nil {
			if cfg.client == nil {
				cl.Close()
			}
			return nil, err
		}
		if e.overlay != nil { // overlay networks follow the node into and out of a cluster
			e.cluster.OnStore(e.overlay.SetStore)
			// Services' VIPs, DNS names and published ports on this node.
			if e.servicelb, err = servicelb.New(servicelb.Options{Logger: cfg.logger, Overlay: e.overlay, Manager: e.networks}); err != nil {
				if cfg.client == nil {
					cl.Close()
				}
				return nil, err
			}
			e.cluster.OnStore(e.servicelb.SetStore)
		}
		so := service.Options{Logger: cfg.logger, Peers: e.cluster, Publish: bus.Publish, DrainPeriod: service.DefaultDrainPeriod}
		if cfg.serviceDrain != nil {
			so.DrainPeriod = *cfg.serviceDrain
		}
		if e.containers != nil && e.images != nil {
			so.Engine = service.Engine{Containers: e.containers, Images: e.images, Subscribe: bus.Subscribe}
		}
		if e.network != nil && e.overlay != nil {
			so.CreateNetwork = e.network.Create
		}
		e.services = service.New(so)
		e.cluster.Handle(service.LogsPath, e.services.LogsHandler())
		if e.overlay != nil {
			e.overlay.AllowTasks(e.services.IsTaskContainer)
		}
		e.cluster.OnStore(e.services.SetStore)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	e.done.Add(1)
	go func() {
		defer e.done.Done()
		e.containers.Run(runCtx)
	}()
	return e, nil
}

// Close stops following containerd and closes the connection. Containers
// keep running.
func (e *Engine) Close() error {
	if err := e.builds.Close(); err != nil {
		e.cfg.logger.Warn("stop the builder", "error", err)
	}
	e.cancel()
	e.done.Wait()
	if e.services != nil {
		e.services.Close()
	}
	if e.servicelb != nil {
		e.servicelb.Close()
	}
	if e.overlay != nil {
		e.overlay.Close()
	}
	if e.cluster != nil {
		if err := e.cluster.Close(); err != nil {
			e.cfg.logger.Warn("leave the cluster store", "error", err)
		}
	}
	if e.networks != nil {
		e.networks.Close()
	}
	if e.cfg.client != nil {
		return nil
	}
	return e.client.Close()
}

// Containers is the container service.
func (e *Engine) Containers() *container.Service { return e.containers }

// Images is the image service.
func (e *Engine) Images() *image.Service { return e.images }

// Networks is the network service (nil when the engine runs WithoutNetwork).
func (e *Engine) Networks() *network.Service { return e.network }

// CNI is the network plumbing under Networks (nil when the engine runs
// WithoutNetwork): a container's sandbox, the firewall, Uninstall.
func (e *Engine) CNI() *cni.Manager { return e.networks }

// Overlay is the overlay network driver and its control plane (nil when
// the engine runs WithoutNetwork): the cluster service hands it the
// cluster store (SetStore) when the node joins a cluster.
func (e *Engine) Overlay() *overlay.Service { return e.overlay }

// Volumes is the volume service.
func (e *Engine) Volumes() *volume.Service { return e.volumes }

// Services is the service noun (replicated services on the cluster; nil
// unless the engine was built WithCluster).
func (e *Engine) Services() *service.Service { return e.services }

// Cluster is the cluster service (nil unless the engine was built
// WithCluster). Its Store is nil while the node is in no cluster.
func (e *Engine) Cluster() *cluster.Service { return e.cluster }

// Events is the event bus.
func (e *Engine) Events() *eventbus.Bus { return e.events }

// Builds is the builder (berth-buildkitd, started on demand).
func (e *Engine) Builds() *build.Service { return e.builds }

// newBuilder is the build service on the engine's containerd, namespace
// and snapshotter, with its files under root and state. A builder a
// previous berthd left running is adopted, so its idle timer stops it.
func newBuilder(ctx context.Context, cfg config, nets *cni.Manager) *build.Service {
	o := cfg.builder
	if nets != nil {
		// RUN steps on berth's default bridge.
		o.StepNetwork = nets.BuildConflist
	}
	o.Binary, _ = lookBin(cfg.binDirs, build.BinaryName)
	o.Root = filepath.Join(cfg.root, "buildkit")
	o.State = filepath.Join(cfg.state, "buildkit")
	o.ContainerdAddress = cfg.containerdAddress
	o.Namespace = cfg.namespace
	o.Snapshotter = cfg.snapshotter
	o.Runtime = cfg.runtime
	o.Logger = cfg.logger
	s := build.New(o)
	s.AdoptLeftover(context.WithoutCancel(ctx))
	return s
}

// Client is the engine's containerd client.
func (e *Engine) Client() *client.Client { return e.client }

// Ping checks that containerd answers.
func (e *Engine) Ping(ctx context.Context) error {
	// While the container service's event stream from containerd is up,
	// containerd serves (its end closes the stream at once): no round trip,
	// as the docker CLI pings before every command.
	if e.containers.Connected() {
		return nil
	}
	ok, err := e.client.IsServing(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("containerd is not serving: %w", errdefs.ErrUnavailable)
	}
	return nil
}

// imageResolver adapts the image service to what the container service needs.
type imageResolver struct{ images *image.Service }

func (r imageResolver) ResolveForRun(ctx context.Context, ref string) (container.ResolvedImage, error) {
	res, err := r.images.ResolveForRun(ctx, ref)
	if err != nil {
		return container.ResolvedImage{}, err
	}
	return container.ResolvedImage{Name: res.Name, ID: res.ID, Config: res.Config, ChainID: res.ChainID, Healthcheck: res.Healthcheck}, nil
}

func (r imageResolver) Commit(ctx context.Context, req imagetypes.CommitRequest) (*imagetypes.Image, error) {
	return r.images.Commit(ctx, req)
}

// lookBin finds a binary in dirs, then in $PATH.
func lookBin(dirs []string, name string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found in %v or $PATH: install berth (make install): %w", name, dirs, errdefs.ErrNotFound)
	}
	return filepath.Abs(p)
}
