package dockerapi

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	dbuild "github.com/moby/moby/api/types/build"

	buildtypes "github.com/berthproject/berth/pkg/types/build"
)

// BuildKit's session headers (Docker's POST /session): what the builder
// needs to serve the session, passed on as they came.
const sessionHeaderPrefix = "X-Docker-Expose-Session-"

// maxDockerfile bounds the Dockerfile read out of a build context.
const maxDockerfile = 4 << 20

// buildkitGRPC splices a POST /grpc hijack (buildx's docker driver, the
// docker CLI with buildx) onto BuildKit's control socket: 101 and h2c, then
// the client's HTTP/2 flows to berth-buildkitd byte for byte.
func (s *Server) buildkitGRPC(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if s.b.Builds == nil {
		return errNoBuilder
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
		return invalid("POST /grpc needs Upgrade: h2c")
	}
	conn, err := s.b.Builds.DialControl(context.WithoutCancel(r.Context()))
	if err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrUnavailable)
	}
	return spliceUpgrade(w, conn)
}

// buildkitSession splices a POST /session hijack onto the builder's
// session socket, with the session's X-Docker-Expose-Session-* headers.
func (s *Server) buildkitSession(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if s.b.Builds == nil {
		return errNoBuilder
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
		return invalid("POST /session needs Upgrade: h2c")
	}
	hdr := http.Header{}
	for k, v := range r.Header {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), sessionHeaderPrefix) {
			hdr[http.CanonicalHeaderKey(k)] = v
		}
	}
	if hdr.Get(sessionHeaderPrefix+"Uuid") == "" {
		return invalid("POST /session needs the %sUuid header", sessionHeaderPrefix)
	}
	conn, err := s.b.Builds.DialSession(context.WithoutCancel(r.Context()), hdr)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrUnavailable)
	}
	return spliceUpgrade(w, conn)
}

var errNoBuilder = fmt.Errorf("berth-buildkitd is not installed (make install puts it into berth's bin dir): berth cannot build images: %w", errdefs.ErrNotImplemented)

