package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
)

func parse(t *testing.T, args ...string) (*config.Config, error) {
	t.Helper()
	var cfg *config.Config
	var err error
	app := newApp()
	app.Action = func(c *cli.Context) error {
		cfg, err = loadConfig(c)
		return nil
	}
	if rerr := app.Run(append([]string{"berthd"}, args...)); rerr != nil {
		t.Fatal(rerr)
	}
	return cfg, err
}

func TestFlagsOverFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "berthd.toml")
	err := os.WriteFile(file, []byte("root = \"/f/root\"\nnamespace = \"fromfile\"\nlog_max_file = 7\ndebug = true\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(t, "--config", file, "--namespace", "fromflag", "--bin-dirs", "/a", "--bin-dirs", "/b", "--debug=false")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/f/root" || cfg.LogMaxFile != 7 {
		t.Errorf("file values lost: root %q log_max_file %d", cfg.Root, cfg.LogMaxFile)
	}
	if cfg.Namespace != "fromflag" || strings.Join(cfg.BinDirs, ",") != "/a,/b" || cfg.Debug {
		t.Errorf("flags not applied: %+v", cfg)
	}
	// Flags left unset keep the defaults, not the flags' displayed values.
	if cfg.State != "/run/berth" || cfg.Socket != "/run/berth/berth.sock" {
		t.Errorf("defaults: state %q socket %q", cfg.State, cfg.Socket)
	}
}

func TestBadConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "berthd.toml")
	if err := os.WriteFile(file, []byte("bin_dir = [\"/x\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, "--config", file); err == nil || !strings.Contains(err.Error(), `"bin_dir"`) {
		t.Errorf("want an error naming bin_dir, got %v", err)
	}
}
