package harness

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RegistryBin is Debian's docker-registry (the CNCF distribution registry).
const RegistryBin = "/usr/bin/docker-registry"

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	// User and Password, when set, turn on htpasswd (bcrypt) authentication
	// with this one account.
	User, Password string
}

// Registry is a distribution registry on 127.0.0.1:<free port> with its
// storage in a temp dir, stopped by PID when the test ends.
type Registry struct {
	t    testing.TB
	dir  string
	addr string
	cfg  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// StartRegistry starts a registry for t (skipping t when the registry or,
// for auth, htpasswd is not installed).
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	if _, err := os.Stat(RegistryBin); err != nil {
		t.Skip("needs docker-registry (apt install docker-registry)")
	}
	dir, err := os.MkdirTemp("", "berth-registry-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &Registry{t: t, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	auth := ""
	if opts.User != "" {
		htpasswd, err := exec.LookPath("htpasswd")
		if err != nil {
			t.Skip("needs htpasswd (apt install apache2-utils)")
		}
		pw := filepath.Join(dir, "htpasswd")
		out, err := exec.Command(htpasswd, "-B", "-b", "-c", pw, opts.User, opts.Password).CombinedOutput()
		if err != nil {
			t.Fatalf("htpasswd: %v: %s", err, out)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", pw)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
%s`, filepath.Join(dir, "data"), r.addr, auth)
	r.cfg = filepath.Join(dir, "config.yml")
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Addr is "127.0.0.1:<port>".
func (r *Registry) Addr() string { return r.addr }

// Dir is the registry's temp dir (its storage is Dir()/data).
func (r *Registry) Dir() string { return r.dir }

// BlobPath is the file the registry keeps blob dgst ("sha256:…") in.
func (r *Registry) BlobPath(dgst string) string {
	hex := strings.TrimPrefix(dgst, "sha256:")
	return filepath.Join(r.dir, "data", "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}

// Start (re)starts the registry on its address and waits until it answers.
func (r *Registry) Start() {
	r.t.Helper()
	if r.cmd != nil {
		return
	}
	logf, err := os.OpenFile(filepath.Join(r.dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(RegistryBin, "serve", r.cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := StartTied(cmd); err != nil {
		logf.Close()
		r.t.Fatal(err)
	}
	r.cmd, r.log, r.done = cmd, logf, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(r.done)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + r.addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		select {
		case <-r.done:
			b, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
			r.cmd = nil
			r.t.Fatalf("docker-registry exited at start: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			r.Stop()
			r.t.Fatalf("docker-registry did not answer on %s: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the registry by its PID (SIGTERM, then SIGKILL after 10 s).
// Start brings it back on the same address with the same storage.
func (r *Registry) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.log.Close()
	r.cmd = nil
}

// Kill stops the registry at once (SIGKILL), as a crash would.
func (r *Registry) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.log.Close()
	r.cmd = nil
}

// freePort asks the kernel for a free TCP port on loopback.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
