package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
)

// TestAPIReflectionKey: server reflection is on by default, and
// api_reflection = false in berthd.toml turns it off.
func TestAPIReflectionKey(t *testing.T) {
	if !config.Default().APIReflection {
		t.Error("api_reflection is off by default")
	}
	path := filepath.Join(t.TempDir(), "berthd.toml")
	if err := os.WriteFile(path, []byte("api_reflection = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.APIReflection {
		t.Error("api_reflection = false left reflection on")
	}
}
