package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	clitypes "github.com/docker/cli/cli/config/types"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/sirupsen/logrus"
	"github.com/tonistiigi/fsutil"

	"github.com/berthproject/berth/pkg/fsarchive"
	buildtypes "github.com/berthproject/berth/pkg/types/build"
)

// buildAPI serves build.sock: berth's builds, disk usage and prune, each
// through BuildKit's own client on control.sock.
type buildAPI struct {
	c    *client.Client
	root string
	// hostGateway replaces host-gateway in --add-host: the steps'
	// gateway (invalid when they have none).
	hostGateway netip.Addr

	mu   sync.Mutex
	busy map[string]bool // context keys whose kept directory a build uses

	// settle waits until the records of builds that ended are released
	// (idleWatch.settle).
	settle func(context.Context) error
}

func newBuildAPI(ctx context.Context, stateRoot, controlSock string, hostGateway netip.Addr) (*buildAPI, error) {
	c, err := client.New(ctx, "unix://"+controlSock)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(stateRoot, "contexts")
	// Contexts of builds that were running when the previous instance
	// stopped.
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	return &buildAPI{c: c, root: root, hostGateway: hostGateway, busy: map[string]bool{}}, nil
}

func (a *buildAPI) close() { _ = a.c.Close() }

func (a *buildAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /build", a.build)
	mux.HandleFunc("GET /du", a.diskUsage)
	mux.HandleFunc("POST /prune", a.prune)
	return mux
}

