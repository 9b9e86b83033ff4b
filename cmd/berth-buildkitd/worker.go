package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	ctd "github.com/containerd/containerd/v2/client"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/cache/remotecache"
	inlineremotecache "github.com/moby/buildkit/cache/remotecache/inline"
	localremotecache "github.com/moby/buildkit/cache/remotecache/local"
	registryremotecache "github.com/moby/buildkit/cache/remotecache/registry"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/cmd/buildkitd/config"
	"github.com/moby/buildkit/control"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/frontend"
	dockerfile "github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/gateway"
	"github.com/moby/buildkit/frontend/gateway/forwarder"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/bboltcachestorage"
	"github.com/moby/buildkit/util/bklog"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/disk"
	"github.com/moby/buildkit/util/grpcerrors"
	_ "github.com/moby/buildkit/util/grpcutil/encoding/proto"
	"github.com/moby/buildkit/util/network/cniprovider"
	"github.com/moby/buildkit/util/network/netproviders"
	"github.com/moby/buildkit/util/resolver"
	"github.com/moby/buildkit/worker"
	"github.com/moby/buildkit/worker/base"
	ctdworker "github.com/moby/buildkit/worker/containerd"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
)

// builder is BuildKit's controller over one containerd worker, modelled on
// moby's newSnapshotterController (daemon/internal/builder-next) with
// BuildKit's own containerd executor: build steps are containerd tasks in
// berth's namespace.
type builder struct {
	sessions   *session.Manager
	controller *control.Controller
	worker     *mobyWorker
	grpc       *grpc.Server
	idle       *idleWatch
	closers    []func() error
	netClosers int // closers[:netClosers] close the step networks
	// hostGateway is the steps' gateway on berth's default bridge, what
	// --add-host NAME:host-gateway names (invalid without a bridge).
	hostGateway netip.Addr
}

