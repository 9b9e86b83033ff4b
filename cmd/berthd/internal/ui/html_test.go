package ui

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/berthproject/berth/pkg/types/build"
	"github.com/berthproject/berth/pkg/types/cluster"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/pkg/types/network"
	stypes "github.com/berthproject/berth/pkg/types/service"
	"github.com/berthproject/berth/pkg/types/volume"
)

// fixture is the data of every page and fragment, with s in every string
// that a user, an image or a container can set (names, labels, env,
// paths, tags, commands, messages): the pages' dynamic fields.
type fixture struct {
	groups    []group
	counts    counts
	running   containerView
	exited    containerView
	files     []entry
	images    []imageRow
	history   []image.HistoryEntry
	volumes   []*volume.Volume
	networks  []networkView
	builds    buildView
	inactive  clusterView
	pending   clusterView
	active    clusterView
	services  servicesView
	noService servicesView
	service   serviceView
}

func newFixture(s string) fixture {
	old := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	ports := []container.PortBinding{{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80}, {HostIP: "::1", HostPort: 5353, ContainerPort: 53, Proto: "udp"}, {ContainerPort: 9000}}
	sum := func(id, state, health, project string) container.Summary {
		return container.Summary{ID: id, Names: []string{"/" + s + id}, Image: s, State: state, Health: health, StartedAt: old, Ports: ports,
			Labels: map[string]string{composeProject: project, "com.docker.compose.service": s}}
	}
	rowOf := func(c container.Summary) row {
		return row{Summary: c, Name: strings.TrimPrefix(c.Names[0], "/"), Project: c.Labels[composeProject], Service: c.Labels["com.docker.compose.service"]}
	}
	running, paused, exited := sum(s+"1", "running", "unhealthy", s), sum(s+"2", "paused", "", s), sum(s+"3", "exited", "", "")
	f := fixture{
		groups: []group{{Project: s, Rows: []row{rowOf(running), rowOf(paused)}, Running: 1}, {Rows: []row{rowOf(exited)}}},
		counts: counts{Running: 1, Stopped: 1, Unhealthy: 1, Paused: 1, Images: 2, Volumes: 3, Networks: 4, Disk: 12345678},
	}
	c := &container.Container{ID: s, Name: "/" + s, Created: old, Image: "sha256:" + s, ImageName: s, Path: s, Args: []string{s, s},
		State:        container.State{Status: "running", ExitCode: 137, OOMKilled: true, StartedAt: old, Health: &container.Health{Status: s}},
		RestartCount: 2, Runtime: s, Snapshotter: s, WorkingDir: s, Env: []string{"A=" + s, s},
		Config: container.Config{Labels: map[string]string{s: s, "b": s}, RestartPolicy: container.RestartPolicy{Name: s}},
		NetworkSettings: container.NetworkSettings{Ports: ports, Networks: map[string]container.EndpointSettings{
			s: {IPAddress: s, Gateway: s, MacAddress: s}, "bridge": {IPAddress: "10.0.0.2"}}},
		Mounts: []container.MountPoint{{Type: "volume", Name: s, Destination: s, RW: true}, {Type: "bind", Source: s, Destination: s}},
	}
	f.running = containerView{C: c, JSON: s, Name: s, Row: row{Summary: container.Summary{ID: s, State: "running"}, Name: s}}
	stopped := &container.Container{ID: s, Name: "/" + s, State: container.State{Status: "exited"}}
	f.exited = containerView{C: stopped, JSON: s, Name: s, Row: row{Summary: container.Summary{ID: s, State: "exited"}, Name: s}}
	f.files = []entry{{Name: s, Path: "/" + s, Dir: true, Mode: fs.ModeDir | 0o755, ModTime: old},
		{Name: s + "f", Path: "/" + s + "f", Size: 4096, Mode: 0o644, ModTime: old},
		{Name: s + "l", Path: "/" + s + "l", Link: s, Mode: fs.ModeSymlink | 0o777, ModTime: old}}
	img := image.Summary{ID: "sha256:" + s, RepoTags: []string{s, s + ":2"}, Created: old, Size: 1 << 20}
	f.images = []imageRow{{Summary: img, Ref: s}, {Summary: img, Ref: s + ":2"}, {Summary: image.Summary{ID: s, Created: old}, Ref: s}}
	f.history = []image.HistoryEntry{{Created: old, CreatedBy: s, Size: 10}}
	f.volumes = []*volume.Volume{{Name: s, Driver: s, CreatedAt: old, UsedBy: []string{s, "abc"}}, {Name: s + "2", Driver: "local", Anonymous: true, CreatedAt: old}}
	net := &network.Network{ID: s, Name: s, Driver: s, Subnet: netip.MustParsePrefix("10.20.0.0/24"), Gateway: netip.MustParseAddr("10.20.0.1"), Interface: s, Internal: true}
	f.networks = []networkView{{Network: net, Members: []container.Summary{running, exited}},
		{Network: &network.Network{ID: "b", Name: "bridge", Driver: "bridge", Default: true}}}
	used := old.Add(time.Hour)
	f.builds = buildView{Records: []build.CacheRecord{{Description: s, Type: s, Size: 5, CreatedAt: old, LastUsedAt: &used, UsageCount: 3, InUse: true},
		{Description: s, CreatedAt: old}}, Total: 5, Pruned: s}
	f.inactive = clusterView{Info: &cluster.Info{State: "inactive"}}
	f.pending = clusterView{Info: &cluster.Info{State: "pending"}}
	nodes := []cluster.Node{{ID: s, Hostname: s, Addr: s, Availability: "active", Status: "ready", Self: true, EngineVersion: s},
		{ID: s + "2", Hostname: s, Addr: s, Availability: "pause", Status: s, StoreRole: s}}
	f.active = clusterView{Info: &cluster.Info{State: "active", ClusterID: s, NodeID: s, NodeAddr: s, CreatedAt: old, Store: s,
		StoreEndpoints: []string{s, s}, Members: 3, Nodes: 2, NodesReady: 1}, Nodes: nodes}
	sv := stypes.Service{ID: s, Meta: stypes.Meta{CreatedAt: old, UpdatedAt: old},
		Spec: stypes.ServiceSpec{Name: s, Mode: stypes.ServiceMode{Replicated: &stypes.ReplicatedService{Replicas: 3}},
			TaskTemplate: stypes.TaskSpec{ContainerSpec: &stypes.ContainerSpec{Image: s}}},
		Endpoint:     stypes.Endpoint{Ports: []stypes.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: s}, {Protocol: s, TargetPort: 81}}},
		UpdateStatus: &stypes.UpdateStatus{State: s, Message: s}}
	f.services = servicesView{Active: true, Services: []serviceRow{{Service: sv, Mode: "replicated", Running: 3, Desired: 3}, {Service: sv, Mode: "global"}}}
	f.noService = servicesView{Active: true}
	f.service = serviceView{Service: &sv, Mode: "replicated", Tasks: []taskRow{
		{Task: stypes.Task{ID: s, DesiredState: s, Status: stypes.TaskStatus{State: "running", Timestamp: old, Err: s, Health: s,
			ContainerStatus: &stypes.ContainerStatus{ContainerID: s}}}, Name: s, Node: s},
		{Task: stypes.Task{ID: "t2", DesiredState: "shutdown", Status: stypes.TaskStatus{State: s}}, Name: s}}}
	return f
}

