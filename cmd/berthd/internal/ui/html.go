package ui

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berthproject/berth/pkg/types/container"
)

// The dashboard writes its HTML with the few functions below instead of
// html/template: html/template runs text/template's executor, whose
// reflect.Value.MethodByName call makes the Go linker keep every exported
// method of every type in berthd (docs/dashboard.md "How it is built").
// Safety comes from the types, not from a parser:
//
//   - markup is HTML the dashboard's own code wrote. Only an untyped
//     constant converts to it without a word; a variable needs a visible
//     markup(v), which the package's tests refuse outside this file.
//   - Every other value goes through an escaping function: text for
//     element content, attr for a double-quoted attribute value, url for
//     an address, which is a link made only by route (a constant path of
//     the dashboard's own with each dynamic segment path-escaped, and
//     query-escaped query values) or portLink (http://host:port/).
//   - No dynamic value goes into a <script> or <style> element, an event
//     handler or style attribute, or an unquoted attribute: attr refuses
//     those names.

// markup is trusted HTML: a constant of the dashboard's own.
type markup string

// htmlWriter collects a page or a fragment.
type htmlWriter struct{ b bytes.Buffer }

// raw writes the dashboard's own markup as it is.
func (w *htmlWriter) raw(m markup) { w.b.WriteString(string(m)) }

// escaper is html/template's for text and quoted attributes: the five
// special characters as entities, NUL as U+FFFD.
var escaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;", `'`, "&#39;", "\x00", "\uFFFD")

// text writes s as element content.
func (w *htmlWriter) text(s string) { _, _ = escaper.WriteString(&w.b, s) }

// num writes a number as element content.
func (w *htmlWriter) num(n int64) { w.b.WriteString(strconv.FormatInt(n, 10)) }

// attr writes ` name="v"`, v escaped. name is one of the dashboard's
// constants; a name where a value would be script, style or an address
// panics (a bug the package's tests find: they render every page).
func (w *htmlWriter) attr(name markup, v string) {
	if !plainAttr(string(name)) {
		panic("ui: attribute " + string(name) + " takes no text value")
	}
	w.quoted(name, v)
}

// quoted writes ` name="v"`, v escaped, for attr, url and hxVals, which
// check the name.
func (w *htmlWriter) quoted(name markup, v string) {
	w.b.WriteByte(' ')
	w.b.WriteString(string(name))
	w.b.WriteString(`="`)
	w.text(v)
	w.b.WriteByte('"')
}

// plainAttr is false for attributes whose value a browser or htmx runs,
// loads or follows: those take a constant, or a link through url.
func plainAttr(name string) bool {
	n := strings.ToLower(name)
	switch {
	case n == "" || strings.ContainsAny(n, " \t\n\f\r\"'=<>/`"):
		return false
	case strings.HasPrefix(n, "on"), n == "style", n == "srcdoc":
		return false
	case urlAttr(n), n == "src", n == "formaction", n == "poster", n == "data", n == "xlink:href":
		return false
	case strings.HasPrefix(n, "hx-"), strings.HasPrefix(n, "data-hx-"):
		// htmx runs hx-on, evaluates js: in hx-vals and hx-headers, and
		// follows hx-get and the others: only the confirm text is free.
		return n == "hx-confirm"
	}
	return true
}

// urlAttr is true for the attributes that hold an address: the
// browser's, htmx's, and app.js's (the data- ones it opens).
func urlAttr(name string) bool {
	switch name {
	case "href", "action", "hx-get", "hx-post", "data-live", "data-logs", "data-exec", "data-stats", "data-events":
		return true
	}
	return false
}

// link is an address the dashboard made (route, portLink): a constant
// scheme or path with its dynamic parts escaped.
type link struct{ s string }

// route is the dashboard's own address pattern with each {} replaced by
// the next segment, path-escaped. pattern starts with / or #.
func route(pattern markup, segs ...string) link {
	p := string(pattern)
	if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "#") {
		panic("ui: route " + p + " is not the dashboard's own")
	}
	var b strings.Builder
	for _, s := range segs {
		i := strings.Index(p, "{}")
		if i < 0 {
			panic("ui: route " + string(pattern) + " has fewer {} than segments")
		}
		b.WriteString(p[:i])
		b.WriteString(url.PathEscape(s))
		p = p[i+2:]
	}
	if strings.Contains(p, "{}") {
		panic("ui: route " + string(pattern) + " has more {} than segments")
	}
	b.WriteString(p)
	return link{b.String()}
}

