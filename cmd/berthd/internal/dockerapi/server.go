// Package dockerapi serves the Docker Engine API over berth's engine, so
// unmodified Docker clients (the docker CLI, compose, docker-py, dockerode,
// testcontainers) work against berthd. It is another thin edge beside the
// gRPC API: each handler decodes one Docker request (the types of
// github.com/moby/moby/api), makes one engine call and encodes the answer
// through pkg/docker. No engine logic lives here.
//
// Every path is served with and without a /vX.Y prefix: versions from
// docker.MinAPIVersion to docker.APIVersion are accepted (unversioned means
// the latter), others get dockerd's 400. Errors are dockerd's
// {"message": ...} with the status of their errdefs class.
package dockerapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/gorilla/mux"

	"github.com/berthproject/berth/pkg/docker"
)

// Info is what berthd tells clients about itself.
type Info struct {
	// Version of berthd (the Engine component's version).
	Version   string
	GitCommit string
	// Debug is berthd's debug setting (GET /info's Debug).
	Debug bool
	// InsecureRegistries and RegistryMirrors are berthd's registry
	// settings (GET /info's RegistryConfig): "host:port", "host" or CIDR;
	// registry host → mirror URLs.
	InsecureRegistries []string
	RegistryMirrors    map[string][]string
}

// Server is the Docker API's HTTP handler.
type Server struct {
	b    Backend
	info Info
	log  *slog.Logger
	// router is built at the first request (route): its ~200 routes
	// and their compiled path patterns are ~0.3 MB of heap that a berthd
	// used only through berth's own API never needs (docs/performance.md,
	// "Idle daemons, third pass").
	router     *mux.Router
	routerOnce sync.Once
}

// New returns the Docker API served over b.
func New(b Backend, info Info, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{b: b, info: info, log: log}
}

// route builds the router on the first call and routes r.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	s.routerOnce.Do(s.buildRouter)
	s.router.ServeHTTP(w, r)
}

func (s *Server) buildRouter() {
	s.router = mux.NewRouter()
	s.routes()
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, fmt.Errorf("page not found: %w", errdefs.ErrNotFound))
	})
	s.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, statusError{http.StatusMethodNotAllowed, "method " + r.Method + " is not allowed on " + r.URL.Path})
	})
}

// handlerFunc is a route's handler: an error it returns becomes dockerd's
// error answer (unless the answer was already started).
type handlerFunc func(w http.ResponseWriter, r *http.Request, vars map[string]string) error

