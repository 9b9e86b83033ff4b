// Command dockerd stands in for Docker's daemon in moby's integration
// tests: the tests that start a daemon of their own (testutil/daemon) run
// `dockerd` from $PATH with dockerd's flags. This program translates them
// into berthd's and execs a private berthd, so the PID testutil holds is
// berthd's: SIGINT/SIGTERM stop it (Stop), SIGKILL kills it and leaves its
// containerd and containers running (Kill), and a new start on the same
// --data-root and --exec-root adopts them (berth's live restore).
//
// The runner (test/moby) compiles it once into its work dir, puts that dir
// first on the tests' PATH and sets:
//
//	BERTH_MOBY_STACKS  dir where each stack started is recorded (one JSON
//	                   file per containerd namespace), so the runner ends
//	                   what a test left running and uninstalls its network
//	BERTH_MOBY_POOL    x of the 10.x.0.0/16 the runner claimed for the test
//	                   process: stack n takes 10.x.(16n).0/20
//	BERTH_MOBY_BERTHD  berthd's path; BERTH_MOBY_BIN_DIRS its bin_dirs (":"
//	                   separated), BERTH_MOBY_CNI_BIN_DIR, BERTH_MOBY_PATH
//	                   its PATH (after the dirs the test put before the
//	                   adapter's on the daemon's PATH)
//	BERTH_MOBY_DOCKER0=1 the test runs in a network namespace of its own:
//	                   the default bridge is docker0, as dockerd's
//
// A flag (or daemon.json key of --config-file) berth has no equivalent for
// fails the start, naming it: the test then fails clearly instead of
// running against other settings than it asked for.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Stack is what the runner needs to clean up after a stack: the record
// file's content.
type Stack struct {
	Namespace string   `json:"namespace"`
	Root      string   `json:"root"`
	State     string   `json:"state"`
	Bridge    string   `json:"bridge"`
	Firewall  string   `json:"firewall_prefix"`
	Berthd    string   `json:"berthd"`
	Args      []string `json:"args"` // berthd's, for --uninstall
	PIDFile   string   `json:"pidfile,omitempty"`
}

// settings are dockerd's, as far as berthd has them.
type settings struct {
	dataRoot, execRoot, pidfile, namespace string
	hosts                                  []string
	debug                                  bool
	bip, bridge                            string
	pools                                  []string
	insecure, mirrors                      []string
	ipcMode, cgroupnsMode, hostGatewayIP   string
	runtime                                string
	configFile                             string
	cdiDirs                                *[]string // nil: berthd's default
	cdiOff                                 bool
}

// kind of a flag's value.
type kind int

const (
	str kind = iota
	boolean
	list
)

type flag struct {
	kind kind
	// set applies the value; nil: accepted and ignored (the reason is
	// ignoredWhy's).
	set func(s *settings, v string) error
}

func strFlag(f func(s *settings) *string) flag {
	return flag{kind: str, set: func(s *settings, v string) error { *f(s) = v; return nil }}
}

func listFlag(f func(s *settings) *[]string) flag {
	return flag{kind: list, set: func(s *settings, v string) error { *f(s) = append(*f(s), v); return nil }}
}