// build reads one line of JSON options (pkg/types/build.Options) and the
// context as a tar, then answers with newline-delimited JSON events
// (pkg/types/build.Event), the last a Result or an Error.
func (a *buildAPI) build(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	br := bufio.NewReaderSize(r.Body, 64<<10)
	line, err := br.ReadBytes('\n')
	if err != nil {
		http.Error(w, "read options: "+err.Error(), http.StatusBadRequest)
		return
	}
	var opts buildtypes.Options
	if err := json.Unmarshal(line, &opts); err != nil {
		http.Error(w, "options: "+err.Error(), http.StatusBadRequest)
		return
	}
	dir, err := os.MkdirTemp(a.root, "build-")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(dir)
	ctxDir, dfDir := filepath.Join(dir, "context"), filepath.Join(dir, "dockerfile")
	keep := false
	if kept, release := a.keptContext(opts.ContextKey); kept != "" {
		defer release()
		ctxDir, keep = kept, true
	}
	start := time.Now()
	var out *eventWriter
	startEvents := func() {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		out = &eventWriter{w: w, enc: json.NewEncoder(w)}
	}
	if opts.ContextSync {
		// The files kept of the context go first, while the client
		// waits to send its tar: those it has unchanged come without
		// their content.
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		kept := &buildtypes.Kept{Files: []buildtypes.KeptFile{}}
		if keep {
			kept.Files = listKept(ctxDir)
		}
		startEvents()
		if err := out.send(buildtypes.Event{Kept: kept}); err != nil {
			return
		}
	}
	if err := prepare(br, ctxDir, dfDir, keep, &opts); err != nil {
		if out != nil {
			_ = out.send(buildtypes.Event{Error: err.Error()})
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	received := time.Now()
	defer func() {
		// The phases of a build, for profiling: the context received
		// (the client's tar, berthd's relay, the extraction) and the
		// solve with its export.
		logrus.Infof("build: context received and extracted in %v (kept %v), solved in %v",
			received.Sub(start).Round(time.Millisecond), keep, time.Since(received).Round(time.Millisecond))
	}()

	if out == nil {
		startEvents()
	}
	res, err := a.solve(ctx, opts, ctxDir, dfDir, out)
	if err != nil {
		// A send error means the client went away: nothing to tell.
		_ = out.send(buildtypes.Event{Error: errorMessage(err, opts.DockerfileName)})
		return
	}
	_ = out.send(buildtypes.Event{Result: res})
}

// keptContext returns the directory kept for the context key between
// builds, held until release is called, or "" when the build gets a
// fresh one: no key, or another build of the same context holds it.
func (a *buildAPI) keptContext(key string) (dir string, release func()) {
	if len(key) == 0 || len(key) > 64 || strings.Trim(key, "0123456789abcdef") != "" {
		return "", nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy[key] {
		return "", nil
	}
	a.busy[key] = true
	return filepath.Join(a.root, "kept-"+key), func() {
		a.mu.Lock()
		delete(a.busy, key)
		a.mu.Unlock()
	}
}

// listKept lists the regular files of at least KeptMinSize bytes in a
// kept context directory (none if it cannot be read: the client then
// sends them all).
func listKept(dir string) []buildtypes.KeptFile {
	files := []buildtypes.KeptFile{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Size() < buildtypes.KeptMinSize {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return nil
		}
		files = append(files, buildtypes.KeptFileOf(filepath.ToSlash(rel), fi))
		return nil
	})
	return files
}

// prepare writes the context and the Dockerfile into their directories.
// With keep, ctxDir holds a previous version of the context: only the
// files that differ (size, mode, mtime, owner) are written and those
// gone are removed, so an unchanged rebuild writes nothing.
func prepare(r io.Reader, ctxDir, dfDir string, keep bool, opts *buildtypes.Options) error {
	if opts.DockerfileName == "" {
		opts.DockerfileName = "Dockerfile"
	}
	opts.DockerfileName = filepath.Base(opts.DockerfileName)
	for _, d := range []string{ctxDir, dfDir} {
		if err := os.Mkdir(d, 0o700); err != nil && !(keep && d == ctxDir && errors.Is(err, fs.ErrExist)) {
			return err
		}
	}
	root, err := os.OpenRoot(ctxDir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := fsarchive.Untar(r, root, fsarchive.UntarOptions{Chown: true, Sync: keep}); err != nil {
		return fmt.Errorf("read the build context: %w", err)
	}
	return os.WriteFile(filepath.Join(dfDir, opts.DockerfileName), opts.Dockerfile, 0o600)
}

func (a *buildAPI) solve(ctx context.Context, opts buildtypes.Options, ctxDir, dfDir string, out *eventWriter) (*buildtypes.Result, error) {
	ctxFS, err := fsutil.NewFS(ctxDir)
	if err != nil {
		return nil, err
	}
	dfFS, err := fsutil.NewFS(dfDir)
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{"filename": opts.DockerfileName}
	if opts.Target != "" {
		attrs["target"] = opts.Target
	}
	for k, v := range opts.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	for k, v := range opts.Labels {
		attrs["label:"+k] = v
	}
	if opts.NoCache {
		attrs["no-cache"] = ""
	} else if len(opts.NoCacheFilter) > 0 {
		attrs["no-cache"] = strings.Join(opts.NoCacheFilter, ",")
	}
	// Base images come from berth's store when there, as `berth run`
	// takes them; --pull asks the registry.
	attrs["image-resolve-mode"] = "local"
	if opts.Pull {
		attrs["image-resolve-mode"] = "pull"
	}
	switch opts.Network {
	case "", "default":
	case "host", "none":
		attrs["force-network-mode"] = opts.Network
	default:
		return nil, fmt.Errorf("network %q: a build's steps run on host, none or default", opts.Network)
	}
	if len(opts.ExtraHosts) > 0 {
		hosts, err := resolveHostGateway(opts.ExtraHosts, a.hostGateway)
		if err != nil {
			return nil, err
		}
		attrs["add-hosts"] = csvJoin(hosts)
	}
	if opts.ShmSize > 0 {
		attrs["shm-size"] = strconv.FormatInt(opts.ShmSize, 10)
	}
	if len(opts.Ulimits) > 0 {
		attrs["ulimit"] = csvJoin(opts.Ulimits)
	}
	attach := []session.Attachable{
		secretsprovider.FromMap(opts.Secrets),
		authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{AuthConfigProvider: authFrom(opts.Auth)}),
	}
	if len(opts.SSH) > 0 {
		var confs []sshprovider.AgentConfig
		for _, a := range opts.SSH {
			confs = append(confs, sshprovider.AgentConfig{ID: a.ID, Paths: a.Paths})
		}
		sp, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return nil, fmt.Errorf("--ssh: %w", err)
		}
		attach = append(attach, sp)
	}
	so := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		SharedKey:     opts.ContextKey,
		Session:       attach,
		// Not in BuildKit's build history: recording it (the status
		// stream and a provenance document written into containerd,
		// the history database) took longer than a cached rebuild's
		// whole solve (docs/performance.md "Build"). buildx's builds,
		// through control.sock, are recorded.
		Internal: true,
	}
	for _, c := range opts.CacheFrom {
		so.CacheImports = append(so.CacheImports, client.CacheOptionsEntry{Type: c.Type, Attrs: c.Attrs})
	}
	for _, c := range opts.CacheTo {
		so.CacheExports = append(so.CacheExports, client.CacheOptionsEntry{Type: c.Type, Attrs: c.Attrs})
	}
	if opts.Network == "host" {
		so.AllowedEntitlements = []string{"network.host"}
	}
	toClient := func(map[string]string) (io.WriteCloser, error) { return outputWriter{out}, nil }
	switch opts.Output {
	case "", "image":
		ea := map[string]string{"name": strings.Join(opts.Tags, ",")}
		if opts.Push {
			ea["push"] = "true"
		}
		so.Exports = []client.ExportEntry{{Type: "moby", Attrs: ea}}
	case "local", "tar":
		so.Exports = []client.ExportEntry{{Type: client.ExporterTar, Output: toClient}}
	case "oci", "docker":
		ea := map[string]string{}
		if len(opts.Tags) > 0 {
			ea["name"] = strings.Join(opts.Tags, ",")
		}
		so.Exports = []client.ExportEntry{{Type: opts.Output, Attrs: ea, Output: toClient}}
	default:
		return nil, fmt.Errorf("output type %q: berth build exports image, local, tar, oci or docker", opts.Output)
	}
	if opts.Push && opts.Output != "" && opts.Output != "image" {
		return nil, fmt.Errorf("--push pushes an image: it cannot go with --output type=%s", opts.Output)
	}

	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := range ch {
			_ = out.send(statusEvent(s)) // a gone client cancels the solve
		}
	}()
	resp, err := a.c.Solve(ctx, nil, so, ch)
	<-done
	if err != nil {
		return nil, err
	}
	if opts.Output != "" && opts.Output != "image" {
		return &buildtypes.Result{}, nil
	}
	return &buildtypes.Result{
		ImageID: resp.ExporterResponse["containerimage.config.digest"],
		Digest:  resp.ExporterResponse["containerimage.digest"],
		Tags:    opts.Tags,
	}, nil
}

