package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
)

func parse(t *testing.T, args ...string) (*config.Config, error) {
	t.Helper()
	c := newCommand()
	if exit, err := c.Parse(args, io.Discard); exit || err != nil {
		t.Fatalf("parse %q: exit %v, %v", args, exit, err)
	}
	return loadConfig(c)
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

// A list flag collects every value, by any of its names, and splits them
// at commas, as urfave/cli's did (dockerd's adapter and the harness pass
// pools as base=…,size=…).
func TestListFlags(t *testing.T) {
	cfg, err := parse(t, "--insecure-registry", "a:5000", "--insecure-registries", "b:5000, 10.0.0.0/8",
		"--default-address-pool", "base=10.10.0.0/16,size=24", "--default-address-pools", "base=10.20.0.0/16,size=26",
		"--bin-dir", "/x", "-registry-mirror=docker.io=http://127.0.0.1:5001", "--cdi-spec-dir", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.InsecureRegistries, " "); got != "a:5000 b:5000 10.0.0.0/8" {
		t.Errorf("insecure registries: %q", got)
	}
	if p := cfg.DefaultAddressPools; len(p) != 2 || p[0].Base != "10.10.0.0/16" || p[0].Size != 24 || p[1].Base != "10.20.0.0/16" || p[1].Size != 26 {
		t.Errorf("pools: %+v", p)
	}
	if strings.Join(cfg.BinDirs, " ") != "/x" || cfg.RegistryMirrors["docker.io"][0] != "http://127.0.0.1:5001" {
		t.Errorf("bin dirs %q, mirrors %v", cfg.BinDirs, cfg.RegistryMirrors)
	}
	if cfg.CDISpecDirs == nil || len(cfg.CDISpecDirs) != 0 {
		t.Errorf(`--cdi-spec-dir "": want no dirs, got %q`, cfg.CDISpecDirs)
	}
}

// $BERTHD_CONFIG names the config file; --config wins over it.
func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"env", "flag"} {
		if err := os.WriteFile(filepath.Join(dir, n+".toml"), []byte("namespace = \""+n+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("BERTHD_CONFIG", filepath.Join(dir, "env.toml"))
	if cfg, err := parse(t); err != nil || cfg.Namespace != "env" {
		t.Errorf("with $BERTHD_CONFIG: %v, %+v", err, cfg)
	}
	if cfg, err := parse(t, "--config", filepath.Join(dir, "flag.toml")); err != nil || cfg.Namespace != "flag" {
		t.Errorf("with --config: %v, %+v", err, cfg)
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out strings.Builder
	if err := runMain([]string{"--help"}, &out); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, f := range newCommand().Flags {
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			if !strings.Contains(help, "-"+n+" ") && !strings.Contains(help, "-"+n+",") {
				t.Errorf("--help does not list %s", n)
			}
		}
		if !strings.Contains(help, f.Usage) {
			t.Errorf("--help lacks the usage of %s", f.Name)
		}
	}
	for _, want := range []string{"--config value", `(default: "/etc/berth/berthd.toml") [$BERTHD_CONFIG]`, "--debug, -D", "--help, -h", "--version, -v"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, flag := range []string{"--version", "-v"} {
		var out strings.Builder
		if err := runMain([]string{flag}, &out); err != nil || out.String() != "berthd version "+version+"\n" {
			t.Errorf("%s: %q, %v", flag, out.String(), err)
		}
	}
}

// TestMain runs berthd's main when the tests run their own binary as
// berthd (TestBadCommandLine).
func TestMain(m *testing.M) {
	if os.Getenv("BERTHD_TEST_AS_BERTHD") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// A flag berthd does not know, a bad value or a stray argument stops it
// before it does anything: exit status 1, the culprit named on stderr.
func TestBadCommandLine(t *testing.T) {
	for args, want := range map[string]string{
		"--no-such-flag":        "berthd: unknown flag --no-such-flag",
		"--log-max-file=many":   `berthd: invalid value "many" for --log-max-file: not an integer`,
		"--debug=maybe":         `berthd: invalid boolean value "maybe" for --debug`,
		"--root":                "berthd: flag --root needs a value",
		"--debug start":         `berthd: unexpected argument "start"`,
		"--uninstall --nope":    "berthd: unknown flag --nope",
		"--namespace x --help=": `berthd: invalid boolean value "" for --help`,
	} {
		// Should a case get through, berthd stops at this config file
		// instead of running.
		bad := filepath.Join(t.TempDir(), "berthd.toml")
		if err := os.WriteFile(bad, []byte("no_such_key = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], strings.Fields(args)...)
		cmd.Env = append(os.Environ(), "BERTHD_TEST_AS_BERTHD=1", "BERTHD_CONFIG="+bad)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("berthd %s: want exit status 1, got %v", args, err)
		}
		if !strings.HasPrefix(stderr.String(), want) || stdout.Len() > 0 {
			t.Errorf("berthd %s: stderr %q (want %q), stdout %q", args, stderr.String(), want, stdout.String())
		}
	}
}