// pages renders every page (in its layout, s in its title and footer)
// and every fragment of f, by name.
func (f fixture) pages(s string) map[string]string {
	out := map[string]string{}
	frag := func(name string, body func(*htmlWriter)) {
		var h htmlWriter
		body(&h)
		out[name] = h.b.String()
	}
	page := func(name, nav string, body func(*htmlWriter)) {
		frag(name, func(h *htmlWriter) {
			l := layout{Title: s, Nav: nav, CSRF: "csrf", Version: s}
			l.head(h)
			body(h)
			l.foot(h)
		})
	}
	page("containers.html", "containers", func(h *htmlWriter) { containersBody(h, f.groups, f.counts) })
	page("containers.html empty", "containers", func(h *htmlWriter) { containersBody(h, nil, counts{Disk: -1}) })
	frag("container-list", func(h *htmlWriter) { containerList(h, f.groups) })
	frag("counts", func(h *htmlWriter) { countsList(h, f.counts) })
	page("container.html", "containers", func(h *htmlWriter) { containerBody(h, f.running) })
	page("container.html exited", "containers", func(h *htmlWriter) { containerBody(h, f.exited) })
	frag("container-head", func(h *htmlWriter) { containerHeadline(h, f.running) })
	frag("files", func(h *htmlWriter) { filesList(h, s, "/"+s+"/d", f.files, true) })
	frag("files root", func(h *htmlWriter) { filesList(h, s, "/", nil, false) })
	page("images.html", "images", func(h *htmlWriter) { imagesBody(h, f.images) })
	frag("image-list", func(h *htmlWriter) { imageList(h, nil) })
	frag("image-history", func(h *htmlWriter) { imageHistory(h, s, f.history) })
	page("volumes.html", "volumes", func(h *htmlWriter) { volumesBody(h, f.volumes) })
	frag("volume-list", func(h *htmlWriter) { volumeList(h, nil) })
	frag("volume-files", func(h *htmlWriter) { volumeFiles(h, s, "/"+s, f.files) })
	frag("volume-files empty", func(h *htmlWriter) { volumeFiles(h, s, "/", nil) })
	page("networks.html", "networks", func(h *htmlWriter) { networksBody(h, f.networks) })
	page("network.html", "networks", func(h *htmlWriter) { networkBody(h, f.networks[0], s) })
	page("network.html empty", "networks", func(h *htmlWriter) { networkBody(h, f.networks[1], s) })
	page("builds.html", "builds", func(h *htmlWriter) { buildsBody(h, f.builds) })
	frag("build-list", func(h *htmlWriter) { buildList(h, buildView{Total: -1}) })
	page("cluster.html", "cluster", func(h *htmlWriter) { clusterBody(h, f.active) })
	page("cluster.html inactive", "cluster", func(h *htmlWriter) { clusterBody(h, f.inactive) })
	page("cluster.html pending", "cluster", func(h *htmlWriter) { clusterBody(h, f.pending) })
	frag("node-list", func(h *htmlWriter) { nodeList(h, f.active.Nodes) })
	page("services.html", "services", func(h *htmlWriter) { servicesBody(h, f.services) })
	page("services.html none", "services", func(h *htmlWriter) { servicesBody(h, f.noService) })
	page("services.html inactive", "services", func(h *htmlWriter) { servicesBody(h, servicesView{}) })
	frag("service-list", func(h *htmlWriter) { serviceList(h, f.services) })
	page("service.html", "services", func(h *htmlWriter) { serviceBody(h, f.service) })
	frag("service-body", func(h *htmlWriter) { serviceSettings(h, f.service) })
	frag("task-list", func(h *htmlWriter) { taskList(h, nil) })
	page("events.html", "events", eventsBody)
	frag("login.html", func(h *htmlWriter) { loginPage(h, false) })
	frag("login.html bad", func(h *htmlWriter) { loginPage(h, true) })
	return out
}