// flags are dockerd's flags the adapter knows, by long name.
var flags = map[string]flag{
	"config-file":           strFlag(func(s *settings) *string { return &s.configFile }),
	"data-root":             strFlag(func(s *settings) *string { return &s.dataRoot }),
	"exec-root":             strFlag(func(s *settings) *string { return &s.execRoot }),
	"pidfile":               strFlag(func(s *settings) *string { return &s.pidfile }),
	"containerd-namespace":  strFlag(func(s *settings) *string { return &s.namespace }),
	"host":                  listFlag(func(s *settings) *[]string { return &s.hosts }),
	"bip":                   strFlag(func(s *settings) *string { return &s.bip }),
	"default-address-pool":  listFlag(func(s *settings) *[]string { return &s.pools }),
	"insecure-registry":     listFlag(func(s *settings) *[]string { return &s.insecure }),
	"registry-mirror":       listFlag(func(s *settings) *[]string { return &s.mirrors }),
	"default-ipc-mode":      strFlag(func(s *settings) *string { return &s.ipcMode }),
	"default-cgroupns-mode": strFlag(func(s *settings) *string { return &s.cgroupnsMode }),
	"host-gateway-ip":       strFlag(func(s *settings) *string { return &s.hostGatewayIP }),
	// A containerd runtime name (io.containerd.NAME.vN: containerd runs
	// the shim containerd-shim-NAME-vN from its PATH) is berthd's too.
	"default-runtime": strFlag(func(s *settings) *string { return &s.runtime }),
	"debug": {kind: boolean, set: func(s *settings, v string) error {
		b, err := strconv.ParseBool(v)
		s.debug = b
		return err
	}},
	"bridge": {kind: str, set: func(s *settings, v string) error {
		if v != "none" {
			return fmt.Errorf("bridge %q: berth makes its default bridge itself (none turns it off)", v)
		}
		s.bridge = v
		return nil
	}},
	"log-level": {kind: str, set: func(s *settings, v string) error {
		s.debug = v == "debug"
		return nil
	}},
	"storage-driver": {kind: str, set: func(s *settings, v string) error {
		if v != "overlay2" && v != "overlayfs" {
			return fmt.Errorf("storage driver %q: berth stores images with containerd's overlayfs snapshotter (overlay2)", v)
		}
		return nil
	}},
	// containerd's socket: berthd runs a containerd of its own, in its
	// state dir (testutil passes dockerd's default socket).
	"containerd": {kind: str},
	// The namespace of containerd's plugins: berthd's containerd is its own.
	"containerd-plugins-namespace": {kind: str},
	// berth forwards published ports in the kernel (nftables): it has no
	// userland proxy to turn on or off.
	"userland-proxy": {kind: boolean},
	// berth's firewall is its own: an nftables table and rules marked with
	// its prefix, removed with the stack (berthd --uninstall).
	"iptables":  {kind: boolean},
	"ip6tables": {kind: boolean},
	// berth always keeps containers running across a daemon restart.
	"live-restore": {kind: boolean},
	// berth has no experimental features to turn on.
	"experimental": {kind: boolean},
	// CDI spec dirs ("" alone: none) and --feature cdi[=bool] (false: none).
	"cdi-spec-dir": {kind: list, set: func(s *settings, v string) error {
		if s.cdiDirs == nil {
			s.cdiDirs = &[]string{}
		}
		if v != "" {
			*s.cdiDirs = append(*s.cdiDirs, v)
		}
		return nil
	}},
	"feature": {kind: str, set: func(s *settings, v string) error {
		name, val, _ := strings.Cut(v, "=")
		on, err := strconv.ParseBool(cmp.Or(val, "true"))
		if name != "cdi" || err != nil {
			return fmt.Errorf("feature %q: berth's dockerd adapter knows cdi[=bool] only", v)
		}
		s.cdiOff = !on
		return nil
	}},
}

// short are dockerd's one-letter flags.
var short = map[string]string{"D": "debug", "H": "host", "l": "log-level", "b": "bridge", "p": "pidfile", "s": "storage-driver", "G": "group"}

func parse(args []string) (*settings, error) {
	s := &settings{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return nil, fmt.Errorf("unexpected argument %q: berth's dockerd adapter takes flags only", a)
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "--") {
			if long, ok := short[name]; ok {
				name = long
			}
		}
		f, ok := flags[name]
		if !ok {
			return nil, fmt.Errorf("flag %s: berth's dockerd adapter has no equivalent for it (test/moby/dockerd)", a)
		}
		if !hasVal {
			if f.kind == boolean {
				val = "true"
			} else {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag %s needs a value", a)
				}
				i++
				val = args[i]
			}
		}
		if f.set != nil {
			if err := f.set(s, val); err != nil {
				return nil, fmt.Errorf("flag %s: %w", a, err)
			}
		}
	}
	if s.configFile != "" && s.configFile != "/dev/null" {
		if err := s.readConfigFile(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readConfigFile applies a daemon.json: each key as the flag of the same
// name (lists under their plural keys).
func (s *settings) readConfigFile() error {
	b, err := os.ReadFile(s.configFile)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", s.configFile, err)
	}
	plural := map[string]string{"hosts": "host", "insecure-registries": "insecure-registry", "registry-mirrors": "registry-mirror", "default-address-pools": "default-address-pool", "cdi-spec-dirs": "cdi-spec-dir", "features": "feature"}
	for k, v := range m {
		name := k
		if p, ok := plural[k]; ok {
			name = p
		}
		f, ok := flags[name]
		if !ok || name == "config-file" {
			return fmt.Errorf("%s: key %q: berth's dockerd adapter has no equivalent for it (test/moby/dockerd)", s.configFile, k)
		}
		if name == "cdi-spec-dir" && s.cdiDirs == nil {
			s.cdiDirs = &[]string{} // [] too: none
		}
		var vals []string
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if p, ok := e.(map[string]any); ok && name == "default-address-pool" {
					vals = append(vals, fmt.Sprintf("base=%v,size=%v", p["base"], p["size"]))
					continue
				}
				vals = append(vals, fmt.Sprint(e))
			}
		case map[string]any: // features
			for fk, fv := range x {
				vals = append(vals, fmt.Sprintf("%s=%v", fk, fv))
			}
		default:
			vals = []string{fmt.Sprint(x)}
		}
		if f.set == nil {
			continue
		}
		for _, val := range vals {
			if err := f.set(s, val); err != nil {
				return fmt.Errorf("%s: key %q: %w", s.configFile, k, err)
			}
		}
	}
	return nil
}

