// Package ui is berth's web dashboard, served by berthd when --ui is set
// (docs/dashboard.md). It is another thin edge beside the gRPC and Docker
// APIs: pages rendered on the server by Go code (html.go's writer, not
// html/template) whose handlers make engine calls through the same
// Backend as the Docker API, live updates over server-sent events, and the
// exec console over a WebSocket. The front-end libraries are vendored
// under static/vendor (vendor.sh refreshes them) and embedded: building
// berth needs no Node.
//
// Security: the dashboard is root-equivalent. A login token (printed by
// `berth ui`) buys an HttpOnly, SameSite=Strict session cookie; every
// change needs the page's CSRF token and a same-origin Origin; the Host
// must be the loopback address served (no DNS rebinding) unless the
// listener is mutual TLS; the Content-Security-Policy allows no inline or
// foreign script. Nothing runs while no page is open: the only goroutines
// are the HTTP server's, and a live stream's for as long as it is open.
package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/cmd/berthd/internal/dockerapi"
	"github.com/berthproject/berth/pkg/types/build"
	"github.com/berthproject/berth/pkg/types/cluster"
	"github.com/berthproject/berth/pkg/types/container"
)

//go:embed static
var content embed.FS

// Backend is what the dashboard calls: the engine's services as the
// Docker API sees them, plus the directory listing of the file browser.
type Backend struct {
	dockerapi.Backend
	Files Files
	// Builds is the builder's cache (nil: the Builds page says so).
	Builds Builds
	// Cluster is the cluster service (nil: berthd runs without one).
	Cluster Cluster
}

// Cluster is the cluster of berthd nodes (*cluster.Service).
type Cluster interface {
	Info(ctx context.Context) (*cluster.Info, error)
	NodeList(ctx context.Context) ([]cluster.Node, error)
	NodeUpdate(ctx context.Context, ref string, u cluster.NodeUpdate) error
}

// Builds is the build cache (*build.Service).
type Builds interface {
	DiskUsage(ctx context.Context) ([]build.CacheRecord, error)
	Prune(ctx context.Context, opts build.PruneOptions) (*build.PruneReport, error)
}

// Files lists a container's directory (*container.Service).
type Files interface {
	ReadDir(ctx context.Context, id, path string) ([]container.PathStat, error)
}

// Options configure a Server.
type Options struct {
	// Token is the login secret; empty generates one (Server.Token).
	Token string
	// TLS is true when the listener is mutual TLS: the client certificate
	// authenticates the peer, so any Host is accepted and the cookie is
	// Secure.
	TLS bool
	// Version is berthd's, shown in the footer.
	Version string
	Log     *slog.Logger
}

// Server is the dashboard's HTTP handler.
type Server struct {
	b       Backend
	opts    Options
	token   string
	session string // the cookie's value
	csrf    string // the pages' CSRF token
	mux     *http.ServeMux
	static  http.Handler
	log     *slog.Logger
}

const cookieName = "berth_ui"

// New returns the dashboard over b.
func New(b Backend, opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	token := opts.Token
	if token == "" {
		buf := make([]byte, 32)
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		token = hex.EncodeToString(buf)
	}
	derive := func(purpose string) string {
		m := hmac.New(sha256.New, []byte(token))
		m.Write([]byte(purpose))
		return hex.EncodeToString(m.Sum(nil))
	}
	static, err := fs.Sub(content, "static")
	if err != nil {
		return nil, err
	}
	s := &Server{b: b, opts: opts, token: token, session: derive("session"), csrf: derive("csrf"),
		mux: http.NewServeMux(), static: http.FileServerFS(static), log: opts.Log}
	s.routes()
	return s, nil
}

// Token is the login secret: /login?token=<Token> opens a session.
func (s *Server) Token() string { return s.token }

// handlerFunc is a route's handler; an error becomes an error answer
// with the status of its errdefs class (unless the answer was started).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			if r.Context().Err() == nil {
				s.log.Debug("dashboard error", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			s.writeError(w, r, err)
		}
	})
}

// ServeHTTP applies the security checks, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !s.opts.TLS && !loopbackHost(r.Host) {
		http.Error(w, "the dashboard answers only to its loopback address (Host "+r.Host+" refused)", http.StatusMisdirectedRequest)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "public, max-age=3600")
		http.StripPrefix("/static", s.static).ServeHTTP(w, r)
		return
	}
	h.Set("Cache-Control", "no-store")
	if r.URL.Path == "/login" {
		s.login(w, r)
		return
	}
	if !s.authenticated(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, func(h *htmlWriter) { loginPage(h, false) })
		return
	}
	if err := s.checkOrigin(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := s.checkCSRF(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// csp: scripts and styles from the dashboard itself only. Inline styles are
// allowed because xterm.js themes its DOM renderer with a <style> element
// and uPlot sizes its canvas with style attributes; no inline script is.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// loopbackHost is true for Host headers naming a loopback address
// (127.0.0.0/8, ::1, localhost): a page from another site that resolves
// its own name to 127.0.0.1 (DNS rebinding) sends its own name.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, func(h *htmlWriter) { loginPage(h, tok != "") })
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.session, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.opts.TLS})
	// The token leaves the address bar (and the history) at once.
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) authenticated(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.session)) == 1
}

// checkOrigin refuses a request another site's page made: a browser sends
// Origin on every POST and WebSocket handshake, and Sec-Fetch-Site on
// every request.
func (s *Server) checkOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %s)", site)
	}
	o := r.Header.Get("Origin")
	if o == "" {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return nil
		}
		return errors.New("a change needs the Origin header of the dashboard's own page")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if o != scheme+"://"+r.Host {
		return fmt.Errorf("origin %s refused: the dashboard only accepts its own pages (%s://%s)", o, scheme, r.Host)
	}
	return nil
}

// checkCSRF wants the page's token in the X-CSRF-Token header (htmx and
// fetch) or the csrf form field.
func (s *Server) checkCSRF(r *http.Request) error {
	t := r.Header.Get("X-CSRF-Token")
	if t == "" {
		t = r.URL.Query().Get("csrf")
	}
	if t == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		t = r.PostFormValue("csrf")
	}
	if t == "" || subtle.ConstantTimeCompare([]byte(t), []byte(s.csrf)) != 1 {
		return errors.New("missing or wrong CSRF token: reload the page")
	}
	return nil
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch {
	case errdefs.IsNotFound(err):
		code = http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		code = http.StatusBadRequest
	case errdefs.IsConflict(err), errdefs.IsFailedPrecondition(err), errdefs.IsAlreadyExists(err):
		code = http.StatusConflict
	}
	if r.Header.Get("HX-Request") != "" {
		// htmx swaps only 2xx answers by default: the error goes to the
		// page's error banner through app.js.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	http.Error(w, err.Error(), code)
}

func navOf(path string) string {
	for _, p := range []string{"images", "volumes", "networks", "builds", "cluster", "services", "events"} {
		if strings.HasPrefix(path, "/"+p) {
			return p
		}
	}
	return "containers"
}