// hostile strings: markup, an attribute break-out with an event handler,
// a script address, quotes and an entity, a URL's special characters.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`' onmouseover='alert(1)`,
	`javascript:alert(1)`,
	`a&amp;b "c" 'd' <e> /f?g=h&i#j k+l%20m`,
}

// node is a tag of a page and its attribute names: what hostile values
// must not change.
type node struct {
	tag   string
	attrs []string
}

func parse(t *testing.T, name, page string) (nodes []node, text string, attrs []html.Attribute) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("%s: %v", name, z.Err())
			}
			return nodes, text, attrs
		case html.TextToken:
			text += string(z.Text())
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			n := node{tag: tt.String() + " " + tok.Data}
			for _, a := range tok.Attr {
				n.attrs = append(n.attrs, a.Key)
				attrs = append(attrs, a)
			}
			nodes = append(nodes, n)
		}
	}
}

// TestHostileValuesAreEscaped renders every page and fragment with each
// hostile string in every dynamic field: the page keeps the elements and
// attributes it has with plain values, shows the string as it is, links
// only to the dashboard's own addresses and published ports, and has no
// handler, style or inline script.
func TestHostileValuesAreEscaped(t *testing.T) {
	plain := newFixture("zq9").pages("zq9")
	for _, s := range hostile {
		for name, page := range newFixture(s).pages(s) {
			want, _, _ := parse(t, name, plain[name])
			got, text, attrs := parse(t, name, page)
			if len(got) != len(want) {
				t.Errorf("%s with %q: %d tags, want %d:\n%s", name, s, len(got), len(want), page)
				continue
			}
			for i := range got {
				if got[i].tag != want[i].tag || strings.Join(got[i].attrs, " ") != strings.Join(want[i].attrs, " ") {
					t.Errorf("%s with %q: tag %d is %v, want %v", name, s, i, got[i], want[i])
					break
				}
			}
			if strings.Contains(plain[name], "zq9") && !strings.Contains(text, s) && !attrHolds(attrs, s) {
				t.Errorf("%s: %q shown nowhere:\n%s", name, s, page)
			}
			for _, a := range attrs {
				checkAttr(t, name, a)
			}
			if strings.Contains(page, s) && strings.ContainsAny(s, `<>"'&`) {
				t.Errorf("%s: %q written unescaped", name, s)
			}
		}
	}
}

// attrHolds: s is in an attribute's value, or in an address's (escaped).
func attrHolds(attrs []html.Attribute, s string) bool {
	for _, a := range attrs {
		inPath, _ := url.PathUnescape(a.Val)
		inQuery, _ := url.QueryUnescape(a.Val)
		if strings.Contains(a.Val, s) || urlAttr(a.Key) && (strings.Contains(inPath, s) || strings.Contains(inQuery, s)) {
			return true
		}
	}
	return false
}