// berthdArgs are berthd's flags for s, and the stack's record.
func berthdArgs(s *settings, stacksDir string) (*Stack, error) {
	if s.dataRoot == "" || s.execRoot == "" {
		return nil, fmt.Errorf("--data-root and --exec-root are needed (berthd's root and state dirs)")
	}
	var sock string
	for _, h := range s.hosts {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			return nil, fmt.Errorf("--host %s: berth serves the Docker API on a unix socket here (TCP needs mutual TLS)", h)
		}
		if sock != "" {
			return nil, fmt.Errorf("--host %s: berth serves the Docker API on one unix socket", h)
		}
		sock = p
	}
	if sock == "" {
		return nil, fmt.Errorf("--host unix://PATH is needed: the Docker API socket")
	}
	ns := s.namespace
	if ns == "" {
		return nil, fmt.Errorf("--containerd-namespace is needed: it names the stack's host-wide objects")
	}
	// Host-wide names of the stack's own: from the namespace (testutil's
	// daemon ID, "d" and 12 hex digits).
	tag := strings.TrimPrefix(ns, "d")
	if len(tag) > 10 {
		tag = tag[:10]
	}
	st := &Stack{
		Namespace: ns, Root: s.dataRoot, State: s.execRoot, PIDFile: s.pidfile,
		Bridge: "bdk" + tag, Firewall: "BDK" + strings.ToUpper(tag),
		Berthd: os.Getenv("BERTH_MOBY_BERTHD"),
	}
	if st.Berthd == "" {
		return nil, fmt.Errorf("BERTH_MOBY_BERTHD is not set: run through test/moby's runner")
	}
	if os.Getenv("BERTH_MOBY_DOCKER0") == "1" {
		// The test runs in a network namespace of its own: the default
		// bridge is dockerd's docker0.
		st.Bridge = "docker0"
	}
	args := []string{
		// A config file that does not exist: berthd's defaults.
		"--config", filepath.Join(s.execRoot, "berthd.toml"),
		"--root", s.dataRoot, "--state", s.execRoot,
		"--docker-socket", sock,
		"--namespace", ns, "--bridge", st.Bridge, "--firewall-prefix", st.Firewall,
	}
	for _, d := range filepath.SplitList(os.Getenv("BERTH_MOBY_BIN_DIRS")) {
		args = append(args, "--bin-dirs", d)
	}
	if d := os.Getenv("BERTH_MOBY_CNI_BIN_DIR"); d != "" {
		args = append(args, "--cni-bin-dir", d)
	}
	// The stack's addresses: the n-th stack of the test process takes the
	// n-th /20 of the runner's /16, unless the test sets them.
	subnet, pool, err := stackNetwork(stacksDir, ns)
	if err != nil {
		return nil, err
	}
	if s.bip != "" {
		p, err := netip.ParsePrefix(s.bip)
		if err != nil {
			return nil, fmt.Errorf("--bip %s: %w", s.bip, err)
		}
		subnet = p.Masked().String()
	}
	if len(s.pools) > 0 && s.bip == "" {
		// dockerd's bridge takes the first subnet of the pools given.
		subnet = ""
	}
	if subnet != "" {
		args = append(args, "--bridge-subnet", subnet)
	}
	if s.bridge == "none" {
		args[slices.Index(args, st.Bridge)] = "none" // no default network
	}
	pools := s.pools
	if len(pools) == 0 && pool != "" {
		pools = []string{pool}
	}
	for _, p := range pools {
		args = append(args, "--default-address-pool", p)
	}
	for _, r := range s.insecure {
		args = append(args, "--insecure-registry", r)
	}
	for _, m := range s.mirrors {
		// dockerd's mirrors are Docker Hub's.
		args = append(args, "--registry-mirror", "docker.io="+m)
	}
	if s.ipcMode != "" {
		args = append(args, "--default-ipc-mode", s.ipcMode)
	}
	if s.cgroupnsMode != "" {
		args = append(args, "--default-cgroupns-mode", s.cgroupnsMode)
	}
	if s.hostGatewayIP != "" {
		args = append(args, "--host-gateway-ip", s.hostGatewayIP)
	}
	if s.runtime != "" {
		args = append(args, "--runtime", s.runtime)
	}
	if s.cdiOff || (s.cdiDirs != nil && len(*s.cdiDirs) == 0) {
		args = append(args, "--cdi-spec-dir", "")
	} else if s.cdiDirs != nil {
		for _, d := range *s.cdiDirs {
			args = append(args, "--cdi-spec-dir", d)
		}
	}
	if s.debug {
		args = append(args, "--debug")
	}
	st.Args = args
	return st, nil
}

