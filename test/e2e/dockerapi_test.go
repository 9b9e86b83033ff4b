package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/berthproject/berth/test/harness"
)

// dockerAPI sends raw HTTP requests to a stack's Docker API socket: the
// wire details clients depend on, and bad input.
type dockerAPI struct {
	t      *testing.T
	socket string
	client *http.Client
}

func newDockerAPI(t *testing.T, s *harness.Stack) *dockerAPI {
	sock := strings.TrimPrefix(s.DockerHost(), "unix://")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &dockerAPI{t: t, socket: sock, client: &http.Client{Transport: tr}}
}

// do sends a request and returns the answer with its body read.
func (a *dockerAPI) do(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, "http://docker"+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, b
}

// expect checks an answer's status and that its JSON message contains msg.
func (a *dockerAPI) expect(method, path string, body io.Reader, status int, msg string) []byte {
	a.t.Helper()
	resp, b := a.do(method, path, body)
	if resp.StatusCode != status {
		a.t.Errorf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, status, b)
		return b
	}
	if msg != "" {
		var m struct{ Message string }
		if err := json.Unmarshal(b, &m); err != nil || !strings.Contains(m.Message, msg) {
			a.t.Errorf("%s %s: message %q (%v), want it to contain %q", method, path, m.Message, err, msg)
		}
	}
	return b
}

// create makes a container from a JSON body and registers its removal.
func (a *dockerAPI) create(name, body string) string {
	a.t.Helper()
	b := a.expect("POST", "/containers/create?name="+name, strings.NewReader(body), 201, "")
	var r struct{ Id string }
	if err := json.Unmarshal(b, &r); err != nil || r.Id == "" {
		a.t.Fatalf("create: %s", b)
	}
	a.t.Cleanup(func() { a.do("DELETE", "/containers/"+r.Id+"?force=1", nil) })
	return r.Id
}

func (a *dockerAPI) goroutines() int {
	a.t.Helper()
	_, b := a.do("GET", "/info", nil)
	var info struct{ NGoroutines int }
	if err := json.Unmarshal(b, &info); err != nil {
		a.t.Fatalf("info: %v", err)
	}
	return info.NGoroutines
}