func newBuilder(ctx context.Context, o options) (*builder, error) {
	// What has a lease created before now is no build of this process's.
	start := time.Now()
	b := &builder{}
	ok := false
	defer func() {
		if !ok {
			b.close()
		}
	}()
	sm, err := session.NewManager()
	if err != nil {
		return nil, err
	}
	b.sessions = sm

	labels := map[string]string{"org.berthproject.builder": "berth-buildkitd"}
	if o.network == "cni" {
		gw, err := stepGateway(o.cniConfig)
		if err != nil {
			return nil, err
		}
		b.hostGateway = gw
		// buildx's docker driver reads it to put in place of
		// host-gateway in --add-host, as with dockerd.
		labels[hostGatewayLabel] = gw.String()
	}
	wo, err := ctdworker.NewWorkerOpt(ctdworker.WorkerOptions{
		Root:            o.root,
		Address:         o.containerd,
		SnapshotterName: o.snapshotter,
		Namespace:       o.namespace,
		NetworkOpt: netproviders.Opt{Mode: o.network, CNI: cniprovider.Opt{
			Root: o.root, ConfigPath: o.cniConfig, BinaryDir: o.cniBinDir,
		}},
		Runtime:      &ctdworker.RuntimeInfo{Name: o.runtime},
		CgroupParent: stepCgroupParent(o),
		Labels:       labels,
	}, ctd.WithTimeout(60*time.Second))
	if err != nil {
		return nil, err
	}
	// The step networks close first: a stop that hangs later (and is
	// killed) leaves no network namespace or veth behind.
	for _, p := range wo.NetworkProviders {
		b.closers = append(b.closers, p.Close)
	}
	b.netClosers = len(b.closers)
	noSync(wo.MetadataStore.DB()) // see durability.go
	wo.GCPolicy = gcPolicy(o)
	wo.BuildkitVersion = client.BuildkitVersion{Package: "berth-buildkitd", Version: version}
	hosts := resolver.NewRegistryConfig(nil)
	wo.RegistryHosts = hosts
	// Before the worker starts its cache manager, with the lock held: no
	// build runs.
	if err := removeStepContainers(ctx, o); err != nil {
		bklog.G(ctx).Warnf("removing what a previous run left in containerd: %v", err)
	}
	// Then what the steps left in their cgroups, which their containers'
	// removal did not end (a runc init whose shim died).
	if _, err := killStepProcesses(ctx, stepCgroupParent(o)); err != nil {
		bklog.G(ctx).Warnf("removing what build steps of a previous run left: %v", err)
	}
	bw, err := base.NewWorker(ctx, wo)
	if err != nil {
		return nil, err
	}
	b.worker = &mobyWorker{Worker: bw, exports: exportMemo{m: map[string]map[string]string{}}}
	// Once the cache manager loaded its records (and forgot those it could
	// not), before any build.
	b.idle = newIdleWatch(o, leaseSweeper{md: wo.MetadataStore, lm: wo.LeaseManager}, func(ctx context.Context) ([]*client.UsageInfo, error) {
		return bw.DiskUsage(ctx, client.DiskUsageInfo{})
	})
	if _, err := b.idle.leases.sweep(ctx, start); err != nil {
		bklog.G(ctx).Warnf("removing the leases of no cache record: %v", err)
	}
	wc := &worker.Controller{}
	if err := wc.Add(b.worker); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, wc.Close)

	gw, err := gateway.NewGatewayFrontend(wc.Infos(), nil)
	if err != nil {
		return nil, err
	}
	frontends := map[string]frontend.Frontend{
		// In process: `# syntax=` naming the built-in frontend needs no
		// registry.
		"dockerfile.v0": forwarder.NewGatewayForwarder(wc.Infos(), dockerfile.Build),
		"gateway.v0":    gw,
	}
	cacheStorage, err := bboltcachestorage.NewStore(filepath.Join(o.root, "cache.db"))
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, cacheStorage.Close)
	historyDB, err := boltutil.SafeOpen(filepath.Join(o.root, "history.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, NoSync: true})
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, historyDB.Close)

	ctrl, err := control.NewController(control.Opt{
		SessionManager:   sm,
		WorkerController: wc,
		Frontends:        frontends,
		ResolveCacheExporterFuncs: map[string]remotecache.ResolveCacheExporterFunc{
			"registry": registryremotecache.ResolveCacheExporterFunc(sm, hosts),
			"local":    localremotecache.ResolveCacheExporterFunc(sm),
			"inline":   inlineremotecache.ResolveCacheExporterFunc(),
		},
		ResolveCacheImporterFuncs: map[string]remotecache.ResolveCacheImporterFunc{
			"registry": registryremotecache.ResolveCacheImporterFunc(sm, bw.ContentStore(), hosts),
			"local":    localremotecache.ResolveCacheImporterFunc(sm),
		},
		CacheManager:   solver.NewCacheManager(ctx, "local", cacheStorage, worker.NewCacheResultStorage(wc)),
		HistoryDB:      historyDB,
		CacheStore:     cacheStorage,
		LeaseManager:   bw.LeaseManager(),
		ContentStore:   bw.ContentStore(),
		GarbageCollect: bw.GarbageCollect,
		GracefulStop:   ctx.Done(),
		// As dockerd: a build may ask for the host's network (--network
		// host); security.insecure stays off.
		Entitlements: []string{"network.host"},
	})
	if err != nil {
		return nil, err
	}
	b.controller = ctrl
	b.closers = append(b.closers, ctrl.Close)

	b.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(grpcerrors.UnaryServerInterceptor, b.idle.unary),
		grpc.ChainStreamInterceptor(grpcerrors.StreamServerInterceptor, b.idle.stream),
	)
	ctrl.Register(b.grpc)
	ok = true
	return b, nil
}

func (b *builder) close() {
	// The step networks (first in closers) go first, the rest in reverse.
	n := 0
	for _, c := range b.closers[:min(len(b.closers), b.netClosers)] {
		_ = c()
		n++
	}
	for i := len(b.closers) - 1; i >= n; i-- {
		_ = b.closers[i]()
	}
	b.closers = nil
}

