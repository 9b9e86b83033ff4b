// Package config holds berthd's settings: their defaults, the TOML file
// (/etc/berth/berthd.toml) they are read from, and the paths derived from
// them. Flags are applied on top by cmd/berthd.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/pelletier/go-toml/v2"
)

// DefaultPath is where berthd looks for its config file.
const DefaultPath = "/etc/berth/berthd.toml"

// Runtime and snapshotter names berthd knows.
const (
	RuntimeRunc  = "io.containerd.runc.v2"
	RuntimeBerth = "io.containerd.berth.v2"

	SnapshotterOverlay = "overlayfs"
	// SnapshotterBerth is berth-snapshotter's name in containerd: the
	// snapshot plugin "berth" of berth's containerd.
	SnapshotterBerth = "berth"
)

// Config is berthd's configuration. The TOML keys are documented in
// docs/operations.md; every key is also a flag of the same name with
// dashes (bin_dirs → --bin-dirs).
type Config struct {
	// Root holds persistent data (containerd's root, container files,
	// networks, volumes).
	Root string `toml:"root"`
	// State holds runtime data (sockets, pid files, runc state).
	State string `toml:"state"`
	// Socket is berthd's gRPC API socket; empty means <state>/berth.sock.
	Socket string `toml:"socket"`
	// SocketGroup owns the API socket (mode 0660) when the group exists.
	SocketGroup string `toml:"socket_group"`
	// ContainerdAddress is an existing containerd's socket; empty means
	// berthd runs and supervises its own containerd (embedded mode).
	ContainerdAddress string `toml:"containerd_address"`
	// Namespace is the containerd namespace berth owns.
	Namespace string `toml:"namespace"`
	// Runtime is the containerd runtime tasks are created with.
	Runtime string `toml:"runtime"`
	// Snapshotter is the containerd snapshotter images unpack into.
	Snapshotter string `toml:"snapshotter"`
	// CgroupDriver makes containers' cgroups: "cgroupfs" (runc writes the
	// cgroup file system) or "systemd" (transient scopes; the host's init
	// must be systemd).
	CgroupDriver string `toml:"cgroup_driver"`
	// BinDirs are searched, in order and before $PATH, for containerd,
	// runc, the shims, the logger and the snapshotter.
	BinDirs []string `toml:"bin_dirs"`
	// CNIBinDir holds the CNI plugins.
	CNIBinDir string `toml:"cni_bin_dir"`
	// Bridge is the interface name of the default "bridge" network.
	Bridge string `toml:"bridge"`
	// BridgeSubnet is the default network's subnet; empty means
	// 172.17.0.0/16, or the first free subnet of the address pools if a
	// host route overlaps it (with DefaultAddressPools set: their first
	// free subnet).
	BridgeSubnet string `toml:"bridge_subnet"`
	// FirewallPrefix names berth's nftables table (ip <prefix in lower case>).
	// Two berthd on one host need different bridges and prefixes.
	FirewallPrefix string `toml:"firewall_prefix"`
	// DefaultAddressPools are carved up for networks created without a
	// subnet; empty means Docker's pools (172.17-31.0.0/16, then
	// 192.168.0.0/16 in /20s).
	DefaultAddressPools []AddressPool `toml:"default_address_pools"`
	// DNSUpstreams are the "ip" or "ip:port" resolvers the embedded DNS
	// forwards other names to; empty means the host's /etc/resolv.conf.
	DNSUpstreams []string `toml:"dns_upstreams"`
	// LogMaxSize is the default size at which a container log rotates
	// ("10m"; units as Docker's max-size; "-1" or "0" disables rotation).
	LogMaxSize string `toml:"log_max_size"`
	// LogMaxFile is the default number of log files kept per container.
	LogMaxFile int `toml:"log_max_file"`
	// BuilderIdleTimeout stops berth-buildkitd after this long without a
	// build ("5m"; Go duration; "-1" never stops it). docs/build.md.
	BuilderIdleTimeout string `toml:"builder_idle_timeout"`
	// BuildCacheMaxSize caps the build cache: its garbage collection keeps
	// it under this size ("20gb"; "" is BuildKit's default, 10% of the
	// disk up to 100 GB).
	BuildCacheMaxSize string `toml:"build_cache_max_size"`
	// Debug turns on debug logs in berthd and its children.
	Debug bool `toml:"debug"`
	// HostGatewayIP is the address "host-gateway" stands for in a
	// container's --add-host (dockerd's host-gateway-ip); empty: the
	// gateway of the container's primary network.
	HostGatewayIP string `toml:"host_gateway_ip"`
	// DefaultIpcMode is the IPC mode of a container created without one:
	// "private" (also when empty) or "shareable" (dockerd's
	// default-ipc-mode). It is recorded in the container at its creation.
	DefaultIpcMode string `toml:"default_ipc_mode"`
	// DefaultCgroupnsMode is the cgroup namespace mode of a container
	// created without one: "host" or "private" (empty: private on cgroup
	// v2, host on v1; dockerd's default-cgroupns-mode). It is recorded in
	// the container at its creation.
	DefaultCgroupnsMode string `toml:"default_cgroupns_mode"`
	// EnableBerthSnapshotter starts berth-snapshotter before containerd and
	// gives its socket to containerd's snapshot plugin "berth".
	EnableBerthSnapshotter bool `toml:"enable_berth_snapshotter"`
	// InsecureRegistries may be reached over plain HTTP and without
	// certificate verification: "host:port", "host" or a CIDR. Loopback
	// registries always may (as Docker allows 127.0.0.0/8).
	InsecureRegistries []string `toml:"insecure_registries"`
	// RegistryMirrors are tried, in order, before a registry for pulls:
	// registry host → mirror URLs ("docker.io" = ["http://127.0.0.1:5001"]).
	RegistryMirrors map[string][]string `toml:"registry_mirrors"`
	// CDISpecDirs are the directories Container Device Interface specs are
	// read from (docker run --device vendor.com/class=name); default
	// /etc/cdi and /var/run/cdi, as Docker; [] turns CDI off.
	CDISpecDirs []string `toml:"cdi_spec_dirs"`
	// RegistryCADir holds per-registry certificates in Docker's layout
	// (<dir>/<host:port>/ca.crt, client.cert, client.key); empty: none.
	RegistryCADir string `toml:"registry_ca_dir"`
	// TCPAddress ("host:port"), when set, serves the API on TCP as well,
	// with mutual TLS only: TLSCert and TLSKey are berthd's certificate,
	// TLSCACert verifies the clients' certificates.
	TCPAddress string `toml:"tcp_address"`
	// DockerAPI serves the Docker Engine API (docs/docker-api.md) on
	// DockerSocket, and on DockerTCPAddress when set (mutual TLS with
	// TLSCACert, TLSCert and TLSKey, as the TCP API).
	DockerAPI        bool   `toml:"docker_api"`
	DockerSocket     string `toml:"docker_socket"`
	DockerTCPAddress string `toml:"docker_tcp_address"`
	TLSCACert        string `toml:"tlscacert"`
	TLSCert          string `toml:"tlscert"`
	TLSKey           string `toml:"tlskey"`
	// UI, when set ("127.0.0.1:PORT"), serves the web dashboard there
	// (docs/dashboard.md). A non-loopback address needs mutual TLS with
	// TLSCACert, TLSCert and TLSKey, as the TCP API.
	UI string `toml:"ui"`
	// APIReflection serves gRPC server reflection on the API (what
	// grpcurl, Postman and Evans read the services from); on by default.
	APIReflection bool `toml:"api_reflection"`
	// ClusterNodeTimeout bounds how long a cluster node that stopped
	// heartbeating is still reported ready (a Go duration, 2s to 1m;
	// docs/cluster.md). Unused outside a cluster.
	ClusterNodeTimeout string `toml:"cluster_node_timeout"`
	// ServiceDrainPeriod is how long a service task stays up after it left
	// the load balancers (VIPs, published ports, DNS) of every node and
	// before it is stopped, so that no node still sends it a request (a
	// Go duration, 0 to 1m; Docker's 2s; docs/services.md).
	ServiceDrainPeriod string `toml:"service_drain_period"`
}

