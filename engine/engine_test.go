package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/cni"
	"github.com/berthproject/berth/engine"

	"github.com/berthproject/berth/pkg/ctrdconfig"
	"github.com/berthproject/berth/pkg/supervisor"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/test/harness"
	"github.com/berthproject/berth/test/images/imagegen"
)

// The tests and the example run against a real containerd started here, in a
// private temp dir, with berth's parts built from this tree.
var (
	stackRoot   string // temp dir with root/, state/, bin/
	ctrdAddress string
	binDir      string
	poolBase    string // 10.x.0.0: the /16 of the stack's networks
	netName     string // its bridge, and (upper case) its firewall prefix
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func libexecDir() string {
	if d := os.Getenv("BERTH_LIBEXEC"); d != "" {
		return d
	}
	return "/usr/local/lib/berth"
}

func runMain(m *testing.M) int {
	libexec := libexecDir()
	ctrd := filepath.Join(libexec, "containerd")
	if os.Getuid() != 0 {
		fmt.Println("engine tests need root: skipped")
		return 0
	}
	if _, err := os.Stat(ctrd); err != nil {
		fmt.Printf("engine tests need containerd at %s (make deps): skipped\n", ctrd)
		return 0
	}
	// A /16 of its own, claimed from the harness's pools: a stack of
	// another test package running alongside could otherwise take the
	// same subnet, and answer for this one's addresses.
	x, release := harness.ClaimPool()
	defer release()
	poolBase = fmt.Sprintf("10.%d.0.0", x)
	netName = fmt.Sprintf("bteng%d", x)
	var err error
	stackRoot, err = os.MkdirTemp("/tmp", "be")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(stackRoot)
	binDir = filepath.Join(stackRoot, "bin")
	if out, err := exec.Command("sh", "-c", `go build -o "$0/" ../cmd/berth-logger && GOEXPERIMENT=$(cat ../cmd/containerd-shim-berth-v2/GOEXPERIMENT) go build -o "$0/" ../cmd/containerd-shim-berth-v2`, binDir).CombinedOutput(); err != nil {
		fmt.Printf("building berth-logger and the shim: %v\n%s", err, out)
		return 1
	}
	for _, b := range []string{"runc", "containerd-shim-runc-v2"} {
		if err := os.Symlink(filepath.Join(libexec, b), filepath.Join(binDir, b)); err != nil {
			panic(err)
		}
	}
	state := filepath.Join(stackRoot, "state")
	ctrdAddress = filepath.Join(state, "c", "c.sock")
	cfgPath := filepath.Join(state, "c", "config.toml")
	if err := ctrdconfig.Write(cfgPath, ctrdconfig.Options{
		Root: filepath.Join(stackRoot, "root", "c"), State: filepath.Join(state, "c"),
		Address: ctrdAddress, ShimSocketDir: filepath.Join(state, "s"),
	}); err != nil {
		panic(err)
	}
	ctx := context.Background()
	proc, err := supervisor.Start(ctx, supervisor.Spec{
		Name: "containerd", Path: ctrd, Args: []string{"--config", cfgPath},
		Env:      []string{"PATH=" + binDir + ":/usr/sbin:/usr/bin:/sbin:/bin", "BERTH_SHIM_SOCKET_DIR=" + filepath.Join(state, "s")},
		LogFile:  filepath.Join(state, "containerd.log"),
		PIDFile:  filepath.Join(state, "containerd.pid"),
		Identity: cfgPath, Probe: supervisor.ContainerdProbe(ctrdAddress),
	}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Printf("starting containerd: %v\n", err)
		return 1
	}
	defer proc.Stop(context.Background())
	if err := loadBusybox(ctx); err != nil {
		fmt.Printf("loading busybox: %v\n", err)
		return 1
	}
	// The pool is this run's now: what a run before it left under the same
	// names (one ended by a timeout never reaches the clean-up below: its
	// bridge and nftables tables stay) goes first.
	if e, err := engine.New(ctx, stackOptions()...); err == nil {
		if err := e.CNI().Uninstall(ctx); err != nil {
			fmt.Printf("removing what an earlier run left on %s: %v\n", netName, err)
		}
		e.Close()
	}
	code := m.Run()
	// Whatever the tests left (a failed test may), goes: containers, then the
	// bridge, the firewall chains and every network state this stack
	// created on the host. Then nothing may be left running from the stack.
	if e, err := engine.New(ctx, stackOptions()...); err == nil {
		list, _ := e.Containers().List(ctx, containertypes.ListOptions{All: true})
		for _, c := range list {
			if err := e.Containers().Remove(ctx, c.ID, containertypes.RemoveOptions{Force: true}); err != nil {
				fmt.Printf("removing leftover container %s: %v\n", c.ID, err)
			}
		}
		if err := e.CNI().Uninstall(ctx); err != nil {
			fmt.Printf("uninstalling the test networks: %v\n", err)
			code = 1
		}
		e.Close()
	}
	// containerd's spare shim (docs/shim.md "Spare") ends with containerd.
	_ = proc.Stop(ctx)
	leaked := stackProcesses()
	for deadline := time.Now().Add(5 * time.Second); len(leaked) > 0 && time.Now().Before(deadline); leaked = stackProcesses() {
		time.Sleep(20 * time.Millisecond)
	}
	if len(leaked) > 0 {
		fmt.Printf("processes of the test stack left running: %v\n", leaked)
		code = 1
	}
	return code
}

// stackProcesses lists processes (other than containerd) whose command line
// names the stack's directory: shims and loggers that outlived their
// container, once containerd is stopped.
func stackProcesses() []string {
	out, _ := exec.Command("ps", "-eo", "pid,args").Output()
	var leaked []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, stackRoot) && !strings.Contains(line, "/containerd --config") {
			leaked = append(leaked, strings.TrimSpace(line))
		}
	}
	return leaked
}

func loadBusybox(ctx context.Context) error {
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := imagegen.WriteOCIArchive(&buf, spec); err != nil {
		return err
	}
	e, err := engine.New(ctx, stackOptions()...)
	if err != nil {
		return err
	}
	defer e.Close()
	_, err = e.Images().Load(ctx, &buf, nil)
	return err
}

// stackOptions point an engine at the private stack.
func stackOptions() []engine.Option {
	return []engine.Option{
		engine.WithContainerdAddress(ctrdAddress),
		engine.WithNamespace("berth-test"),
		engine.WithRoot(filepath.Join(stackRoot, "root")),
		engine.WithState(filepath.Join(stackRoot, "state")),
		engine.WithBinDirs(binDir),
		// berth's shim; containerd's own overlayfs snapshotter (berth's is
		// tested in snapshotter/ and end to end).
		engine.WithSnapshotter("overlayfs"),
		// A bridge, subnet and firewall chains of its own, so that other
		// stacks on this machine (tests running in parallel) do not collide.
		engine.WithNetwork(cni.Config{
			PluginDirs:     []string{filepath.Join(libexecDir(), "cni")},
			DefaultBridge:  netName,
			DefaultSubnet:  netip.MustParsePrefix(poolBase + "/24"),
			AddressPools:   []cni.AddressPool{{Base: netip.MustParsePrefix(poolBase + "/16"), Size: 24}},
			FirewallPrefix: strings.ToUpper(netName),
		}),
		engine.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	}
}
