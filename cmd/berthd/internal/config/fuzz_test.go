package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad reads any berthd.toml: settings, or an error that names the
// file (and the line, for a syntax error or an unknown key); a loaded
// config validates or says what is wrong. Never a panic.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"root = \"/var/lib/berth\"\nstate = \"/run/berth\"\n",
		"debug = true\nlog_max_size = \"10m\"\n",
		"registry_mirrors = [\"http://127.0.0.1:5000\"]\ninsecure_registries = [\"127.0.0.1:5000\"]\n",
		"bridge_subnet = \"10.1.0.0/16\"\nfirewall_prefix = \"X\"\nlog_max_file = -1\n",
		"tcp_address = \"127.0.0.1:0\"\ntlscert = \"/c\"\n",
		"nosuchkey = 1\n", "root = 5\n", "root = \"relative\"\n", "[[\n", "\x00\xff", "a.b.c = 1\n",
		"default_address_pools = [{base = \"10.0.0.0/8\", size = 99}]\n", "dns_upstreams = [\"127.0.0.1:53\", \"nonsense\"]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "berthd.toml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_ = c.Validate()
	})
}