// Default returns the built-in defaults.
func Default() *Config {
	return &Config{
		Root:        "/var/lib/berth",
		State:       "/run/berth",
		SocketGroup: "berth",
		Namespace:   "berth",
		// berth's own shim and snapshotter; containerd's runc shim and
		// overlayfs snapshotter stay selectable.
		Runtime:                RuntimeBerth,
		Snapshotter:            SnapshotterBerth,
		CgroupDriver:           "cgroupfs",
		EnableBerthSnapshotter: true,
		BinDirs:                []string{"/usr/local/lib/berth"},
		CNIBinDir:              "/usr/local/lib/berth/cni",
		Bridge:                 "berth0",
		FirewallPrefix:         "BERTH",
		LogMaxSize:             "10m",
		LogMaxFile:             3,
		BuilderIdleTimeout:     "5m",
		DockerAPI:              true,
		APIReflection:          true,
		ClusterNodeTimeout:     "5s",
		ServiceDrainPeriod:     "2s",
		CDISpecDirs:            []string{"/etc/cdi", "/var/run/cdi"},
	}
}

// Load reads the TOML file at path over the defaults. A missing file is not
// an error (the defaults apply); an unknown key is, and the error names it.
func Load(path string) (*Config, error) {
	c := Default()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := c.decode(path, data); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) decode(path string, data []byte) error {
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	err := dec.Decode(c)
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var msgs []string
		for _, e := range strict.Errors {
			line, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("unknown key %q (line %d)", strings.Join(e.Key(), "."), line))
		}
		return fmt.Errorf("config %s: %s", path, strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		return fmt.Errorf("config %s: line %d column %d: %s", path, line, col, de.Error())
	}
	return fmt.Errorf("config %s: %w", path, err)
}

