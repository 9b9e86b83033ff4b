package cni

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// FuzzLoadState reads a network conflist and a sandbox state file made of
// arbitrary bytes (a file a crash, a full disk or a hand edit damaged) as
// berthd does at startup: an error that names the file, or state that
// lists; never a panic.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"app","berth":{"name":"app","id":"1","driver":"bridge",` +
		`"subnet":"10.9.0.0/24","gateway":"10.9.0.1"},"plugins":[{"type":"bridge","bridge":"br-x"}]}`))
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"app","berth":{"name":"app","driver":"bridge"},"plugins":[]}`))
	f.Add([]byte(`{"cniVersion":"9.9.9","name":"","berth":{"driver":"macvlan"},"plugins":[{}]}`))
	f.Add([]byte(`{"berth":{"driver":"overlay"}}`))
	f.Add([]byte(`{"containerId":"c1","networks":[{"name":"app","ip":"10.9.0.2"}],"ports":[{"hostPort":80}]}`))
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"app","berth":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		root := t.TempDir()
		m := &Manager{
			cfg:       Config{Root: root, State: filepath.Join(root, "state")},
			drivers:   map[string]Driver{networktypes.DriverBridge: bridgeDriver{defaultBridge: "b0"}, networktypes.DriverMacvlan: macvlanDriver{}},
			networks:  map[string]*storedNetwork{},
			sandboxes: map[string]*Sandbox{},
			ports:     newPortTable(),
		}
		path := filepath.Join(m.cfg.networksDir(), "app.conflist")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := m.loadNetworks(); err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
		} else {
			ns, _ := m.List(context.Background())
			for _, n := range ns {
				_, _ = m.Inspect(context.Background(), n.Name)
			}
		}
		if err := os.MkdirAll(m.cfg.sandboxesDir(), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(m.statePath("c1"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if sb, err := m.readSandbox("c1"); err == nil {
			_ = sb.clone()
		} else if !strings.Contains(err.Error(), "c1") {
			t.Fatalf("error does not name the container: %v", err)
		}
	})
}