// resolveHostGateway puts the steps' gateway in place of host-gateway in
// "name=ip" extra hosts, as dockerd puts docker0's address.
func resolveHostGateway(hosts []string, gw netip.Addr) ([]string, error) {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		name, ip, _ := strings.Cut(h, "=")
		if ip == buildtypes.HostGateway {
			if !gw.IsValid() {
				return nil, fmt.Errorf("--add-host %s:%s: the build steps have no gateway (berthd has no default bridge network)", name, ip)
			}
			h = name + "=" + gw.String()
		}
		out = append(out, h)
	}
	return out, nil
}

// csvJoin joins values as one CSV record, as BuildKit's frontend
// attributes take lists.
func csvJoin(vals []string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(vals)
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// authFrom serves the client's registry credentials to BuildKit (pushes,
// registry caches); a registry without any gets anonymous access.
func authFrom(m map[string]buildtypes.RegistryAuth) authprovider.AuthConfigProvider {
	return func(_ context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (clitypes.AuthConfig, error) {
		if host == "registry-1.docker.io" {
			host = "docker.io"
		}
		a, ok := m[host]
		if !ok {
			return clitypes.AuthConfig{ServerAddress: host}, nil
		}
		return clitypes.AuthConfig{ServerAddress: host, Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}, nil
	}
}

// errorMessage is a build error as a user reads it: the Dockerfile's name
// and line first when BuildKit knows them.
func errorMessage(err error, dockerfile string) string {
	msg := grpcerrors.FromGRPC(err).Error()
	for _, s := range errdefs.Sources(err) {
		if s.Info == nil || len(s.Ranges) == 0 || s.Ranges[0].Start == nil {
			continue
		}
		name := s.Info.Filename
		if name == "" {
			name = dockerfile
		}
		return fmt.Sprintf("%s:%d: %s", name, s.Ranges[0].Start.Line, msg)
	}
	return msg
}

func statusEvent(s *client.SolveStatus) buildtypes.Event {
	var ev buildtypes.Event
	for _, v := range s.Vertexes {
		bv := buildtypes.Vertex{Digest: v.Digest.String(), Name: v.Name, Started: v.Started, Completed: v.Completed, Cached: v.Cached, Error: v.Error}
		for _, in := range v.Inputs {
			bv.Inputs = append(bv.Inputs, in.String())
		}
		ev.Vertexes = append(ev.Vertexes, bv)
	}
	for _, st := range s.Statuses {
		ev.Statuses = append(ev.Statuses, buildtypes.VertexStatus{ID: st.ID, Vertex: st.Vertex.String(), Name: st.Name,
			Total: st.Total, Current: st.Current, Timestamp: st.Timestamp, Started: st.Started, Completed: st.Completed})
	}
	for _, l := range s.Logs {
		ev.Logs = append(ev.Logs, buildtypes.VertexLog{Vertex: l.Vertex.String(), Stream: l.Stream, Data: l.Data, Timestamp: l.Timestamp})
	}
	for _, wn := range s.Warnings {
		ev.Warnings = append(ev.Warnings, buildtypes.Warning{Vertex: wn.Vertex.String(), Level: wn.Level, Short: string(wn.Short), URL: wn.URL})
	}
	return ev
}

// eventWriter sends events as JSON lines, flushed one by one.
type eventWriter struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	enc *json.Encoder
	err error
}

func (e *eventWriter) send(ev buildtypes.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	if e.err = e.enc.Encode(ev); e.err == nil {
		e.err = http.NewResponseController(e.w).Flush()
	}
	return e.err
}

// outputWriter carries the exported tar back in Output events.
type outputWriter struct{ e *eventWriter }

func (o outputWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += 1 << 20 {
		end := min(off+1<<20, len(p))
		if err := o.e.send(buildtypes.Event{Output: append([]byte(nil), p[off:end]...)}); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

func (o outputWriter) Close() error { return nil }

func (a *buildAPI) diskUsage(w http.ResponseWriter, r *http.Request) {
	du, err := a.c.DiskUsage(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	recs := make([]buildtypes.CacheRecord, 0, len(du))
	for _, u := range du {
		recs = append(recs, cacheRecord(*u))
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Size > recs[j].Size })
	writeJSON(w, recs)
}

func (a *buildAPI) prune(w http.ResponseWriter, r *http.Request) {
	var opts buildtypes.PruneOptions
	if err := json.NewDecoder(r.Body).Decode(&opts); err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, "prune options: "+err.Error(), http.StatusBadRequest)
		return
	}
	var po []client.PruneOption
	if opts.All {
		po = append(po, client.PruneAll)
		if a.settle != nil {
			if err := a.settle(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
	}
	if opts.Until > 0 || opts.KeepStorage > 0 {
		po = append(po, client.WithKeepOpt(opts.Until, opts.KeepStorage, 0, 0))
	}
	ch := make(chan client.UsageInfo)
	var rep buildtypes.PruneReport
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			rep.Deleted = append(rep.Deleted, cacheRecord(u))
			rep.SpaceReclaimed += u.Size
		}
	}()
	err := a.c.Prune(r.Context(), ch, po...)
	close(ch)
	<-done
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, rep)
}

func cacheRecord(u client.UsageInfo) buildtypes.CacheRecord {
	return buildtypes.CacheRecord{ID: u.ID, Parents: u.Parents, Type: string(u.RecordType), Description: u.Description,
		InUse: u.InUse, Shared: u.Shared, Size: u.Size, CreatedAt: u.CreatedAt, LastUsedAt: u.LastUsedAt, UsageCount: u.UsageCount}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		logrus.Debugf("write response: %v", err)
	}
}
