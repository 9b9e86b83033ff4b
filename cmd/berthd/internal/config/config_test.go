package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "berthd.toml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMissingFileGivesDefaults(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Root != "/var/lib/berth" || c.State != "/run/berth" || c.Socket != "/run/berth/berth.sock" {
		t.Errorf("paths: %+v", c)
	}
	if c.Namespace != "berth" || c.Runtime != RuntimeBerth || c.Snapshotter != SnapshotterBerth {
		t.Errorf("names: %+v", c)
	}
	if c.ContainerdSocket() != "/run/berth/containerd/containerd.sock" ||
		c.ContainerdRoot() != "/var/lib/berth/containerd" ||
		c.SnapshotterSocket() != "/run/berth/snapshotter.sock" ||
		c.ShimSocketDir() != "/run/berth/s" || c.RuncRoot() != "/run/berth/runc" {
		t.Errorf("derived paths wrong: %s %s %s %s %s", c.ContainerdSocket(), c.ContainerdRoot(),
			c.SnapshotterSocket(), c.ShimSocketDir(), c.RuncRoot())
	}
	n, err := c.LogMaxSizeBytes()
	if err != nil || n != 10<<20 {
		t.Errorf("log max size = %d, %v", n, err)
	}
	if c.Bridge != "berth0" || c.FirewallPrefix != "BERTH" || c.BridgeSubnet != "" {
		t.Errorf("network defaults: %+v", c)
	}
	if c.LogMaxFile != 3 || c.Debug || !c.EnableBerthSnapshotter || !c.Embedded() {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadFileOverridesDefaults(t *testing.T) {
	p := writeFile(t, `
root = "/tmp/x/root"
state = "/tmp/x/state"
namespace = "other"
bin_dirs = ["/opt/a", "/opt/b"]
log_max_size = "1k"
log_max_file = 5
debug = true
enable_berth_snapshotter = true
containerd_address = "unix:///run/containerd/containerd.sock"
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Socket != "/tmp/x/state/berth.sock" {
		t.Errorf("socket = %q", c.Socket)
	}
	if c.Namespace != "other" || strings.Join(c.BinDirs, ",") != "/opt/a,/opt/b" || c.LogMaxFile != 5 ||
		!c.Debug || !c.EnableBerthSnapshotter {
		t.Errorf("not applied: %+v", c)
	}
	if n, _ := c.LogMaxSizeBytes(); n != 1024 {
		t.Errorf("log max size = %d", n)
	}
	if c.Embedded() || c.ContainerdEndpoint() != "/run/containerd/containerd.sock" {
		t.Errorf("endpoint = %q", c.ContainerdEndpoint())
	}
	// Keys not in the file keep their defaults.
	if c.Runtime != RuntimeBerth || c.SocketGroup != "berth" {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestLoadUnknownKeyIsNamed(t *testing.T) {
	p := writeFile(t, "root = \"/r\"\nsnapshoter = \"overlayfs\"\n")
	_, err := Load(p)
	if err == nil {
		t.Fatal("want an error for an unknown key")
	}
	if !strings.Contains(err.Error(), `"snapshoter"`) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error does not name the key and line: %v", err)
	}
}

func TestLoadBadValue(t *testing.T) {
	p := writeFile(t, "log_max_file = \"three\"\n")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("want an error naming the file, got %v", err)
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"relative root":     func(c *Config) { c.Root = "var/lib" },
		"same root state":   func(c *Config) { c.State = c.Root },
		"bad size":          func(c *Config) { c.LogMaxSize = "ten" },
		"zero files":        func(c *Config) { c.LogMaxFile = 0 },
		"empty namespace":   func(c *Config) { c.Namespace = "" },
		"relative bin dir":  func(c *Config) { c.BinDirs = []string{"bin"} },
		"long state":        func(c *Config) { c.State = "/" + strings.Repeat("x", 100) },
		"long socket":       func(c *Config) { c.Socket = "/" + strings.Repeat("y", 120) },
		"empty snapshotter": func(c *Config) { c.Snapshotter = "" },
		"relative socket":   func(c *Config) { c.Socket = "berth.sock" },
		"long bridge":       func(c *Config) { c.Bridge = "bridge-name-too-long" },
		"bad subnet":        func(c *Config) { c.BridgeSubnet = "10.1.2.3/16" },
		"v6 subnet":         func(c *Config) { c.BridgeSubnet = "fd00::/64" },
		"long prefix":       func(c *Config) { c.FirewallPrefix = "ABCDEFGHIJKLMNO" },
		"cgroup driver":     func(c *Config) { c.CgroupDriver = "cgroupsfs" },
		"drain period":      func(c *Config) { c.ServiceDrainPeriod = "2 seconds" },
		"negative drain":    func(c *Config) { c.ServiceDrainPeriod = "-1s" },
		"ipc mode":          func(c *Config) { c.DefaultIpcMode = "host" },
		"cgroupns mode":     func(c *Config) { c.DefaultCgroupnsMode = "shared" },
		"host gateway":      func(c *Config) { c.HostGatewayIP = "6.7.8" },
	} {
		c := Default()
		mut(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestLookup(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, p := range []string{filepath.Join(a, "tool"), filepath.Join(b, "tool"), filepath.Join(b, "other")} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(a, "other"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.BinDirs = []string{a, b}
	if p, err := c.Lookup("tool"); err != nil || p != filepath.Join(a, "tool") {
		t.Errorf("tool: %q %v (want the first dir)", p, err)
	}
	if p, err := c.Lookup("other"); err != nil || p != filepath.Join(b, "other") {
		t.Errorf("other: %q %v (a non-executable file must be skipped)", p, err)
	}
	if p, err := c.Lookup("sh"); err != nil || !filepath.IsAbs(p) {
		t.Errorf("sh from $PATH: %q %v", p, err)
	}
	if _, err := c.Lookup("no-such-tool-xyz"); err == nil || !strings.Contains(err.Error(), a) {
		t.Errorf("missing tool: %v", err)
	}
}

func TestSearchPath(t *testing.T) {
	c := Default()
	c.BinDirs = []string{"/a", "/b"}
	if got := c.SearchPath("/usr/bin:/a:/bin"); got != "/a:/b:/usr/bin:/bin" {
		t.Errorf("SearchPath = %q", got)
	}
}

// TestCgroupDriverSystemdNeedsSystemd: the systemd driver is refused, with
// what to do, on a host whose init is not systemd.
func TestCgroupDriverSystemdNeedsSystemd(t *testing.T) {
	c := Default()
	if c.CgroupDriver != "cgroupfs" {
		t.Errorf("default cgroup_driver %q, want cgroupfs", c.CgroupDriver)
	}
	c.CgroupDriver = "systemd"
	err := c.Validate()
	if _, serr := os.Stat("/run/systemd/system"); serr == nil {
		if err != nil {
			t.Errorf("systemd driver on a systemd host: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), `use "cgroupfs"`) {
		t.Errorf("systemd driver without systemd: %v", err)
	}
}
