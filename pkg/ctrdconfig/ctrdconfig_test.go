package ctrdconfig

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestGenerate(t *testing.T) {
	data, err := Generate(Options{
		Root: "/r/containerd", State: "/s/containerd", Address: "/s/containerd/containerd.sock",
		ShimSocketDir:    "/s/s",
		Snapshotter:      "berth",
		BerthSnapshotter: "/s/snapshotter.sock",
	})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version         int
		Root, State     string
		DisabledPlugins []string `toml:"disabled_plugins"`
		Plugins         map[string]map[string]any
		ProxyPlugins    map[string]any `toml:"proxy_plugins"`
	}
	if err := toml.Unmarshal(data, &got); err != nil {
		t.Fatalf("generated config does not parse: %v\n%s", err, data)
	}
	if got.Version != 4 || got.Root != "/r/containerd" || got.State != "/s/containerd" {
		t.Errorf("header: %+v", got)
	}
	if a := got.Plugins["io.containerd.server.v1.grpc"]["address"]; a != "/s/containerd/containerd.sock" {
		t.Errorf("grpc address = %v", a)
	}
	if a := got.Plugins["io.containerd.server.v1.ttrpc"]["address"]; a != "/s/containerd/containerd.sock.ttrpc" {
		t.Errorf("ttrpc address = %v", a)
	}
	if d := got.Plugins["io.containerd.shim.v1.manager"]["socket_dir"]; d != "/s/s" {
		t.Errorf("shim socket dir = %v", d)
	}
	if e := fmt.Sprint(got.Plugins["io.containerd.shim.v1.manager"]["env"]); e != "[GOMAXPROCS=1]" {
		t.Errorf("shim env = %v", e)
	}
	if a := got.Plugins[BerthSnapshotterPlugin]["address"]; a != "/s/snapshotter.sock" || len(got.ProxyPlugins) != 0 {
		t.Errorf("berth snapshotter plugin address = %v, proxy plugins %v", a, got.ProxyPlugins)
	}
	if !strings.Contains(string(data), "snapshotter = 'berth'") {
		t.Errorf("unpack snapshotter not set:\n%s", data)
	}
	if !contains(got.DisabledPlugins, "io.containerd.grpc.v1.cri") || !contains(got.DisabledPlugins, "io.containerd.nri.v1.nri") {
		t.Errorf("disabled plugins: %v", got.DisabledPlugins)
	}
}

func TestGenerateVersion3(t *testing.T) {
	data, err := Generate(Options{Version: Version3, Root: "/r", State: "/s", Address: "/s/c.sock"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version int
		GRPC    struct{ Address string }
		TTRPC   struct{ Address string }
	}
	if err := toml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 3 || got.GRPC.Address != "/s/c.sock" || got.TTRPC.Address != "/s/c.sock.ttrpc" {
		t.Errorf("v3: %+v\n%s", got, data)
	}
}

func TestGenerateRejects(t *testing.T) {
	for name, o := range map[string]Options{
		"relative root":                     {Root: "r", State: "/s", Address: "/s/c.sock"},
		"no address":                        {Root: "/r", State: "/s"},
		"long socket dir":                   {Root: "/r", State: "/s", Address: "/s/c.sock", ShimSocketDir: "/" + strings.Repeat("x", 50)},
		"bad version":                       {Version: 2, Root: "/r", State: "/s", Address: "/s/c.sock"},
		"relative berth-snapshotter socket": {Root: "/r", State: "/s", Address: "/s/c.sock", BerthSnapshotter: "b.sock"},
	} {
		if _, err := Generate(o); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const libexec = "/usr/local/lib/berth"

// TestContainerdStarts runs a real containerd with the generated config (in
// both formats) and checks it serves, without CRI and without the plugins
// that reach outside the stack.
func TestContainerdStarts(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	bin := filepath.Join(libexec, "containerd")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("containerd not installed (%v): run make deps", err)
	}
	for _, version := range []int{Version3, Version4} {
		dir, err := os.MkdirTemp("/tmp", "bt")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		o := Options{
			Version:       version,
			Root:          filepath.Join(dir, "root"),
			State:         filepath.Join(dir, "state"),
			Address:       filepath.Join(dir, "state", "c.sock"),
			ShimSocketDir: filepath.Join(dir, "s"),
		}
		cfgPath := filepath.Join(dir, "config.toml")
		if err := Write(cfgPath, o); err != nil {
			t.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, "containerd.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--config", cfgPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			logf.Close()
		}
		t.Cleanup(stop)

		waitSocket(t, o.Address, cmd)
		ctr := func(args ...string) string {
			out, err := exec.Command(filepath.Join(libexec, "ctr"), append([]string{"--address", o.Address}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("ctr %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		if v := ctr("version"); !strings.Contains(v, "Server:") {
			t.Errorf("v%d: ctr version: %s", version, v)
		}
		plugins := ctr("plugins", "ls")
		for _, absent := range []string{"cri ", "nri ", "podsandbox"} {
			if strings.Contains(plugins, absent) {
				t.Errorf("v%d: plugin %q is loaded:\n%s", version, absent, plugins)
			}
		}
		for _, present := range []string{"overlayfs", "tasks-service", "transfer"} {
			if !strings.Contains(plugins, present) {
				t.Errorf("v%d: plugin %q missing:\n%s", version, present, plugins)
			}
		}
		for _, line := range strings.Split(plugins, "\n") {
			if strings.HasSuffix(strings.TrimSpace(line), "error") {
				t.Errorf("v%d: a plugin failed: %s", version, line)
			}
		}
		if _, err := os.Stat(o.Address + ".ttrpc"); err != nil {
			t.Errorf("v%d: ttrpc socket not in the stack's state: %v", version, err)
		}
		stop()
		if cmd.ProcessState.ExitCode() != 0 {
			log, _ := os.ReadFile(logf.Name())
			t.Errorf("v%d: containerd exited with %v\n%s", version, cmd.ProcessState, log)
		}
	}
}

func waitSocket(t *testing.T, path string, cmd *exec.Cmd) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("containerd did not create %s", path)
}
