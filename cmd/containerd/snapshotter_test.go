package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProxied: a config that names "berth" as a gRPC proxy plugin keeps
// it; any other config, or none, gets the ttrpc plugin.
func TestProxied(t *testing.T) {
	dir := t.TempDir()
	for name, config := range map[string]string{
		"proxy.toml": "version = 3\n[proxy_plugins.berth]\n  type = \"snapshot\"\n  address = \"/run/s.sock\"\n",
		"other.toml": "version = 3\n[proxy_plugins.other]\n  type = \"snapshot\"\n  address = \"/run/s.sock\"\n",
		"plain.toml": "version = 3\n[plugins.\"io.containerd.snapshotter.v1.berth\"]\n  address = \"/run/s.sock\"\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]bool{"proxy.toml": true, "other.toml": false, "plain.toml": false, "none.toml": false} {
		if got := proxied(filepath.Join(dir, name)); got != want {
			t.Errorf("proxied(%s) = %v, want %v", name, got, want)
		}
	}
}