// Validate checks the settings and fills the derived defaults (Socket).
// Call it once every source (file, flags) has been applied.
func (c *Config) Validate() error {
	for name, p := range map[string]string{"root": c.Root, "state": c.State} {
		if p == "" || !filepath.IsAbs(p) {
			return fmt.Errorf("%s must be an absolute path, got %q", name, p)
		}
	}
	c.Root = filepath.Clean(c.Root)
	c.State = filepath.Clean(c.State)
	if c.Root == c.State {
		return fmt.Errorf("root and state must differ (both %q)", c.Root)
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(c.State, "berth.sock")
	}
	if !filepath.IsAbs(c.Socket) {
		return fmt.Errorf("socket must be an absolute path, got %q", c.Socket)
	}
	if len(c.Socket) >= maxSocketPath {
		return fmt.Errorf("socket path %q is too long for a unix socket (max %d bytes)", c.Socket, maxSocketPath-1)
	}
	if c.DockerSocket == "" {
		c.DockerSocket = filepath.Join(c.State, "docker.sock")
	}
	if !filepath.IsAbs(c.DockerSocket) || len(c.DockerSocket) >= maxSocketPath {
		return fmt.Errorf("docker_socket must be an absolute path shorter than %d bytes, got %q", maxSocketPath, c.DockerSocket)
	}
	if c.DockerAPI && c.DockerSocket == c.Socket {
		return fmt.Errorf("docker_socket and socket must differ (both %q)", c.Socket)
	}
	if c.ContainerdAddress == "" && len(c.ContainerdSocket()) >= maxSocketPath {
		return fmt.Errorf("state %q is too long: containerd's socket %q would exceed %d bytes", c.State, c.ContainerdSocket(), maxSocketPath-1)
	}
	if c.Namespace == "" {
		return errors.New("namespace must not be empty")
	}
	if c.Runtime == "" {
		return errors.New("runtime must not be empty")
	}
	if c.Snapshotter == "" {
		return errors.New("snapshotter must not be empty")
	}
	switch c.CgroupDriver {
	case "cgroupfs":
	case "systemd":
		if _, err := os.Stat("/run/systemd/system"); err != nil {
			return errors.New(`cgroup_driver "systemd" needs systemd as the host's init (there is no /run/systemd/system): use "cgroupfs"`)
		}
	default:
		return fmt.Errorf(`cgroup_driver must be "cgroupfs" or "systemd", got %q`, c.CgroupDriver)
	}
	if c.HostGatewayIP != "" {
		if _, err := netip.ParseAddr(c.HostGatewayIP); err != nil {
			return fmt.Errorf("host_gateway_ip %q: not an IP address", c.HostGatewayIP)
		}
	}
	switch c.DefaultIpcMode {
	case "", "private", "shareable":
	default:
		return fmt.Errorf(`default_ipc_mode must be "private" or "shareable", got %q`, c.DefaultIpcMode)
	}
	switch c.DefaultCgroupnsMode {
	case "", "private", "host":
	default:
		return fmt.Errorf(`default_cgroupns_mode must be "private" or "host", got %q`, c.DefaultCgroupnsMode)
	}
	if c.Snapshotter == SnapshotterBerth && c.ContainerdAddress == "" && !c.EnableBerthSnapshotter {
		return errors.New(`snapshotter "berth" needs berth-snapshotter: set enable_berth_snapshotter = true, or choose snapshotter "overlayfs"`)
	}
	if _, err := c.LogMaxSizeBytes(); err != nil {
		return err
	}
	if _, err := c.BuilderIdleTimeoutDuration(); err != nil {
		return err
	}
	if _, err := c.BuildCacheMaxBytes(); err != nil {
		return err
	}
	if _, err := c.ClusterNodeTimeoutDuration(); err != nil {
		return err
	}
	if _, err := c.ServiceDrainPeriodDuration(); err != nil {
		return err
	}
	if c.LogMaxFile < 1 {
		return fmt.Errorf("log_max_file must be at least 1, got %d", c.LogMaxFile)
	}
	for _, d := range c.BinDirs {
		if !filepath.IsAbs(d) {
			return fmt.Errorf("bin_dirs: %q is not an absolute path", d)
		}
	}
	if c.Bridge == "" || len(c.Bridge) > 15 || strings.ContainsAny(c.Bridge, "/ :") {
		return fmt.Errorf("bridge: %q is not a valid interface name (1 to 15 characters)", c.Bridge)
	}
	if c.BridgeSubnet != "" {
		if _, err := c.BridgeSubnetPrefix(); err != nil {
			return err
		}
	}
	if c.FirewallPrefix == "" || len(c.FirewallPrefix) > 14 {
		return fmt.Errorf("firewall_prefix: %q must have 1 to 14 characters", c.FirewallPrefix)
	}
	for _, p := range c.DefaultAddressPools {
		if _, err := p.Prefix(); err != nil {
			return err
		}
	}
	for _, u := range c.DNSUpstreams {
		if _, err := DNSUpstream(u); err != nil {
			return err
		}
	}
	if c.UI != "" {
		if _, _, err := net.SplitHostPort(c.UI); err != nil {
			return fmt.Errorf("ui: %q is not host:port (e.g. 127.0.0.1:7070): %w", c.UI, err)
		}
	}
	for _, r := range c.InsecureRegistries {
		if r == "" || strings.Contains(r, "://") {
			return fmt.Errorf("insecure_registries: %q must be host[:port] or a CIDR, without a scheme", r)
		}
	}
	for host, ms := range c.RegistryMirrors {
		for _, m := range ms {
			if !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
				return fmt.Errorf("registry_mirrors: mirror %q of %s must be an http:// or https:// URL", m, host)
			}
		}
	}
	return nil
}

