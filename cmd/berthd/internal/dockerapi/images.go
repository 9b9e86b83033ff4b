package dockerapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	dimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	dregistry "github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/image"
)

func (s *Server) imageList(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	if f := r.URL.Query().Get("filter"); f != "" { // API < 1.28
		if filters == nil {
			filters = map[string][]string{}
		}
		filters["reference"] = append(filters["reference"], f)
	}
	list, err := s.b.Images.List(r.Context(), image.ListOptions{All: boolValue(r, "all"), Filters: filters})
	if err != nil {
		return err
	}
	out := make([]any, 0, len(list))
	sums := docker.VersionedImageSummaries(imageSummaries(list), apiVersion(r))
	out = append(out, sums.([]any)...)
	return writeJSON(w, http.StatusOK, out)
}

func imageSummaries(list []image.Summary) []dimage.Summary {
	out := make([]dimage.Summary, 0, len(list))
	for _, i := range list {
		out = append(out, docker.ImageSummary(i, -1))
	}
	return out
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	img, err := s.b.Images.Inspect(r.Context(), v["name"])
	if err != nil {
		return err
	}
	if p := r.URL.Query().Get("platform"); p != "" { // API 1.49: a JSON platform
		var want ocispec.Platform
		if err := json.Unmarshal([]byte(p), &want); err != nil {
			return invalid("invalid platform %q: %v", p, err)
		}
		if err := image.CheckPlatform(v["name"], img, want); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, docker.VersionedImage(docker.ImageInspect(img), apiVersion(r)))
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	h, err := s.b.Images.History(r.Context(), v["name"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, docker.ImageHistory(h))
}

func (s *Server) imageTag(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
	if repo == "" {
		return invalid("the repo parameter is required")
	}
	target := repo
	if tag != "" {
		target += ":" + tag
	}
	if err := s.b.Images.Tag(r.Context(), v["name"], target); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	rs, err := s.b.Images.Remove(r.Context(), []string{v["name"]}, image.RemoveOptions{Force: boolValue(r, "force")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, docker.ImageDeleted(rs))
}

func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	// until, as Docker's, is a time or a duration before now: the engine
	// takes an RFC 3339 time.
	if vals, ok := filters["until"]; ok {
		out := make([]string, 0, len(vals))
		for _, v := range vals {
			t, err := parseTime(v, time.Now())
			if err != nil {
				return err
			}
			out = append(out, t.Format(time.RFC3339Nano))
		}
		filters["until"] = out
	}
	rep, err := s.b.Images.Prune(r.Context(), image.PruneOptions{Filters: filters})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"ImagesDeleted": docker.ImageDeleted(rep.Deleted), "SpaceReclaimed": rep.SpaceReclaimed})
}

// progressStream writes the engine's progress as Docker's JSON messages.
// The engine may report after the call returned (a shared pull); those
// reports are dropped.
type progressStream struct {
	mu  sync.Mutex
	out *jsonStream
	// start, when out is nil, begins the answer at the first line: until
	// then an error can still be an HTTP status.
	start  func() *jsonStream
	closed bool
	failed bool
}

// progressMessage is a progress line: Docker's message and its bar.
type progressMessage struct {
	jsonstream.Message
	ProgressMessage string `json:"progress,omitempty"`
}

func (p *progressStream) send(m jsonstream.Message) { p.sendLine(progressMessage{Message: m}) }

func (p *progressStream) sendLine(m progressMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.failed {
		return
	}
	if p.out == nil {
		p.out = p.start()
	}
	if err := p.out.send(m); err != nil {
		p.failed = true
	}
}

func (p *progressStream) progress(pr image.Progress) {
	m := progressMessage{Message: jsonstream.Message{ID: pr.ID, Status: pr.Status}}
	if pr.Message != "" && m.Status == "" {
		m.Status = pr.Message
		// Docker's header line has the tag (or digest) as its ID:
		// {"status":"Pulling from library/busybox","id":"latest"}.
		if id, from, ok := strings.Cut(pr.Message, ": Pulling from "); ok && m.ID == "" {
			m.ID, m.Status = id, "Pulling from "+from
		}
	}
	if pr.Total > 0 || pr.Current > 0 {
		m.Progress = &jsonstream.Progress{Current: pr.Current, Total: pr.Total}
		m.ProgressMessage = progressBar(pr.Current, pr.Total)
	}
	p.sendLine(m)
}

// fail ends the stream with err: as an HTTP error (returned) while no line
// was sent, else as the stream's error line.
func (p *progressStream) fail(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		p.closed = true
		return err
	}
	if !p.closed && !p.failed {
		_ = p.out.sendError(err)
	}
	return nil
}

func (p *progressStream) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// progressBar is Docker's "[=====>     ]  1.2MB/3.4MB" text.
func progressBar(cur, total int64) string {
	if total <= 0 {
		return humanSize(cur)
	}
	const width = 50
	n := int(cur * width / total)
	n = min(max(n, 0), width)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %s/%s", bar, humanSize(cur), humanSize(total))
}

func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

func authConfig(r *http.Request) (*image.AuthConfig, error) {
	m, err := registryAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil || len(m) == 0 {
		return nil, err
	}
	a := &image.AuthConfig{ServerAddress: m["serveraddress"], Username: m["username"], Password: m["password"], IdentityToken: m["identitytoken"]}
	if a.Username == "" && a.Password == "" && a.IdentityToken == "" {
		return nil, nil
	}
	return a, nil
}