// spliceUpgrade answers 101 with Upgrade: h2c, as dockerd's BuildKit
// routes, then copies both ways between the client and backend until one
// side ends; closing backend releases the builder.
func spliceUpgrade(w http.ResponseWriter, backend net.Conn) error {
	client, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		backend.Close()
		return fmt.Errorf("cannot hijack the connection: %v: %w", err, errdefs.ErrInternal)
	}
	defer client.Close()
	defer backend.Close()
	if _, err := rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"); err != nil {
		return nil
	}
	if err := rw.Flush(); err != nil {
		return nil
	}
	done := make(chan struct{}, 2)
	go func() {
		// What net/http read ahead first, then the connection.
		_, _ = io.Copy(backend, io.MultiReader(rw.Reader, client))
		closeWrite(backend)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, backend)
		closeWrite(client)
		done <- struct{}{}
	}()
	<-done
	<-done
	return nil
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// build is POST /build, the legacy builder's protocol (docker-py, compose,
// the docker CLI with DOCKER_BUILDKIT=0): the context tar in the body,
// the options in the query, Docker's JSON-lines progress back. berth
// builds with BuildKit in any case, through the engine's builder.
func (s *Server) build(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if s.b.Builds == nil {
		return errNoBuilder
	}
	opts, err := buildOptions(r)
	if err != nil {
		return err
	}
	// The context is spooled to a file: the Dockerfile, which BuildKit
	// needs first, may come anywhere in the tar.
	spool, err := os.CreateTemp("", "berth-build-context-*")
	if err != nil {
		return err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	body, err := decompressed(r.Body)
	if err != nil {
		return err
	}
	dockerfileName := r.URL.Query().Get("dockerfile")
	if dockerfileName == "" {
		dockerfileName = "Dockerfile"
	}
	df, err := findDockerfile(io.TeeReader(body, spool), dockerfileName)
	if err != nil {
		return err
	}
	// The rest of the body (tar padding) is not needed.
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	opts.Dockerfile = df
	opts.DockerfileName = path.Base(dockerfileName)

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := newJSONStream(w)
	quiet := boolValue(r, "q")
	var mu sync.Mutex
	p := newLegacyProgress()
	res, err := s.b.Builds.Build(r.Context(), opts, spool, func(ev buildtypes.Event) error {
		if quiet {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		for _, line := range p.lines(ev) {
			if err := out.send(map[string]string{"stream": line}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = out.sendError(err)
		return nil
	}
	id := res.ImageID
	if id != "" && !strings.HasPrefix(id, "sha256:") {
		id = "sha256:" + id
	}
	_ = out.send(map[string]any{"aux": map[string]string{"ID": id}})
	if quiet {
		// The docker CLI's -q prints the stream: the ID alone, as dockerd.
		_ = out.send(map[string]string{"stream": id + "\n"})
		return nil
	}
	short := strings.TrimPrefix(id, "sha256:")
	if len(short) > 12 {
		short = short[:12]
	}
	_ = out.send(map[string]string{"stream": "Successfully built " + short + "\n"})
	for _, t := range opts.Tags {
		_ = out.send(map[string]string{"stream": "Successfully tagged " + t + "\n"})
	}
	return nil
}

// buildOptions reads POST /build's query. What berth cannot honour is
// refused by name.
func buildOptions(r *http.Request) (buildtypes.Options, error) {
	q := r.URL.Query()
	var o buildtypes.Options
	if q.Get("remote") != "" {
		return o, unsupported("building from a remote context (remote=)")
	}
	if v := q.Get("version"); v != "" && v != "1" {
		return o, invalid("build version %q is not served on POST /build: BuildKit clients use /grpc and /session (buildx)", v)
	}
	for _, k := range []string{"squash", "isolation", "cpuquota", "cpuperiod", "cpusetcpus", "memory", "memswap", "outputs"} {
		if v := q.Get(k); v != "" && v != "0" && v != "false" && v != "[]" && v != "null" && v != "{}" {
			return o, unsupported("the build option " + k)
		}
	}
	for _, t := range q["t"] {
		if t != "" {
			o.Tags = append(o.Tags, t)
		}
	}
	for k, dst := range map[string]*map[string]string{"labels": &o.Labels} {
		if v := q.Get(k); v != "" {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				return o, invalid("invalid %s: %v", k, err)
			}
		}
	}
	if v := q.Get("buildargs"); v != "" {
		var args map[string]*string
		if err := json.Unmarshal([]byte(v), &args); err != nil {
			return o, invalid("invalid buildargs: %v", err)
		}
		o.BuildArgs = map[string]string{}
		for k, val := range args {
			if val != nil {
				o.BuildArgs[k] = *val
			}
		}
	}
	for _, h := range q["extrahosts"] {
		for _, h := range strings.Split(h, ",") {
			if h == "" {
				continue
			}
			eh, err := buildtypes.ExtraHost(h)
			if err != nil {
				return o, invalid("%v", err)
			}
			o.ExtraHosts = append(o.ExtraHosts, eh)
		}
	}
	if v := q.Get("shmsize"); v != "" && v != "0" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, invalid("invalid shmsize %q: want a number of bytes", v)
		}
		o.ShmSize = n
	}
	if v := q.Get("ulimits"); v != "" && v != "null" {
		var ul []struct {
			Name       string
			Soft, Hard int64
		}
		if err := json.Unmarshal([]byte(v), &ul); err != nil {
			return o, invalid("invalid ulimits: %v", err)
		}
		for _, u := range ul {
			if u.Name == "" {
				return o, invalid("invalid ulimits: a ulimit without a Name")
			}
			o.Ulimits = append(o.Ulimits, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
		}
	}
	if v := q.Get("cachefrom"); v != "" && v != "null" {
		var refs []string
		if err := json.Unmarshal([]byte(v), &refs); err != nil {
			return o, invalid("invalid cachefrom: %v", err)
		}
		// Images whose inline cache the build may use, as the docker
		// CLI's --cache-from NAME.
		for _, r := range refs {
			o.CacheFrom = append(o.CacheFrom, buildtypes.CacheEntry{Type: "registry", Attrs: map[string]string{"ref": r}})
		}
	}
	o.Target = q.Get("target")
	o.NoCache = boolValue(r, "nocache")
	o.Pull = boolValue(r, "pull")
	switch n := q.Get("networkmode"); n {
	case "", "default", "bridge":
	case "host", "none":
		o.Network = n
	default:
		return o, unsupported("the build network " + n)
	}
	if p := q.Get("platform"); p != "" && p != "linux/amd64" && p != "linux/"+runtime.GOARCH {
		return o, unsupported("building for the platform " + p)
	}
	return o, nil
}

// decompressed is the context: a tar, or a gzipped tar (docker build
// --compress).
func decompressed(body io.Reader) (io.Reader, error) {
	br := bufio.NewReader(body)
	magic, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, invalid("the build context is not a valid gzip stream: %v", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")), bytes.HasPrefix(magic, []byte{0xfd, '7', 'z'}):
		return nil, invalid("the build context is compressed with bzip2 or xz: send a tar or a gzipped tar")
	}
	return br, nil
}

// findDockerfile reads the context tar to its end and returns the
// Dockerfile's content.
func findDockerfile(ctxTar io.Reader, name string) ([]byte, error) {
	want := path.Clean(strings.TrimPrefix(name, "/"))
	tr := tar.NewReader(ctxTar)
	var df []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalid("the build context is not a valid tar: %v", err)
		}
		if df == nil && path.Clean(strings.TrimPrefix(h.Name, "./")) == want && h.Typeflag == tar.TypeReg {
			if h.Size > maxDockerfile {
				return nil, invalid("the Dockerfile %s is larger than %d bytes", name, maxDockerfile)
			}
			if df, err = io.ReadAll(tr); err != nil {
				return nil, invalid("reading the Dockerfile from the context: %v", err)
			}
		}
	}
	// Drain what follows the tar's end (padding), so a spooled copy holds
	// the whole body.
	if _, err := io.Copy(io.Discard, ctxTar); err != nil {
		return nil, err
	}
	if df == nil {
		return nil, invalid("Cannot locate specified Dockerfile: %s", name)
	}
	return df, nil
}

// legacyProgress turns BuildKit's progress into the legacy builder's
// "stream" lines: each step when it starts, its output, and how it ended.
type legacyProgress struct {
	seen map[string]int // vertex digest -> step number
	done map[string]bool
	next int
}

func newLegacyProgress() *legacyProgress {
	return &legacyProgress{seen: map[string]int{}, done: map[string]bool{}}
}

func (p *legacyProgress) step(digest string) int {
	n, ok := p.seen[digest]
	if !ok {
		p.next++
		n = p.next
		p.seen[digest] = n
	}
	return n
}

func (p *legacyProgress) lines(ev buildtypes.Event) []string {
	var out []string
	for _, v := range ev.Vertexes {
		if v.Started == nil && !v.Cached && v.Completed == nil && v.Error == "" {
			continue // not begun yet
		}
		_, known := p.seen[v.Digest]
		n := p.step(v.Digest)
		if !known {
			out = append(out, fmt.Sprintf("#%d %s\n", n, v.Name))
		}
		if p.done[v.Digest] {
			continue
		}
		switch {
		case v.Error != "":
			p.done[v.Digest] = true
			out = append(out, fmt.Sprintf("#%d ERROR: %s\n", n, v.Error))
		case v.Cached:
			p.done[v.Digest] = true
			out = append(out, fmt.Sprintf("#%d CACHED\n", n))
		case v.Completed != nil:
			p.done[v.Digest] = true
			out = append(out, fmt.Sprintf("#%d DONE\n", n))
		}
	}
	for _, l := range ev.Logs {
		if len(l.Data) > 0 {
			out = append(out, string(l.Data))
		}
	}
	for _, wn := range ev.Warnings {
		out = append(out, "WARNING: "+wn.Short+"\n")
	}
	return out
}

// buildPrune is POST /build/prune (docker builder prune) on the builder's
// cache: all, keep-storage (reserved-space) and the until filter.
func (s *Server) buildPrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	report := dbuild.CachePruneReport{CachesDeleted: []string{}}
	if s.b.Builds == nil {
		return writeJSON(w, http.StatusOK, report)
	}
	opts := buildtypes.PruneOptions{All: boolValue(r, "all")}
	for _, k := range []string{"keep-storage", "reserved-space"} {
		if v := r.URL.Query().Get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return invalid("invalid %s %q: want a number of bytes", k, v)
			}
			opts.KeepStorage = n
		}
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k, vals := range filters {
		switch k {
		case "until":
			for _, v := range vals {
				d, err := time.ParseDuration(v)
				if err != nil {
					return invalid("invalid until filter %q: want a duration such as 24h", v)
				}
				opts.Until = d
			}
		default:
			return invalid("invalid filter '%s': build cache prune takes until", k)
		}
	}
	rep, err := s.b.Builds.Prune(r.Context(), opts)
	if err != nil {
		return err
	}
	for _, d := range rep.Deleted {
		report.CachesDeleted = append(report.CachesDeleted, d.ID)
	}
	if rep.SpaceReclaimed > 0 {
		report.SpaceReclaimed = uint64(rep.SpaceReclaimed)
	}
	return writeJSON(w, http.StatusOK, report)
}

// buildCache is the builder's cache as /system/df lists it.
func (s *Server) buildCache(ctx context.Context) ([]dbuild.CacheRecord, error) {
	out := []dbuild.CacheRecord{}
	if s.b.Builds == nil {
		return out, nil
	}
	recs, err := s.b.Builds.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range recs {
		out = append(out, dbuild.CacheRecord{ID: c.ID, Parents: c.Parents, Type: c.Type, Description: c.Description,
			InUse: c.InUse, Shared: c.Shared, Size: c.Size, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt, UsageCount: c.UsageCount})
	}
	return out, nil
}