// gcPolicy is BuildKit's default policy, with the size cap berthd's
// build_cache_max_size sets (docs/build.md "Cache").
func gcPolicy(o options) []client.PruneInfo {
	dstat, _ := disk.GetDiskStat(o.root)
	var gc config.GCConfig
	if o.gcMaxUsed > 0 {
		gc.GCMaxUsedSpace = config.DiskSpace{Bytes: o.gcMaxUsed}
		gc.GCReservedSpace = config.DiskSpace{Bytes: o.gcMaxUsed / 4}
	}
	var out []client.PruneInfo
	for _, rule := range config.DefaultGCPolicy(gc, dstat) {
		out = append(out, client.PruneInfo{
			Filter:        rule.Filters,
			All:           rule.All,
			KeepDuration:  rule.KeepDuration.Duration,
			ReservedSpace: rule.ReservedSpace.AsBytes(dstat),
			MaxUsedSpace:  rule.MaxUsedSpace.AsBytes(dstat),
			MinFreeSpace:  rule.MinFreeSpace.AsBytes(dstat),
		})
	}
	return out
}

// hostGatewayLabel is the worker label of moby's BuildKit worker that
// buildx's docker driver reads for host-gateway
// (builder-next/worker/label.HostGatewayIP).
const hostGatewayLabel = "org.mobyproject.buildkit.worker.moby.host-gateway-ip"

// stepGateway reads the gateway of the steps' network from the CNI
// configuration berthd wrote (cni.Manager.BuildConflist): the bridge
// plugin's host-local range.
func stepGateway(conflist string) (netip.Addr, error) {
	b, err := os.ReadFile(conflist)
	if err != nil {
		return netip.Addr{}, err
	}
	var c struct {
		Plugins []struct {
			IPAM struct {
				Ranges [][]struct {
					Gateway string `json:"gateway"`
				} `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return netip.Addr{}, fmt.Errorf("%s: %w", conflist, err)
	}
	for _, p := range c.Plugins {
		for _, r := range p.IPAM.Ranges {
			for _, rr := range r {
				if gw, err := netip.ParseAddr(rr.Gateway); err == nil {
					return gw, nil
				}
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: no gateway in the ranges of its ipam", conflist)
}

// mobyWorker is the containerd worker with the exporter name buildx's
// docker driver asks for: "moby" is the image exporter that stores the
// image in berth's store and unpacks it into berth's snapshotter, so
// `docker build -t x .` gives an image `berth run x` runs.
type mobyWorker struct {
	*base.Worker
	exports exportMemo
}

func (w *mobyWorker) Exporter(name string, sm *session.Manager) (exporter.Exporter, error) {
	if name != "moby" {
		return w.Worker.Exporter(name, sm)
	}
	e, err := w.Worker.Exporter(client.ExporterImage, sm)
	if err != nil {
		return nil, err
	}
	return unpackingExporter{Exporter: e, w: w}, nil
}

// unpackingExporter is the image exporter with unpack=true and untagged
// images kept under berth's dangling name (pkg/types/image.DanglingPrefix).
// An unchanged result is not exported again (reusingInstance).
type unpackingExporter struct {
	exporter.Exporter
	w *mobyWorker
}

func (e unpackingExporter) Resolve(ctx context.Context, id int, attrs map[string]string) (exporter.ExporterInstance, error) {
	attrs = imageAttrs(attrs)
	inst, err := e.Exporter.Resolve(ctx, id, attrs)
	if err != nil || e.w.ImageStore == nil {
		return inst, err
	}
	return &reusingInstance{ExporterInstance: inst, attrs: attrs, names: exportNames(attrs), images: e.w.ImageStore, snaps: e.w.Snapshotter, seen: &e.w.exports}, nil
}

// imageAttrs completes the attributes of an export into berth's store.
func imageAttrs(in map[string]string) map[string]string {
	attrs := map[string]string{}
	for k, v := range in {
		attrs[k] = v
	}
	attrs["unpack"] = "true"
	var names []string
	for _, n := range strings.Split(attrs["name"], ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		// berth's store holds full names (docker.io/library/app:latest).
		if named, err := reference.ParseNormalizedNamed(n); err == nil {
			n = reference.TagNameOnly(named).String()
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		delete(attrs, "name")
		attrs["dangling-name-prefix"] = danglingRepo
	} else {
		attrs["name"] = strings.Join(names, ",")
	}
	return attrs
}

// danglingRepo makes BuildKit name an untagged image "berth-dangling@<digest>",
// the name berth's image service gives images without a tag.
const danglingRepo = "berth-dangling"
