// Package container is the engine's container service: it turns Docker-style
// lifecycle requests into containerd calls. containerd's metadata store is the
// source of truth; this package only keeps caches it can rebuild (the name
// index, waiters, pending attachments).
package container

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/cni"
	eventbus "github.com/berthproject/berth/engine/events"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// ResolvedImage is what Create needs to know about an image.
type ResolvedImage struct {
	Name    string // the name stored in containerd (docker.io/library/busybox:latest), or the ID
	ID      string // config digest, Docker's image ID
	Config  ocispec.Image
	ChainID string // the snapshot the container's layer is prepared on
	// Healthcheck is the image's Docker HEALTHCHECK, nil if none.
	Healthcheck *containertypes.HealthConfig
}

// Networks is what the service needs of berth's networking (*cni.Manager):
// the networks a container names, and its sandbox (network namespace,
// endpoints, /etc/hosts and resolv.conf) from start to exit. An interface,
// as Images and Volumes, so that the service can be tested without CNI.
type Networks interface {
	Inspect(ctx context.Context, ref string) (*networktypes.Network, error)
	Setup(ctx context.Context, req cni.SetupRequest) (*cni.Sandbox, error)
	Teardown(ctx context.Context, containerID string) error
	Release(ctx context.Context, containerID string) error
	GC(ctx context.Context, valid []string) error
	Sandbox(ctx context.Context, containerID string) (*cni.Sandbox, error)
	SetExtraHosts(ctx context.Context, containerID string, hosts []string) (*cni.Sandbox, error)
	Connect(ctx context.Context, containerID string, att cni.Attachment) (*cni.Endpoint, error)
	Disconnect(ctx context.Context, containerID, network string) error
	Rename(ctx context.Context, containerID, newName string) error
	NetNSPath(containerID string) string
	HostsFile(sb *cni.Sandbox) ([]byte, error)
	ResolvConf(sb *cni.Sandbox) ([]byte, error)
}

var _ Networks = (*cni.Manager)(nil)

// Images resolves a user's image reference for Create. It must make sure the
// image is unpacked into the service's snapshotter.
type Images interface {
	ResolveForRun(ctx context.Context, ref string) (ResolvedImage, error)
	// Commit makes an image of a parent image and one more layer (the
	// container's changes).
	Commit(ctx context.Context, req imagetypes.CommitRequest) (*imagetypes.Image, error)
}

// Options configure a Service.
type Options struct {
	Client      *client.Client
	Namespace   string
	Root        string // <root>: per-container files live in <root>/containers/<id>
	State       string // <state>: attach sockets in <state>/io, runc root in <state>/runc
	Runtime     string // default runtime, e.g. io.containerd.runc.v2 or io.containerd.berth.v2
	Snapshotter string
	LoggerPath  string // absolute path of berth-logger
	RuncPath    string // absolute path of runc ("" = runc from the shim's PATH)
	InitPath    string // a static init for --init (tini-static; "" = --init refused)
	// CgroupDriver makes containers' cgroups: CgroupDriverCgroupfs ("" too)
	// or CgroupDriverSystemd.
	CgroupDriver string
	// DefaultIpcMode and DefaultCgroupnsMode are given to a container
	// created without an IPC mode or cgroup namespace mode ("": berth's
	// defaults, private IPC and a private cgroup namespace on cgroup v2).
	DefaultIpcMode      string
	DefaultCgroupnsMode string
	LogMaxSize          int64
	LogMaxFiles         int
	Images              Images
	// Networks is berth's network plumbing (*cni.Manager); nil means
	// containers get no network but their own loopback (and --network host).
	Networks Networks
	Events   *eventbus.Bus
	Logger   *slog.Logger
	// Volumes is the volume service (-v, --mount type=volume); nil: none.
	Volumes Volumes
	// CDISpecDirs are the directories CDI device specs are read from
	// (--device vendor.com/class=name); empty: CDI is off.
	CDISpecDirs []string
}

// Service manages containers. Create one with New and run its event monitor
// with Run.
type Service struct {
	opts   Options
	client *client.Client
	log    *slog.Logger
	events *eventbus.Bus

	mu      sync.Mutex
	records map[string]*record // by ID
	names   map[string]string  // name → ID
	execs   map[string]*execRecord
	// links are the containers' legacy links on the default bridge
	// network, by the parent's ID (links.go).
	links map[string][]link

	// startupGC is closed once Run's first reconciliation collected what a
	// crash left (files, networks). Starts other than its own wait for it:
	// the network GC takes the network of a container without a live task
	// for a leftover, so a start running meanwhile could lose its netns.
	startupGC     chan struct{}
	startupGCDone sync.Once

	// listed caches what List decodes from each container's record (its
	// berth config, the OCI spec's command, its mounts: JSON of several
	// kB each), by ID, until the record's UpdatedAt changes.
	listed sync.Map // ID → *listedInfo

	// view is List's in-memory copy of the containers (view.go).
	view *view

	// cdi resolves CDI devices (cdi.go).
	cdi *cdiRegistry
}