// imageCreate pulls (fromImage) or imports (fromSrc) an image, answering
// with a JSON-lines progress stream.
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	if q.Get("fromSrc") != "" {
		return s.imageImport(w, r)
	}
	from := q.Get("fromImage")
	if from == "" {
		return invalid("fromImage or fromSrc is required")
	}
	ref := from
	if tag := q.Get("tag"); tag != "" {
		if strings.Contains(tag, ":") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	name, err := image.NormalizeName(ref)
	if err != nil {
		return err
	}
	if p := q.Get("platform"); p != "" {
		// Refused before the progress stream starts: a 400, as dockerd.
		if _, err := platforms.Parse(p); err != nil {
			return invalid("invalid platform %q: %s", p, strings.TrimSuffix(err.Error(), ": "+errdefs.ErrInvalidArgument.Error()))
		}
	}
	auth, err := authConfig(r)
	if err != nil {
		return err
	}
	// The answer begins with the first progress line, which comes once the
	// registry has the reference: an image it does not have is an HTTP
	// error (404), as dockerd's. The engine's lines (header, layers,
	// digest, status) are Docker's.
	ps := &progressStream{start: func() *jsonStream {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return newJSONStream(w)
	}}
	defer ps.close()
	if _, err := s.b.Images.Pull(r.Context(), name, image.PullOptions{Platform: q.Get("platform"), Auth: auth, Progress: ps.progress}); err != nil {
		return ps.fail(err)
	}
	return nil
}

// imageImport makes an image from a root file system tar (docker import).
func (s *Server) imageImport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("fromSrc") != "-" {
		return unsupported("importing from a URL (fromSrc must be -, the request body)")
	}
	if len(q["changes"]) > 0 {
		return unsupported("import --change")
	}
	ref := q.Get("repo")
	if ref != "" && q.Get("tag") != "" {
		ref += ":" + q.Get("tag")
	}
	img, err := s.b.Images.Import(r.Context(), r.Body, image.ImportOptions{Ref: ref, Message: q.Get("message"), Platform: q.Get("platform")})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return newJSONStream(w).send(jsonstream.Message{Status: img.ID})
}

func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	ref := v["name"]
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	auth, err := authConfig(r)
	if err != nil {
		return err
	}
	if _, err := s.b.Images.Inspect(r.Context(), ref); err != nil {
		return fmt.Errorf("An image does not exist locally with the tag: %s: %w", v["name"], errdefs.ErrNotFound)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	// The engine's lines are Docker's ("The push refers to repository
	// [...]", layers, "tag: digest: ... size: ..."); the aux follows.
	ps := &progressStream{out: newJSONStream(w)}
	defer ps.close()
	res, err := s.b.Images.Push(r.Context(), ref, image.PushOptions{Auth: auth, Progress: ps.progress})
	if err != nil {
		return ps.fail(err)
	}
	raw := json.RawMessage(fmt.Sprintf(`{"Tag":%q,"Digest":%q,"Size":%d}`, res.Tag, res.Digest, res.Size))
	ps.send(jsonstream.Message{Aux: &raw})
	return nil
}

// imageLoad loads images from a docker save / OCI archive.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	w.Header().Set("Content-Type", "application/json")
	var lines []string
	_, err := s.b.Images.Load(r.Context(), r.Body, func(msg string) { lines = append(lines, msg) })
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	out := newJSONStream(w)
	for _, l := range lines {
		if err := out.send(jsonstream.Message{Stream: l + "\n"}); err != nil {
			return nil
		}
	}
	return nil
}

func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	names := r.URL.Query()["names"]
	if len(names) == 0 {
		return invalid("no image names given: set names=")
	}
	return s.save(w, r, names)
}

func (s *Server) imageSaveOne(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	return s.save(w, r, []string{v["name"]})
}

func (s *Server) save(w http.ResponseWriter, r *http.Request, names []string) error {
	if len(r.URL.Query()["platform"]) > 1 {
		return invalid("multiple platform parameters not supported")
	}
	// The engine finds every image before it writes: until the first
	// byte, an error is still an answer of its own (404 No such image).
	lw := &lazyTarWriter{w: w}
	if err := s.b.Images.Save(r.Context(), lw, names); err != nil {
		if !lw.started {
			return err
		}
		s.log.Warn("image save", "images", names, "error", err)
		panic(http.ErrAbortHandler)
	}
	lw.start()
	return nil
}

// lazyTarWriter sends the 200 and its Content-Type with the first byte.
type lazyTarWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyTarWriter) start() {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/x-tar")
		l.w.WriteHeader(http.StatusOK)
	}
}

func (l *lazyTarWriter) Write(p []byte) (int, error) {
	l.start()
	return l.w.Write(p)
}

// build answers the legacy builder's endpoint until berth has a builder.

// distributionInspect asks the image's registry what its name points at
// now (docker manifest inspect, buildx imagetools): the descriptor and the
// platforms. Nothing is pulled.
func (s *Server) distributionInspect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	auth, err := authConfig(r)
	if err != nil {
		return err
	}
	desc, plats, err := s.b.Images.Distribution(r.Context(), v["name"], auth)
	if err != nil {
		return err
	}
	if plats == nil {
		plats = []ocispec.Platform{}
	}
	return writeJSON(w, http.StatusOK, dregistry.DistributionInspect{Descriptor: desc, Platforms: plats})
}