// stackNetwork picks the bridge subnet and address pool of the stack with
// namespace ns: the same as its record's when it was started before.
func stackNetwork(stacksDir, ns string) (subnet, pool string, err error) {
	x, err := strconv.Atoi(os.Getenv("BERTH_MOBY_POOL"))
	if err != nil {
		return "", "", fmt.Errorf("BERTH_MOBY_POOL %q: want the runner's /16 (10.x.0.0/16)", os.Getenv("BERTH_MOBY_POOL"))
	}
	idx, err := stackIndex(stacksDir, ns)
	if err != nil {
		return "", "", err
	}
	third := (idx % 16) * 16
	return fmt.Sprintf("10.%d.%d.0/24", x, third), fmt.Sprintf("base=10.%d.%d.0/20,size=24", x, third), nil
}

// stackIndex gives ns a stable number in stacksDir: its line in the file
// "order".
func stackIndex(stacksDir, ns string) (int, error) {
	path := filepath.Join(stacksDir, "order")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.Fields(string(b))
	for i, l := range lines {
		if l == ns {
			return i, nil
		}
	}
	if _, err := f.Seek(0, 2); err != nil {
		return 0, err
	}
	if _, err := f.WriteString(ns + "\n"); err != nil {
		return 0, err
	}
	return len(lines), nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dockerd (berth's adapter):", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-v") {
		fmt.Println("Docker version 28.2.2 (berthd adapter)")
		return nil
	}
	s, err := parse(args)
	if err != nil {
		return err
	}
	stacksDir := os.Getenv("BERTH_MOBY_STACKS")
	if stacksDir == "" {
		return fmt.Errorf("BERTH_MOBY_STACKS is not set: run through test/moby's runner")
	}
	st, err := berthdArgs(s, stacksDir)
	if err != nil {
		return err
	}
	for _, d := range []string{s.dataRoot, s.execRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	// Recorded before berthd starts: what it starts is then cleaned up
	// even if it dies at once.
	if err := os.WriteFile(filepath.Join(stacksDir, st.Namespace+".json"), b, 0o644); err != nil {
		return err
	}
	if s.pidfile != "" {
		// exec keeps the PID: this is berthd's.
		if err := os.WriteFile(s.pidfile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return err
		}
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PATH=") {
			env = append(env, e)
		}
	}
	env = append(env, "PATH="+callerPath(os.Getenv("PATH"))+os.Getenv("BERTH_MOBY_PATH"))
	fmt.Fprintf(os.Stderr, "dockerd (berth's adapter): exec %s %s\n", st.Berthd, strings.Join(st.Args, " "))
	return syscall.Exec(st.Berthd, append([]string{st.Berthd}, st.Args...), env)
}

// callerPath is the part of the PATH the test gave the daemon that berthd
// (and its containerd) keep in front of theirs, with a ":" after it: the
// dirs a test put before the adapter's own (a containerd shim of its own,
// TestRunWithAlternativeContainerdShim). The adapter's dir and those after
// it (the runner's tools) are left out.
func callerPath(path string) string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	var keep []string
	for _, d := range filepath.SplitList(path) {
		if d == filepath.Dir(self) {
			break
		}
		if d != "" {
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		return ""
	}
	return strings.Join(keep, ":") + ":"
}