// New returns a service over the containerd client in opts. It loads the
// existing containers' names; call Run to monitor them.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("container service needs a containerd client: %w", errdefs.ErrInvalidArgument)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Events == nil {
		opts.Events = eventbus.NewBus()
	}
	cdiReg, err := newCDIRegistry(opts.CDISpecDirs)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cdi:     cdiReg,
		opts:    opts,
		client:  opts.Client,
		log:     opts.Logger,
		events:  opts.Events,
		records: make(map[string]*record),
		names:   make(map[string]string),
		execs:   make(map[string]*execRecord),
		links:   make(map[string][]link),

		startupGC: make(chan struct{}),
		view:      newView(),
	}
	if err := s.loadRecords(s.ctx(ctx)); err != nil {
		return nil, err
	}
	return s, nil
}

// CDI reports the directories CDI specs are read from (empty: CDI is off)
// and the fully-qualified names of the devices they provide now.
func (s *Service) CDI() (specDirs, devices []string) {
	return append([]string{}, s.cdi.dirs...), s.cdi.Devices()
}

// ctx puts the service's containerd namespace on a context.
func (s *Service) ctx(ctx context.Context) context.Context {
	return withNamespace(ctx, s.opts.Namespace)
}

func (s *Service) containerDir(id string) string {
	return filepath.Join(s.opts.Root, "containers", id)
}

func (s *Service) logPath(id string) string {
	return filepath.Join(s.containerDir(id), id+"-json.log")
}

func (s *Service) attachSocket(id string) string {
	return filepath.Join(s.opts.State, "io", id[:16]+".sock")
}

// loadRecords rebuilds the name index from containerd.
func (s *Service) loadRecords(ctx context.Context) error {
	list, err := s.containerStore().List(ctx)
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range list {
		name := c.Labels[labelName]
		if name == "" {
			continue // not a berth container
		}
		r := newRecord(c.ID, name)
		r.fromPreviousLife = true
		r.labels = userLabels(c.Labels)
		r.restartCount = atoiLabel(c.Labels[labelRestartCount])
		if c.Labels[labelStoppedByUser] == "true" {
			r.phase = phaseUserStopped
		}
		s.records[c.ID] = r
		s.names[name] = c.ID
	}
	for _, c := range list {
		if _, ok := s.records[c.ID]; !ok {
			continue
		}
		if cfg, err := configOf(c); err == nil && len(cfg.Links) > 0 {
			var links []link
			for _, l := range s.storedLinks(cfg) {
				if _, ok := s.records[l.childID]; ok {
					links = append(links, l)
				}
			}
			s.registerLinksLocked(c.ID, links)
		}
	}
	return nil
}

// lookup finds a container by full ID, name or unique ID prefix.
func (s *Service) lookup(ref string) (*record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookupLocked(ref)
}

// lookupReferenced is lookup for a container that another one's settings
// name (--volumes-from, --pid/--ipc container:NAME): a missing one is bad
// input for the new container, a 400 as in Docker, not a 404.
func (s *Service) lookupReferenced(ref, setting string) (*record, error) {
	r, err := s.lookup(ref)
	if errdefs.IsNotFound(err) {
		msg := strings.TrimSuffix(err.Error(), ": "+errdefs.ErrNotFound.Error())
		return nil, fmt.Errorf("invalid %s: %s: %w", setting, msg, errdefs.ErrInvalidArgument)
	}
	return r, err
}

func (s *Service) lookupLocked(ref string) (*record, error) {
	if ref == "" {
		return nil, fmt.Errorf("no container given: %w", errdefs.ErrInvalidArgument)
	}
	if r, ok := s.records[ref]; ok {
		return r, nil
	}
	if id, ok := s.names[strings.TrimPrefix(ref, "/")]; ok {
		if r, ok := s.records[id]; ok {
			return r, nil
		}
		// Reserved by a create still in progress: no container yet.
		return nil, fmt.Errorf("No such container: %s (a container of that name is being created): %w", ref, errdefs.ErrNotFound)
	}
	if r, ok := s.lookupLinkLocked(ref); ok {
		return r, nil
	}
	var found *record
	for id, r := range s.records {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, fmt.Errorf("multiple containers found with provided prefix: %s: %w", ref, errdefs.ErrInvalidArgument)
			}
			found = r
		}
	}
	if found == nil {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

func (s *Service) forget(r *record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, r.id)
	if s.names[r.name] == r.id {
		delete(s.names, r.name)
	}
}

// Events returns the bus the service publishes on.
func (s *Service) Events() *eventbus.Bus { return s.events }

func (s *Service) publish(r *record, action string, attrs map[string]string) {
	// As Docker, the container's labels are attributes too (events
	// --filter label=...), below the name, the image and the event's own.
	a := make(map[string]string, len(r.labels)+2+len(attrs))
	maps.Copy(a, r.labels)
	a["name"] = r.name
	if r.image != "" {
		a["image"] = r.image
	}
	for k, v := range attrs {
		a[k] = v
	}
	s.events.Publish(events.Message{
		Type:   events.TypeContainer,
		Action: action,
		Actor:  events.Actor{ID: r.id, Attributes: a},
	})
}

// userLabels are the user's labels among a container's containerd labels.
func userLabels(labels map[string]string) map[string]string {
	var out map[string]string
	for k, v := range labels {
		if name, ok := strings.CutPrefix(k, labelUserPrefix); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}