// BridgeSubnetPrefix parses BridgeSubnet (the zero Prefix when empty).
func (c *Config) BridgeSubnetPrefix() (netip.Prefix, error) {
	if c.BridgeSubnet == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(c.BridgeSubnet)
	if err != nil || !p.Addr().Is4() || p.Masked() != p || p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("bridge_subnet: %q is not an IPv4 network like 172.17.0.0/16", c.BridgeSubnet)
	}
	return p, nil
}

// maxSocketPath is the size of sockaddr_un.sun_path on Linux.
const maxSocketPath = 108

// ClusterNodeTimeoutDuration parses ClusterNodeTimeout.
func (c *Config) ClusterNodeTimeoutDuration() (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(c.ClusterNodeTimeout))
	if err != nil || d < 2*time.Second || d > time.Minute {
		return 0, fmt.Errorf("cluster_node_timeout: %q is not a duration from 2s to 1m (e.g. 5s)", c.ClusterNodeTimeout)
	}
	return d, nil
}

// ServiceDrainPeriodDuration parses ServiceDrainPeriod.
func (c *Config) ServiceDrainPeriodDuration() (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(c.ServiceDrainPeriod))
	if err != nil || d < 0 || d > time.Minute {
		return 0, fmt.Errorf("service_drain_period: %q is not a duration from 0s to 1m (e.g. 2s)", c.ServiceDrainPeriod)
	}
	return d, nil
}