func (s *Server) handle(method, path string, h handlerFunc) {
	s.router.Methods(method).Path(path).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r, mux.Vars(r)); err != nil {
			if r.Context().Err() == nil {
				s.log.Debug("docker API error", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			writeError(w, r, err)
		}
	})
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+(?:\.[0-9]+)*)(/.*)$`)

type versionKey struct{}

// apiVersion is the API version of r's path (the advertised one when
// unversioned).
func apiVersion(r *http.Request) string {
	if v, ok := r.Context().Value(versionKey{}).(string); ok {
		return v
	}
	return docker.APIVersion
}

// ServeHTTP strips and checks the version prefix, sets the headers dockerd
// sends on every answer, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in docker API handler", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			writeError(w, r, fmt.Errorf("internal error: %v: %w", p, errdefs.ErrInternal))
		}
	}()
	h := w.Header()
	h.Set("Server", "berth/"+s.info.Version+" ("+runtime.GOOS+")")
	h.Set("Api-Version", docker.APIVersion)
	h.Set("Ostype", runtime.GOOS)
	version := docker.APIVersion
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		version = m[1]
		r.URL.Path = m[2]
		r.URL.RawPath = ""
		if docker.CompareVersions(version, docker.APIVersion) > 0 {
			writeError(w, r, statusError{http.StatusBadRequest, fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", version, docker.APIVersion)})
			return
		}
		if docker.CompareVersions(version, docker.MinAPIVersion) < 0 {
			writeError(w, r, statusError{http.StatusBadRequest, fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, docker.MinAPIVersion)})
			return
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), versionKey{}, version))
	s.route(w, r)
}

// routes lists every endpoint served. Paths are those of moby's routers;
// {name:.*} lets image names carry "/" and ":".
func (s *Server) routes() {
	// system
	s.handle(http.MethodGet, "/_ping", s.ping)
	s.handle(http.MethodHead, "/_ping", s.ping)
	s.handle(http.MethodGet, "/version", s.version)
	s.handle(http.MethodGet, "/info", s.systemInfo)
	s.handle(http.MethodGet, "/events", s.events)
	s.handle(http.MethodGet, "/system/df", s.diskUsage)
	s.handle(http.MethodPost, "/auth", s.auth)

	// containers
	s.handle(http.MethodPost, "/containers/create", s.containerCreate)
	s.handle(http.MethodGet, "/containers/json", s.containerList)
	s.handle(http.MethodPost, "/containers/prune", s.containerPrune)
	s.handle(http.MethodGet, "/containers/{name:.*}/json", s.containerInspect)
	s.handle(http.MethodPost, "/containers/{name:.*}/start", s.containerStart)
	s.handle(http.MethodPost, "/containers/{name:.*}/stop", s.containerStop)
	s.handle(http.MethodPost, "/containers/{name:.*}/restart", s.containerRestart)
	s.handle(http.MethodPost, "/containers/{name:.*}/kill", s.containerKill)
	s.handle(http.MethodPost, "/containers/{name:.*}/pause", s.containerPause)
	s.handle(http.MethodPost, "/containers/{name:.*}/unpause", s.containerUnpause)
	s.handle(http.MethodPost, "/containers/{name:.*}/rename", s.containerRename)
	s.handle(http.MethodPost, "/containers/{name:.*}/update", s.containerUpdate)
	s.handle(http.MethodPost, "/containers/{name:.*}/wait", s.containerWait)
	s.handle(http.MethodPost, "/containers/{name:.*}/resize", s.containerResize)
	s.handle(http.MethodPost, "/containers/{name:.*}/attach", s.containerAttach)
	s.handle(http.MethodGet, "/containers/{name:.*}/attach/ws", s.containerAttachWS)
	s.handle(http.MethodGet, "/containers/{name:.*}/logs", s.containerLogs)
	s.handle(http.MethodGet, "/containers/{name:.*}/top", s.containerTop)
	s.handle(http.MethodGet, "/containers/{name:.*}/stats", s.containerStats)
	s.handle(http.MethodGet, "/containers/{name:.*}/export", s.containerExport)
	s.handle(http.MethodGet, "/containers/{name:.*}/changes", s.containerChanges)
	s.handle(http.MethodHead, "/containers/{name:.*}/archive", s.archiveHead)
	s.handle(http.MethodGet, "/containers/{name:.*}/archive", s.archiveGet)
	s.handle(http.MethodPut, "/containers/{name:.*}/archive", s.archivePut)
	s.handle(http.MethodPost, "/containers/{name:.*}/exec", s.execCreate)
	s.handle(http.MethodDelete, "/containers/{name:.*}", s.containerRemove)
	s.handle(http.MethodPost, "/exec/{id}/start", s.execStart)
	s.handle(http.MethodPost, "/exec/{id}/resize", s.execResize)
	s.handle(http.MethodGet, "/exec/{id}/json", s.execInspect)

	// images
	s.handle(http.MethodGet, "/images/json", s.imageList)
	s.handle(http.MethodPost, "/images/create", s.imageCreate)
	s.handle(http.MethodPost, "/images/load", s.imageLoad)
	s.handle(http.MethodGet, "/images/get", s.imageSave)
	s.handle(http.MethodPost, "/images/prune", s.imagePrune)
	s.handle(http.MethodGet, "/images/search", s.notImplemented("image search"))
	s.handle(http.MethodGet, "/images/{name:.*}/json", s.imageInspect)
	s.handle(http.MethodGet, "/images/{name:.*}/history", s.imageHistory)
	s.handle(http.MethodGet, "/images/{name:.*}/get", s.imageSaveOne)
	s.handle(http.MethodPost, "/images/{name:.*}/tag", s.imageTag)
	s.handle(http.MethodPost, "/images/{name:.*}/push", s.imagePush)
	s.handle(http.MethodDelete, "/images/{name:.*}", s.imageRemove)
	s.handle(http.MethodPost, "/build", s.build)
	s.handle(http.MethodPost, "/build/prune", s.buildPrune)
	s.handle(http.MethodPost, "/commit", s.commit)

	// networks
	s.handle(http.MethodGet, "/networks", s.networkList)
	s.handle(http.MethodGet, "/networks/", s.networkList)
	s.handle(http.MethodPost, "/networks/create", s.networkCreate)
	s.handle(http.MethodPost, "/networks/prune", s.networkPrune)
	s.handle(http.MethodGet, "/networks/{id:.*}", s.networkInspect)
	s.handle(http.MethodPost, "/networks/{id:.*}/connect", s.networkConnect)
	s.handle(http.MethodPost, "/networks/{id:.*}/disconnect", s.networkDisconnect)
	s.handle(http.MethodDelete, "/networks/{id:.*}", s.networkRemove)

	// volumes
	s.handle(http.MethodGet, "/volumes", s.volumeList)
	s.handle(http.MethodPost, "/volumes/create", s.volumeCreate)
	s.handle(http.MethodPost, "/volumes/prune", s.volumePrune)
	s.handle(http.MethodGet, "/volumes/{name:.*}", s.volumeInspect)
	s.handle(http.MethodDelete, "/volumes/{name:.*}", s.volumeRemove)

	// what berth does not have: answered as dockerd does where it is off.
	s.handle(http.MethodGet, "/plugins", func(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		return writeJSON(w, http.StatusOK, []any{})
	})
	s.router.PathPrefix("/plugins/").HandlerFunc(s.unsupported("plugins are not supported by berth"))
	s.swarmRoutes()
	s.serviceRoutes()
	s.handle(http.MethodPost, "/session", s.buildkitSession)
	s.handle(http.MethodPost, "/grpc", s.buildkitGRPC)
	s.handle(http.MethodGet, "/distribution/{name:.*}/json", s.distributionInspect)
}

// swarmInactive is dockerd's answer on a node that is not in a swarm,
// naming berth's commands.
func (s *Server) swarmInactive(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, statusError{http.StatusServiceUnavailable,
		"This node is not a swarm manager. Use \"berth cluster init\" or \"berth cluster join\" to connect this node to a berth cluster and try again."})
}

func (s *Server) unsupported(msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, statusError{http.StatusNotImplemented, msg})
	}
}

func (s *Server) notImplemented(what string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		return fmt.Errorf("%s is not served by berth's Docker API yet: %w", what, errdefs.ErrNotImplemented)
	}
}

// isUpgrade reports whether r asks to hijack the connection (attach, exec).
func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "tcp") || strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}
