package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want options
	}{
		{nil, options{config: "/etc/containerd/config.toml"}},
		{[]string{"--config", "/c.toml"}, options{config: "/c.toml", configSet: true}},
		{[]string{"-c=/c.toml", "-l", "debug"}, options{config: "/c.toml", configSet: true, logLevel: "debug"}},
		{[]string{"--address", "/s", "--root", "/r", "--state", "/t", "--log-level=warn"},
			options{config: "/etc/containerd/config.toml", address: "/s", root: "/r", state: "/t", logLevel: "warn"}},
		{[]string{"-a", "/s"}, options{config: "/etc/containerd/config.toml", address: "/s"}},
		{[]string{"--version"}, options{config: "/etc/containerd/config.toml", version: true}},
		{[]string{"-v"}, options{config: "/etc/containerd/config.toml", version: true}},
		{[]string{"--help"}, options{config: "/etc/containerd/config.toml", help: true}},
		{[]string{"-h"}, options{config: "/etc/containerd/config.toml", help: true}},
	} {
		got, err := parseArgs(tc.args)
		if err != nil || got != tc.want {
			t.Errorf("parseArgs(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
	for args, want := range map[string]string{
		"--bogus":              "unknown flag --bogus",
		"-x=1":                 "unknown flag --x",
		"publish --topic /x":   `unknown command "publish"`,
		"config default":       `unknown command "config"`,
		"--config /c oci-hook": `unknown command "oci-hook"`,
		"--config":             "flag needs an argument: -config",
	} {
		if _, err := parseArgs(strings.Fields(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseArgs(%q): error %v, want one saying %q", args, err, want)
		}
	}
}

// containerdTags are the Makefile's CONTAINERD_TAGS, the tags berth's
// containerd is built with.
func containerdTags(t *testing.T) string {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CONTAINERD_TAGS\s*:=\s*(.+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no CONTAINERD_TAGS in the Makefile")
	}
	return string(m[1])
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// build builds this containerd as `make containerd` does (build.sh),
// unstripped and with the linker's dependency dump (-dumpdep) in
// buildDir/dumpdep.
func build(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool to build containerd with")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "ctrd-build")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "containerd")
		dump, err := os.Create(filepath.Join(buildDir, "dumpdep"))
		if err != nil {
			buildErr = err
			return
		}
		defer dump.Close()
		// -gcflags for the main package only: the go command keeps the
		// linker's dump as the output of main's compile action and would
		// print it again at each later build of the same action (make
		// containerd), so this build's main compiles under a key of its own.
		cmd := exec.Command("./build.sh", "-tags", containerdTags(t), "-gcflags=.=-dwarf=false", "-ldflags=-dumpdep", "-o", builtBin)
		cmd.Stderr = dump
		if out, err := cmd.Output(); err != nil {
			b, _ := os.ReadFile(dump.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			buildErr = fmt.Errorf("build.sh: %v\n%s%s", err, out, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// TestNoMethodLookupByName checks that no function that may look a method
// up by a name known only at run time (reflect.Value.MethodByName, as
// text/template's executor does) is reachable in the binary outside
// package reflect: the linker marks such functions <ReflectMethod>, and
// with one reachable it keeps every exported method of every type put in
// an interface, 3.6 MB of containerd's binary (docs/performance.md).
func TestNoMethodLookupByName(t *testing.T) {
	build(t)
	b, err := os.ReadFile(filepath.Join(buildDir, "dumpdep"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("main.main")) {
		t.Fatalf("no dependency dump from the linker:\n%.2000s", b)
	}
	var found []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, "<ReflectMethod>") && !strings.HasPrefix(line, "reflect.") && !strings.HasPrefix(line, "type:reflect.") {
			found = append(found, strings.TrimSpace(line))
		}
	}
	if len(found) > 0 {
		t.Errorf("%d edges reach functions that look methods up by name (go build -ldflags=-dumpdep), e.g.:\n%s", len(found), strings.Join(found[:min(len(found), 10)], "\n"))
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// runBin runs the built containerd with args and returns its stdout,
// stderr and exit code.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(build(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestCommandLine checks what berth and its tests ask of containerd's
// command line besides serving: --version (test/bench tells containerd
// builds by it), --help, and a clear error for what it does not have.
func TestCommandLine(t *testing.T) {
	out, _, code := runBin(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "containerd github.com/containerd/containerd/v2 ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if out2, _, _ := runBin(t, "-v"); out2 != out {
		t.Errorf("-v says %q, --version %q", out2, out)
	}
	out, _, code = runBin(t, "--help")
	if code != 0 || !strings.Contains(out, "Usage: containerd [flags]") || !strings.Contains(out, "--config FILE") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	for _, tc := range []struct{ args, says string }{
		{"--bogus", "containerd: unknown flag --bogus"},
		{"publish --topic /tasks/exit", `containerd: unknown command "publish"`},
	} {
		out, errOut, code := runBin(t, strings.Fields(tc.args)...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, tc.says) {
			t.Errorf("containerd %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, out, errOut, tc.says)
		}
	}
	_, errOut, code := runBin(t, "--config", filepath.Join(t.TempDir(), "none.toml"))
	if code != 1 || !strings.Contains(errOut, "none.toml") {
		t.Errorf("a --config that does not exist: exit %d, %q", code, errOut)
	}
}

// daemon is a containerd started by a test.
type daemon struct {
	cmd    *exec.Cmd
	exited chan error
	log    string
}

// start starts the built containerd with args, its output in dir/log and
// TMPDIR=dir/tmp, and kills it at the test's end if it still runs.
func start(t *testing.T, dir string, args ...string) *daemon {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: containerd's plugins mount and chown")
	}
	bin := build(t)
	d := &daemon{exited: make(chan error, 1), log: filepath.Join(dir, "log")}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(dir, "tmp"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return d
}

func (d *daemon) logs() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// waitServes waits until each socket answers.
func (d *daemon) waitServes(t *testing.T, socks ...string) {
	t.Helper()
	for _, s := range socks {
		for deadline := time.Now().Add(30 * time.Second); ; {
			c, err := net.Dial("unix", s)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not answer: %v\n%s", s, err, d.logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// stop sends SIGTERM and checks containerd exits with status 0.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("containerd at SIGTERM: %v\n%s", err, d.logs())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("containerd still runs a minute after SIGTERM\n%s", d.logs())
	}
}

func tempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// writeConfig writes a containerd config with root and state, no
// imports, and then the rest.
func writeConfig(t *testing.T, path, root, state, rest string) {
	config := fmt.Sprintf("version = 3\nroot = %q\nstate = %q\nimports = []\n", root, state) + rest
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServeAndSignals runs containerd as berthd does (--config), checks
// it serves, dumps its stacks at SIGUSR1, ignores SIGPIPE, and stops at
// SIGTERM with exit status 0.
func TestServeAndSignals(t *testing.T) {
	dir := tempDir(t)
	sock := filepath.Join(dir, "c.sock")
	cfgPath := filepath.Join(dir, "config.toml")
	writeConfig(t, cfgPath, filepath.Join(dir, "root"), filepath.Join(dir, "state"), fmt.Sprintf(`[grpc]
  address = %q
[ttrpc]
  address = %q
`, sock, sock+".ttrpc"))
	d := start(t, dir, "--config", cfgPath, "--log-level", "debug")
	d.waitServes(t, sock, sock+".ttrpc")

	// SIGUSR1: the stacks, in the log and in $TMPDIR.
	stacks := filepath.Join(dir, "tmp", fmt.Sprintf("containerd.%d.stacks.log", d.cmd.Process.Pid))
	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, err := os.ReadFile(stacks); err == nil && bytes.Contains(b, []byte("goroutine ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stack dump in %s after SIGUSR1", stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.cmd.Process.Signal(syscall.SIGPIPE); err != nil {
		t.Fatal(err)
	}
	d.waitServes(t, sock)
	d.stop(t)
	logs := d.logs()
	for _, want := range []string{"containerd successfully booted", "=== BEGIN goroutine stack dump ===", `msg="received signal" signal=terminated`} {
		if !strings.Contains(logs, want) {
			t.Errorf("containerd's log does not say %q:\n%s", want, logs)
		}
	}
}

// TestFlagsOverConfig: --root and --state win over the config's, and
// --address sets the gRPC socket and, when the config names no ttrpc
// address, the ttrpc one, as with containerd's own main.
func TestFlagsOverConfig(t *testing.T) {
	dir := tempDir(t)
	cfgPath := filepath.Join(dir, "config.toml")
	writeConfig(t, cfgPath, filepath.Join(dir, "cfgroot"), filepath.Join(dir, "cfgstate"), "")
	sock := filepath.Join(dir, "flag.sock")
	d := start(t, dir, "--config", cfgPath, "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--address", sock)
	d.waitServes(t, sock, sock+".ttrpc")
	for _, p := range []string{"root/io.containerd.metadata.v1.bolt/meta.db", "state"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("--root and --state: %v", err)
		}
	}
	for _, p := range []string{"cfgroot", "cfgstate"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s is there: the config won over a flag", p)
		}
	}
	d.stop(t)
}