// query adds key=v to the address, v query-escaped (a / stays as it is:
// the paths of the file browser read better).
func (l link) query(key markup, v string) link {
	sep := "?"
	if strings.Contains(l.s, "?") {
		sep = "&"
	}
	return link{l.s + sep + string(key) + "=" + strings.ReplaceAll(url.QueryEscape(v), "%2F", "/")}
}

// portLink is the address of a published port, on the loopback address
// when the port listens on every address.
func portLink(p container.PortBinding) link {
	host := p.HostIP
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(int(p.HostPort))), Path: "/"}
	return link{u.String()}
}

// url writes ` name="l"`; name is an address attribute (urlAttr).
func (w *htmlWriter) url(name markup, l link) {
	if !urlAttr(string(name)) {
		panic("ui: attribute " + string(name) + " takes no address")
	}
	w.quoted(name, l.s)
}

// hxVals writes htmx's hx-vals with one string value: JSON, escaped as
// an attribute.
func (w *htmlWriter) hxVals(key markup, v string) {
	k, _ := json.Marshal(string(key))
	s, _ := json.Marshal(v)
	w.quoted("hx-vals", "{"+string(k)+": "+string(s)+"}")
}

// render sends a fragment.
func (s *Server) render(w http.ResponseWriter, body func(*htmlWriter)) {
	var h htmlWriter
	body(&h)
	s.send(w, &h)
}

func (s *Server) send(w http.ResponseWriter, h *htmlWriter) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	if _, err := w.Write(h.b.Bytes()); err != nil {
		s.log.Debug("dashboard answer", "error", err)
	}
}

// layout is what every full page has around its content.
type layout struct {
	Title, Nav, CSRF, Version string
}

// page sends a full page: the layout around body.
func (s *Server) page(w http.ResponseWriter, r *http.Request, title string, body func(*htmlWriter)) {
	var h htmlWriter
	l := layout{Title: title, Nav: navOf(r.URL.Path), CSRF: s.csrf, Version: s.opts.Version}
	l.head(&h)
	body(&h)
	l.foot(&h)
	s.send(w, &h)
}

// navLinks are the header's links: address, name, and the Nav that marks
// the link as the current page.
var navLinks = []struct {
	href      markup
	name, nav string
}{
	{"/", "Containers", "containers"}, {"/images", "Images", "images"}, {"/volumes", "Volumes", "volumes"},
	{"/networks", "Networks", "networks"}, {"/builds", "Builds", "builds"}, {"/cluster", "Cluster", "cluster"},
	{"/services", "Services", "services"}, {"/events", "Events", "events"},
}

func (l layout) head(w *htmlWriter) {
	w.raw(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token"`)
	w.attr("content", l.CSRF)
	w.raw(`>
<meta name="htmx-config" content='{"includeIndicatorCSS": false}'>
<title>`)
	w.text(l.Title)
	w.raw(` · berth</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">
<script src="/static/vendor/htmx.min.js" defer></script>
<script src="/static/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<span class="brand">berth</span>
<nav aria-label="Main">
<ul>
`)
	for _, n := range navLinks {
		w.raw(`<li>`)
		w.raw(`<a`)
		w.url("href", route(n.href))
		w.raw(` `)
		if n.nav == l.Nav {
			w.raw(`aria-current="page"`)
		}
		w.raw(`>`)
		w.text(n.name)
		w.raw("</a></li>\n")
	}
	w.raw(`</ul>
</nav>
<span id="live" class="live" role="status" aria-live="polite"></span>
</header>
<div id="error" class="error" role="alert" hidden></div>
<main id="main" tabindex="-1">
`)
}

func (l layout) foot(w *htmlWriter) {
	w.raw(`</main>
<footer>berthd `)
	w.text(l.Version)
	w.raw(`</footer>
</body>
</html>
`)
}

// loginPage is what a browser without the session sees; bad: it brought a
// wrong token.
func loginPage(w *htmlWriter, bad bool) {
	w.raw(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>berth · sign in</title><link rel="stylesheet" href="/static/app.css"></head>
<body>
<main id="main" class="login">
<h1>berth dashboard</h1>
`)
	if bad {
		w.raw(`<p class="error" role="alert">That login link is not valid (berthd makes a new token at each start).</p>`)
	}
	w.raw(`
<p>Open the address that <code>berth ui</code> prints (or run <code>berth ui --open</code>) on the machine where berthd runs.</p>
</main>
</body>
</html>
`)
}