// TestDockerAPIWire checks the wire details real clients depend on and
// the answers to bad input, with raw requests to the Docker API.
func TestDockerAPIWire(t *testing.T) {
	s := harness.Start(t)
	s.LoadBusybox()
	a := newDockerAPI(t, s)

	t.Run("Ping", func(t *testing.T) {
		for _, m := range []string{"HEAD", "GET"} {
			resp, b := a.do(m, "/_ping", nil)
			h := resp.Header
			if resp.StatusCode != 200 || h.Get("Api-Version") != "1.50" || h.Get("Ostype") != "linux" || h.Get("Builder-Version") != "2" ||
				h.Get("Swarm") != "inactive" || h.Get("Cache-Control") != "no-cache, no-store, must-revalidate" || h.Get("Pragma") != "no-cache" {
				t.Errorf("%s /_ping: %d %v", m, resp.StatusCode, h)
			}
			if want := map[string]string{"HEAD": "", "GET": "OK"}[m]; string(b) != want {
				t.Errorf("%s /_ping body %q", m, b)
			}
		}
	})
	t.Run("Versions", func(t *testing.T) {
		a.expect("GET", "/v1.99/version", nil, 400, "client version 1.99 is too new. Maximum supported API version is 1.50")
		a.expect("GET", "/v1.23/version", nil, 400, "client version 1.23 is too old. Minimum supported API version is 1.24")
		for _, p := range []string{"/version", "/v1.24/version", "/v1.41/containers/json", "/v1.50/info"} {
			if resp, b := a.do("GET", p, nil); resp.StatusCode != 200 || resp.Header.Get("Api-Version") != "1.50" {
				t.Errorf("GET %s: %d %s", p, resp.StatusCode, b)
			}
		}
		// Older versions see the fields since removed from the newest structs.
		id := a.create("", `{"Image":"busybox","Cmd":["true"]}`)
		_, b := a.do("GET", "/v1.41/containers/"+id+"/json", nil)
		var old struct{ NetworkSettings map[string]any }
		if err := json.Unmarshal(b, &old); err != nil {
			t.Fatal(err)
		}
		if _, ok := old.NetworkSettings["IPAddress"]; !ok {
			t.Errorf("API 1.41 inspect lacks NetworkSettings.IPAddress: %s", b)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		a.expect("GET", "/containers/nope/json", nil, 404, "No such container: nope")
		a.expect("GET", "/images/nope:1/json", nil, 404, "No such image: nope:1")
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":"nope:1"}`), 404, "No such image: nope:1")
		a.expect("GET", "/no/such/endpoint", nil, 404, "page not found")
		a.expect("GET", "/swarm", nil, 503, "This node is not a swarm manager")
		a.expect("GET", "/secrets", nil, 503, "This node is not a swarm manager")
		a.expect("POST", "/build", strings.NewReader(""), 400, "Cannot locate specified Dockerfile: Dockerfile")
		a.expect("POST", "/build?remote=https://example.invalid/x.git", strings.NewReader(""), 400, "building from a remote context")
		a.expect("POST", "/grpc", nil, 400, "POST /grpc needs Upgrade: h2c")
		a.expect("POST", "/session", nil, 400, "POST /session needs Upgrade: h2c")
		a.expect("GET", "/containers/json?filters=notjson", nil, 400, "invalid filters")
		a.expect("GET", "/containers/json?limit=x", nil, 400, "not an integer")
		id := a.create("", `{"Image":"busybox","Cmd":["sleep","600"]}`)
		a.expect("POST", "/containers/"+id+"/start", nil, 204, "")
		a.expect("POST", "/containers/"+id+"/start", nil, 304, "")
		a.expect("DELETE", "/containers/"+id, nil, 409, "stop the container before removing")
		a.expect("POST", "/containers/"+id+"/wait?condition=bogus", nil, 400, "invalid condition")
		a.expect("POST", "/containers/"+id+"/stop?t=0", nil, 204, "")
		a.expect("POST", "/containers/"+id+"/stop", nil, 304, "")
		// dockerd accepts the per-device throttles in an update and
		// changes nothing: berth says so.
		a.expect("POST", "/containers/"+id+"/update", strings.NewReader(`{"BlkioDeviceReadBps":[{"Path":"/dev/null","Rate":1}]}`), 400, "update changes only")
	})
	t.Run("BadBodies", func(t *testing.T) {
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":`), 400, "invalid JSON")
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":5}`), 400, "must be of type string")
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":"busybox","HostConfig":{"Memory":"lots"}}`), 400, "must be of type int64")
		a.expect("POST", "/containers/create", strings.NewReader(``), 400, "request body is empty")
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":"busybox"} {}`), 400, "unexpected content after JSON")
		if resp, body := a.do("POST", "/containers/create", strings.NewReader(`{"Image":"busybox"}`), "Content-Type", "text/plain"); resp.StatusCode != 400 ||
			!strings.Contains(string(body), "unsupported Content-Type header (text/plain): must be 'application/json'") {
			t.Errorf("create with Content-Type text/plain: %d %s, want 400 and the Content-Type named", resp.StatusCode, body)
		}
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":"busybox","HostConfig":{"Links":["no-such-container:b"]}}`), 400, "could not get container for no-such-container")
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":"busybox","HostConfig":{"BlkioWeightDevice":[{"Path":"/dev/null","Weight":10}]}}`), 400, "--blkio-weight-device")
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"syslog"}}}`), 400, "log driver \"syslog\" is not supported")
		a.expect("POST", "/containers/create", strings.NewReader(`{"Image":"busybox","HostConfig":{"PortBindings":{"80/sctp":[{"HostPort":"1"}]}}}`), 400, "only tcp and udp")
		a.expect("POST", "/containers/create?name=bad/name", strings.NewReader(`{"Image":"busybox"}`), 400, "Invalid container name")
		a.expect("POST", "/networks/create", strings.NewReader(`{"Name":"x","IPAM":{"Config":[{"Subnet":"10.123.0.0/24"},{"Subnet":"fd00:123::/64"}]}}`), 400, "given to a network without IPv6: set EnableIPv6")
		big := `{"Image":"busybox","Env":["` + strings.Repeat("x", 5<<20) + `"]}`
		a.expect("POST", "/containers/create", strings.NewReader(big), 413, "larger than")
		// Unknown fields are ignored, as dockerd does (newer clients send them).
		id := a.create("", `{"Image":"busybox","Cmd":["true"],"NoSuchField":1,"HostConfig":{"AlsoUnknown":true}}`)
		if id == "" {
			t.Fatal("no container")
		}
	})
	t.Run("ListForms", func(t *testing.T) {
		id := a.create("", `{"Image":"busybox","Cmd":["true"],"Labels":{"wire":"forms"}}`)
		for _, q := range []string{
			`all=1&filters={"label":{"wire=forms":true}}`,
			`all=True&filters={"label":["wire=forms"]}`,
			`all=true&filters={"label":["wire"]}`,
		} {
			_, b := a.do("GET", "/containers/json?"+strings.ReplaceAll(strings.ReplaceAll(q, `"`, "%22"), " ", "%20"), nil)
			if !bytes.Contains(b, []byte(id)) {
				t.Errorf("list %s: %s", q, b)
			}
		}
	})
	t.Run("WaitHeadersFirst", func(t *testing.T) {
		id := a.create("", `{"Image":"busybox","Cmd":["sleep","600"]}`)
		a.expect("POST", "/containers/"+id+"/start", nil, 204, "")
		req, _ := http.NewRequest("POST", "http://docker/containers/"+id+"/wait", nil)
		resp, err := a.client.Do(req) // returns at the headers: the container still runs
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("wait: %d", resp.StatusCode)
		}
		a.expect("POST", "/containers/"+id+"/kill", nil, 204, "")
		var w struct{ StatusCode int }
		if err := json.NewDecoder(resp.Body).Decode(&w); err != nil || w.StatusCode != 137 {
			t.Errorf("wait body: %+v %v", w, err)
		}
	})
	t.Run("ExecWithoutUpgrade", func(t *testing.T) {
		id := a.create("", `{"Image":"busybox","Cmd":["sleep","600"]}`)
		a.expect("POST", "/containers/"+id+"/start", nil, 204, "")
		b := a.expect("POST", "/containers/"+id+"/exec", strings.NewReader(`{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo out; echo err >&2"]}`), 201, "")
		var ex struct{ Id string }
		_ = json.Unmarshal(b, &ex)
		// dockerode's exec start: no Upgrade header, a plain 200 stream.
		resp, out := a.do("POST", "/exec/"+ex.Id+"/start", strings.NewReader(`{}`))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
			t.Errorf("exec start: %d %v", resp.StatusCode, resp.Header)
		}
		stdout, stderr := demux(t, out)
		if stdout != "out\n" || stderr != "err\n" {
			t.Errorf("exec output: %q %q", stdout, stderr)
		}
		a.expect("POST", "/exec/"+ex.Id+"/start", strings.NewReader(`{}`), 409, "already been started")
		_, b = a.do("GET", "/exec/"+ex.Id+"/json", nil)
		if !bytes.Contains(b, []byte(`"ExitCode":0`)) || !bytes.Contains(b, []byte(`"Running":false`)) {
			t.Errorf("exec inspect: %s", b)
		}
	})
	t.Run("ExecTTYStartWithoutTTY", func(t *testing.T) {
		id := a.create("", `{"Image":"busybox","Cmd":["sleep","600"]}`)
		a.expect("POST", "/containers/"+id+"/start", nil, 204, "")
		b := a.expect("POST", "/containers/"+id+"/exec", strings.NewReader(`{"AttachStdout":true,"AttachStderr":true,"Tty":true,"ConsoleSize":[57,123],"Cmd":["stty","size"]}`), 201, "")
		var ex struct{ Id string }
		_ = json.Unmarshal(b, &ex)
		// As dockerd: the start's Tty (absent) decides the framing, so the
		// terminal's output comes in stdout frames.
		resp, out := a.do("POST", "/exec/"+ex.Id+"/start", strings.NewReader(`{}`))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
			t.Errorf("exec start: %d %v", resp.StatusCode, resp.Header)
		}
		if stdout, _ := demux(t, out); strings.TrimSpace(stdout) != "57 123" {
			t.Errorf("stty size of an exec with a terminal: %q, want 57 123", stdout)
		}
	})
	t.Run("ArchiveTraversal", func(t *testing.T) {
		id := a.create("", `{"Image":"busybox","Cmd":["sleep","600"]}`)
		a.expect("POST", "/containers/"+id+"/start", nil, 204, "")
		hostDir := t.TempDir()
		evil := filepath.Join(hostDir, "evil")
		for _, entries := range [][]tarEntry{
			{{name: "../../../../../../../../" + evil[1:], body: "x"}},
			{{name: "up", link: "../../../../../../../../" + hostDir[1:]}, {name: "up/evil", body: "x"}},
			{{name: "root", link: "/"}, {name: "root" + evil, body: "x"}},
		} {
			resp, b := a.do("PUT", "/containers/"+id+"/archive?path=/tmp", tarOf(t, entries))
			if resp.StatusCode != 400 {
				t.Errorf("archive PUT %v: %d %s", entries, resp.StatusCode, b)
			}
			if _, err := os.Lstat(evil); err == nil {
				t.Fatalf("archive PUT %v wrote %s on the host", entries, evil)
			}
		}
		a.expect("PUT", "/containers/"+id+"/archive?path=/tmp", strings.NewReader("not a tar archive at all, but long enough to need a header block"), 400, "")
		a.expect("PUT", "/containers/"+id+"/archive?path=/etc/hostname", tarOf(t, []tarEntry{{name: "f", body: "x"}}), 400, "not a directory")
		a.expect("PUT", "/containers/"+id+"/archive", tarOf(t, nil), 400, "path parameter is required")
	})
	t.Run("AttachWebsocket", func(t *testing.T) {
		id := a.create("", `{"Image":"busybox","Cmd":["sh","-c","echo started >&2; exec cat"],"OpenStdin":true}`)
		a.expect("POST", "/containers/"+id+"/start", nil, 204, "")
		conn, err := net.Dial("unix", a.socket)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := websocket.NewConfig("ws://docker/v1.50/containers/"+id+"/attach/ws?logs=1&stream=1&stdin=1&stdout=1&stderr=1", "http://localhost")
		if err != nil {
			t.Fatal(err)
		}
		ws, err := websocket.NewClient(cfg, conn)
		if err != nil {
			t.Fatalf("websocket handshake: %v", err)
		}
		defer ws.Close()
		_ = ws.SetDeadline(time.Now().Add(harness.Timeout(time.Minute)))
		// The past stderr (logs=1), raw; then stdin echoed by cat.
		var got strings.Builder
		read := func(want string) {
			t.Helper()
			for !strings.Contains(got.String(), want) {
				var msg []byte
				if err := websocket.Message.Receive(ws, &msg); err != nil {
					t.Fatalf("waiting for %q, got %q: %v", want, got.String(), err)
				}
				got.Write(msg)
			}
		}
		read("started\n")
		if err := websocket.Message.Send(ws, []byte("over the websocket\n")); err != nil {
			t.Fatal(err)
		}
		read("over the websocket\n")
		if got.String() != "started\nover the websocket\n" {
			t.Errorf("websocket attach: %q (raw, no stdcopy frames)", got.String())
		}
	})
	t.Run("DisconnectMidStream", func(t *testing.T) {
		id := a.create("", `{"Image":"busybox","Cmd":["sleep","600"]}`)
		a.expect("POST", "/containers/"+id+"/start", nil, 204, "")
		base := a.goroutines()
		var conns []net.Conn
		for _, p := range []string{"/events", "/containers/" + id + "/logs?follow=1&stdout=1", "/containers/" + id + "/stats",
			"/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D"} {
			for i := 0; i < 3; i++ {
				c, err := net.Dial("unix", a.socket)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: docker\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil || !strings.Contains(line, "200") {
					t.Fatalf("GET %s: %q %v", p, line, err)
				}
				conns = append(conns, c)
			}
		}
		if n := a.goroutines(); n < base+len(conns) {
			t.Logf("goroutines: %d before, %d with %d streams open", base, n, len(conns))
		}
		for _, c := range conns {
			c.Close()
		}
		eventually(t, 30*time.Second, "berthd to drop the closed streams' goroutines", func() bool {
			return a.goroutines() <= base+2
		})
		a.expect("GET", "/_ping", nil, 200, "")
	})
}

// demux splits a stdcopy stream into stdout and stderr.
func demux(t *testing.T, b []byte) (stdout, stderr string) {
	t.Helper()
	var o, e strings.Builder
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b[4:8]))
		if len(b) < 8+n {
			t.Fatalf("short frame: %q", b)
		}
		switch b[0] {
		case 1:
			o.Write(b[8 : 8+n])
		case 2:
			e.Write(b[8 : 8+n])
		default:
			t.Fatalf("stream %d: %q", b[0], b[8:8+n])
		}
		b = b[8+n:]
	}
	if len(b) != 0 {
		t.Fatalf("trailing bytes %q", b)
	}
	return o.String(), e.String()
}

type tarEntry struct{ name, body, link string }

func tarOf(t *testing.T, entries []tarEntry) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.link != "" {
			h = &tar.Header{Name: e.name, Mode: 0o777, Linkname: e.link, Typeflag: tar.TypeSymlink}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}