var ownAddress = regexp.MustCompile(`^(/|#|http://(127\.0\.0\.1|\[::1\]):[0-9]+/$|data:,$)`)

func checkAttr(t *testing.T, page string, a html.Attribute) {
	t.Helper()
	k := strings.ToLower(a.Key)
	switch {
	case strings.HasPrefix(k, "on") || k == "style":
		t.Errorf("%s: attribute %s=%q", page, a.Key, a.Val)
	case urlAttr(k) || k == "src":
		if !ownAddress.MatchString(a.Val) {
			t.Errorf("%s: %s=%q is not the dashboard's own address", page, a.Key, a.Val)
		}
	case k == "hx-vals":
		if !strings.HasPrefix(a.Val, "{") {
			t.Errorf("%s: hx-vals=%q is not JSON", page, a.Val)
		}
	}
}

// TestPagesHaveNoInlineScript: the CSP would block one anyway, so a page
// with one is a bug.
func TestPagesHaveNoInlineScript(t *testing.T) {
	for name, page := range newFixture("x").pages("x") {
		z := html.NewTokenizer(strings.NewReader(page))
		for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
			tok := z.Token()
			if tt == html.StartTagToken && (tok.Data == "script" || tok.Data == "style") {
				src := ""
				for _, a := range tok.Attr {
					if a.Key == "src" {
						src = a.Val
					}
				}
				if tok.Data == "style" || !strings.HasPrefix(src, "/static/") {
					t.Errorf("%s: <%s> with src %q", name, tok.Data, src)
				}
				if z.Next() == html.TextToken && strings.TrimSpace(string(z.Text())) != "" {
					t.Errorf("%s: inline script %q", name, z.Text())
				}
			}
		}
	}
}

// TestURLsEscapeTheirSegments: a name cannot leave its path segment or
// its query value.
func TestURLsEscapeTheirSegments(t *testing.T) {
	for _, c := range []struct {
		got  link
		want string
	}{
		{route("/containers/{}/start", "a/../b?c#d"), "/containers/a%2F..%2Fb%3Fc%23d/start"},
		{route("/volumes#v-{}", `"x y"`), "/volumes#v-%22x%20y%22"},
		{route("/containers/{}/files", "id").query("path", "/a b&c=d#e+f"), "/containers/id/files?path=/a+b%26c%3Dd%23e%2Bf"},
		{route("/x?all=1").query("y", "z"), "/x?all=1&y=z"},
		{portLink(container.PortBinding{HostIP: "::", HostPort: 80}), "http://127.0.0.1:80/"},
		{portLink(container.PortBinding{HostIP: "fe80::1", HostPort: 80}), "http://[fe80::1]:80/"},
	} {
		if c.got.s != c.want {
			t.Errorf("%q, want %q", c.got.s, c.want)
		}
	}
	for _, bad := range []func(){
		func() { route("javascript:{}", "x") },
		func() { route("/a/{}") },
		func() { route("/a", "x") },
		func() { (&htmlWriter{}).attr("onclick", "x") },
		func() { (&htmlWriter{}).attr("href", "/x") },
		func() { (&htmlWriter{}).attr("STYLE", "x") },
		func() { (&htmlWriter{}).attr("hx-get", "/x") },
		func() { (&htmlWriter{}).attr("x onclick", "x") },
		func() { (&htmlWriter{}).url("onclick", route("/x")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a misuse of the HTML writer did not panic")
				}
			}()
			bad()
		}()
	}
}

// TestNoTemplatePackage: the dashboard must not bring text/template's
// executor back into berthd (docs/dashboard.md "How it is built").
func TestNoTemplatePackage(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the package's dependencies: %v", err)
	}
	out, err := exec.Command(gocmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %q", deps)
	}
	for _, d := range deps {
		if d == "text/template" || d == "html/template" {
			t.Errorf("the dashboard depends on %s: it makes the linker keep every exported method in berthd", d)
		}
	}
}

// TestMarkupIsOnlyConstants: a markup(v) conversion of a variable would
// pass it unescaped; the package has none.
func TestMarkupIsOnlyConstants(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	n := 0
	for _, p := range files {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		n++
		ast.Inspect(f, func(x ast.Node) bool {
			if call, ok := x.(*ast.CallExpr); ok {
				if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "markup" {
					if _, lit := call.Args[0].(*ast.BasicLit); !lit {
						t.Errorf("%s: markup(%s): only the dashboard's constants are markup", fset.Position(call.Pos()), exprName(call.Args[0]))
					}
				}
			}
			return true
		})
	}
	if n < 5 {
		t.Fatalf("found %d source files", n)
	}
}

func exprName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return "…"
}