// LogMaxSizeBytes parses LogMaxSize. -1 means no rotation by size.
func (c *Config) LogMaxSizeBytes() (int64, error) {
	s := strings.TrimSpace(c.LogMaxSize)
	if s == "" || s == "-1" || s == "0" {
		return -1, nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("log_max_size: invalid size %q", c.LogMaxSize)
	}
	return n, nil
}

// BuilderIdleTimeoutDuration parses BuilderIdleTimeout; negative: never.
func (c *Config) BuilderIdleTimeoutDuration() (time.Duration, error) {
	s := strings.TrimSpace(c.BuilderIdleTimeout)
	if s == "" {
		return 0, nil
	}
	if s == "-1" {
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("builder_idle_timeout: invalid duration %q (e.g. \"5m\", or \"-1\" for never)", c.BuilderIdleTimeout)
	}
	return d, nil
}

// BuildCacheMaxBytes parses BuildCacheMaxSize; 0 means BuildKit's default.
func (c *Config) BuildCacheMaxBytes() (int64, error) {
	s := strings.TrimSpace(c.BuildCacheMaxSize)
	if s == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("build_cache_max_size: invalid size %q (e.g. \"20gb\")", c.BuildCacheMaxSize)
	}
	return n, nil
}

// Embedded reports whether berthd runs its own containerd.
func (c *Config) Embedded() bool { return c.ContainerdAddress == "" }

// ContainerdRoot is the embedded containerd's root.
func (c *Config) ContainerdRoot() string { return filepath.Join(c.Root, "containerd") }

// ContainerdState is the embedded containerd's state dir.
func (c *Config) ContainerdState() string { return filepath.Join(c.State, "containerd") }

// ContainerdSocket is the embedded containerd's gRPC socket.
func (c *Config) ContainerdSocket() string {
	return filepath.Join(c.ContainerdState(), "containerd.sock")
}

// ContainerdConfigPath is where berthd writes containerd's config.
func (c *Config) ContainerdConfigPath() string {
	return filepath.Join(c.ContainerdState(), "config.toml")
}

// ContainerdPIDFile records the embedded containerd's PID (live restore).
func (c *Config) ContainerdPIDFile() string {
	return filepath.Join(c.ContainerdState(), "containerd.pid")
}

// ContainerdLog receives the embedded containerd's stdout and stderr.
func (c *Config) ContainerdLog() string { return filepath.Join(c.ContainerdState(), "containerd.log") }

// ContainerdEndpoint is the containerd socket berth talks to, embedded or not.
func (c *Config) ContainerdEndpoint() string {
	if c.ContainerdAddress != "" {
		return strings.TrimPrefix(c.ContainerdAddress, "unix://")
	}
	return c.ContainerdSocket()
}

// SnapshotterRoot is berth-snapshotter's root.
func (c *Config) SnapshotterRoot() string { return filepath.Join(c.Root, "snapshotter") }

