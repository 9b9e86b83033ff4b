package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testutil/daemon's command line (StartWithLogFile) and a test's own flags.
var testutilArgs = []string{
	"--config-file", "/dev/null", "--data-root", "/d/root", "--exec-root", "/tmp/dxr/d0123456789ab",
	"--pidfile", "/d/docker.pid", "--userland-proxy=true", "--containerd-namespace", "d0123456789ab",
	"--containerd-plugins-namespace", "d0123456789abp", "--containerd", "/var/run/docker/containerd/containerd.sock",
	"--host", "unix:///tmp/docker-integration/d0123456789ab.sock", "--debug",
}

func TestBerthdArgs(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BERTH_MOBY_BERTHD", "/b/berthd")
	t.Setenv("BERTH_MOBY_POOL", "231")
	t.Setenv("BERTH_MOBY_BIN_DIRS", "/b:/l")
	s, err := parse(append(testutilArgs, "--iptables=false", "-D", "--insecure-registry", "192.168.0.0/16", "--registry-mirror=https://m.example", "--default-runtime=io.containerd.realfake.v42"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := berthdArgs(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(st.Args, " ")
	for _, want := range []string{
		"--root /d/root --state /tmp/dxr/d0123456789ab",
		"--docker-socket /tmp/docker-integration/d0123456789ab.sock",
		"--namespace d0123456789ab --bridge bdk0123456789 --firewall-prefix BDK0123456789",
		"--bin-dirs /b --bin-dirs /l",
		"--bridge-subnet 10.231.0.0/24 --default-address-pool base=10.231.0.0/20,size=24",
		"--insecure-registry 192.168.0.0/16", "--registry-mirror docker.io=https://m.example", "--debug",
		"--runtime io.containerd.realfake.v42",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("berthd's args %q lack %q", got, want)
		}
	}
	// A second stack of the test process takes the next /20; the first
	// keeps its own when it starts again.
	s2, err := parse([]string{"--data-root", "/d2", "--exec-root", "/x2", "--containerd-namespace", "dfedcba987654", "-H", "unix:///s.sock"})
	if err != nil {
		t.Fatal(err)
	}
	st2, err := berthdArgs(s2, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st2.Args, " "); !strings.Contains(got, "--bridge-subnet 10.231.16.0/24 ") {
		t.Errorf("second stack: %q", got)
	}
	if st, _ = berthdArgs(s, dir); !slices.Contains(st.Args, "10.231.0.0/24") {
		t.Errorf("first stack again: %q", st.Args)
	}
}

// -b none (dockerd's --bridge none) turns berthd's default network off;
// another bridge name has no equivalent.
func TestBridgeNone(t *testing.T) {
	t.Setenv("BERTH_MOBY_BERTHD", "/b/berthd")
	t.Setenv("BERTH_MOBY_POOL", "231")
	s, err := parse(append(slices.Clone(testutilArgs), "-b", "none"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := berthdArgs(s, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.Args, " "); !strings.Contains(got, "--bridge none ") {
		t.Errorf("berthd's args %q lack --bridge none", got)
	}
	if _, err := parse(append(slices.Clone(testutilArgs), "--bridge", "br0")); err == nil {
		t.Error("--bridge br0: want an error")
	}
}

func TestUnknownFlagFails(t *testing.T) {
	for _, args := range [][]string{{"--userns-remap=default"}, {"--storage-driver", "vfs"}, {"-G", "docker"}} {
		_, err := parse(append(slices.Clone(testutilArgs), args...))
		if err == nil || !strings.Contains(err.Error(), strings.SplitN(strings.TrimLeft(args[0], "-"), "=", 2)[0]) {
			t.Errorf("%v: want an error naming it, got %v", args, err)
		}
	}
}

func TestConfigFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(cfg, []byte(`{"default-ipc-mode": "shareable", "insecure-registries": ["a:5000"], "debug": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := slices.Clone(testutilArgs)
	args[1] = cfg
	s, err := parse(args)
	if err != nil {
		t.Fatal(err)
	}
	if s.ipcMode != "shareable" || !slices.Equal(s.insecure, []string{"a:5000"}) || !s.debug {
		t.Errorf("daemon.json not applied: %+v", s)
	}
	if err := os.WriteFile(cfg, []byte(`{"features": {"buildkit": false}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parse(args); err == nil || !strings.Contains(err.Error(), `"features"`) {
		t.Errorf("unknown key: want an error naming it, got %v", err)
	}
}

// TestCallerPath: the dirs a test put in front of the adapter's on the
// daemon's PATH (a shim of its own) stay in front of berthd's.
func TestCallerPath(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	adapter := filepath.Dir(self)
	for path, want := range map[string]string{
		"/shims:/more:" + adapter + ":/runner/bin": "/shims:/more:",
		adapter + ":/runner/bin":                   "",
		"/only":                                    "/only:",
	} {
		if got := callerPath(path); got != want {
			t.Errorf("callerPath(%q) = %q, want %q", path, got, want)
		}
	}
}

// CDI's settings as TestCDISpecDirsAreInSystemInfo gives them: dirs, ""
// alone, the cdi feature off, and daemon.json's keys.
func TestCDIArgs(t *testing.T) {
	t.Setenv("BERTH_MOBY_BERTHD", "/b/berthd")
	t.Setenv("BERTH_MOBY_POOL", "231")
	conf := filepath.Join(t.TempDir(), "daemon.json")
	for _, tc := range []struct {
		config string
		args   []string
		want   []string // the --cdi-spec-dir values
	}{
		{`{}`, nil, nil},
		{`{}`, []string{"--cdi-spec-dir=/foo", "--cdi-spec-dir=/bar"}, []string{"/foo", "/bar"}},
		{`{"features": {"cdi": true}}`, []string{"--cdi-spec-dir="}, []string{""}},
		{`{"features": {"cdi": true}, "cdi-spec-dirs": []}`, nil, []string{""}},
		{`{"features": {"cdi": false}}`, []string{"--cdi-spec-dir=/foo"}, []string{""}},
		{`{}`, []string{"--feature", "cdi", "--cdi-spec-dir=/foo"}, []string{"/foo"}},
	} {
		if err := os.WriteFile(conf, []byte(tc.config), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append(slices.Clone(testutilArgs), tc.args...)
		args[1] = conf
		s, err := parse(args)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.config, tc.args, err)
		}
		st, err := berthdArgs(s, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, a := range st.Args {
			if a == "--cdi-spec-dir" {
				got = append(got, st.Args[i+1])
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %v: --cdi-spec-dir %q, want %q", tc.config, tc.args, got, tc.want)
		}
	}
}