// SnapshotterSocket is berth-snapshotter's gRPC socket.
func (c *Config) SnapshotterSocket() string { return filepath.Join(c.State, "snapshotter.sock") }

// SnapshotterPIDFile records berth-snapshotter's PID (live restore).
func (c *Config) SnapshotterPIDFile() string { return filepath.Join(c.State, "snapshotter.pid") }

// SnapshotterLog receives berth-snapshotter's stdout and stderr.
func (c *Config) SnapshotterLog() string { return filepath.Join(c.State, "snapshotter.log") }

// RuncRoot is runc's --root.
func (c *Config) RuncRoot() string { return filepath.Join(c.State, "runc") }

// ShimSocketDir holds the shims' sockets.
func (c *Config) ShimSocketDir() string { return filepath.Join(c.State, "s") }

// PIDFile is berthd's own pid file.
func (c *Config) PIDFile() string { return filepath.Join(c.State, "berthd.pid") }

// LockFile is held (flock) by the running berthd of this state dir.
func (c *Config) LockFile() string { return filepath.Join(c.State, "berthd.lock") }

// Lookup finds an executable by name in BinDirs, then in $PATH.
func (c *Config) Lookup(name string) (string, error) {
	return Lookup(c.BinDirs, name)
}

// Lookup finds an executable by name in dirs, then in $PATH.
func Lookup(dirs []string, name string) (string, error) {
	if filepath.IsAbs(name) {
		if isExecutable(name) {
			return name, nil
		}
		return "", fmt.Errorf("%s: not an executable file", name)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found in %s or $PATH", name, strings.Join(dirs, ", "))
	}
	return filepath.Abs(p)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// SearchPath returns a PATH value with BinDirs first, then path's entries
// not already listed.
func (c *Config) SearchPath(path string) string {
	seen := map[string]bool{}
	var out []string
	for _, d := range append(append([]string{}, c.BinDirs...), filepath.SplitList(path)...) {
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return strings.Join(out, string(os.PathListSeparator))
}

// AddressPool is one entry of default_address_pools: Base is split into
// subnets of Size bits (Docker's {"base": "10.10.0.0/16", "size": 24}).
type AddressPool struct {
	Base string `toml:"base"`
	Size int    `toml:"size"`
}

// Prefix checks the pool and returns its base.
func (p AddressPool) Prefix() (netip.Prefix, error) {
	b, err := netip.ParsePrefix(p.Base)
	if err != nil || !b.Addr().Is4() || b.Masked() != b {
		return netip.Prefix{}, fmt.Errorf("default_address_pools: base %q is not an IPv4 network like 10.10.0.0/16", p.Base)
	}
	if p.Size < b.Bits() || p.Size > 30 {
		return netip.Prefix{}, fmt.Errorf("default_address_pools: size %d must be between %d (the base's) and 30", p.Size, b.Bits())
	}
	return b, nil
}

// ParseAddressPool parses the flag form of a pool, "base=10.10.0.0/16,size=24".
func ParseAddressPool(v string) (AddressPool, error) {
	var p AddressPool
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "base":
			p.Base = val
		case "size":
			n, err := strconv.Atoi(val)
			if err != nil {
				return p, fmt.Errorf("default address pool %q: size must be a number", v)
			}
			p.Size = n
		default:
			return p, fmt.Errorf("default address pool %q: want base=CIDR,size=BITS", v)
		}
	}
	_, err := p.Prefix()
	return p, err
}

// DNSUpstream normalises a dns_upstreams entry to "ip:port" (port 53 by
// default).
func DNSUpstream(v string) (string, error) {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return "", fmt.Errorf("dns_upstreams: %q is not an IP address or ip:port", v)
	}
	return netip.AddrPortFrom(a, 53).String(), nil
}

// UIURLFile holds the dashboard's login address while berthd serves it
// (`berth ui` prints it).
func (c *Config) UIURLFile() string { return filepath.Join(c.State, "ui.url") }
