package container

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/cni"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
)

// Network modes besides a network's name.
const (
	NetworkBridge = "bridge"
	NetworkNone   = "none"
	NetworkHost   = "host"
)

// networkMode is cfg's mode with the default applied.
func (s *Service) networkMode(cfg *containertypes.Config) string {
	if cfg.NetworkMode != "" {
		return cfg.NetworkMode
	}
	if s.opts.Networks == nil {
		return NetworkNone
	}
	return NetworkBridge
}

// networkSpec checks the network settings at create time and returns the
// spec option that puts the container in the right network namespace.
func (s *Service) networkSpec(ctx context.Context, cfg *containertypes.Config, id string) (oci.SpecOpts, error) {
	mode := s.networkMode(cfg)
	switch {
	case mode == NetworkNone:
		if len(cfg.PortBindings) > 0 || cfg.PublishAllPorts {
			return nil, fmt.Errorf("ports cannot be published with --network none: %w", errdefs.ErrInvalidArgument)
		}
		return withNetSysctls, nil
	case mode == NetworkHost:
		return oci.WithHostNamespace(specs.NetworkNamespace), nil
	case strings.HasPrefix(mode, "container:"):
		if len(cfg.PortBindings) > 0 || cfg.PublishAllPorts {
			return nil, fmt.Errorf("ports cannot be published with --network container:…; publish them on the container that owns the network: %w", errdefs.ErrInvalidArgument)
		}
		if cfg.Hostname != "" {
			return nil, fmt.Errorf("conflicting options: --hostname and --network %s (the container takes that container's hostname): %w", mode, errdefs.ErrInvalidArgument)
		}
		other, err := s.lookup(strings.TrimPrefix(mode, "container:"))
		if err != nil {
			return nil, err
		}
		c, err := s.containerStore().Get(ctx, other.id)
		if err != nil {
			return nil, err
		}
		ocfg, err := configOf(c)
		if err != nil {
			return nil, err
		}
		switch omode := s.networkMode(ocfg); {
		case omode == NetworkHost:
			return oci.WithHostNamespace(specs.NetworkNamespace), nil
		case omode == NetworkNone || strings.HasPrefix(omode, "container:"):
			return nil, fmt.Errorf("container %s has no network namespace of its own to share (its network is %s): %w", other.name, omode, errdefs.ErrInvalidArgument)
		}
		cfg.NetworkMode = "container:" + other.id
		return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.opts.Networks.NetNSPath(other.id)}), nil
	}
	if s.opts.Networks == nil {
		return nil, fmt.Errorf("network %q needs berth's networking, which is not configured (no CNI plugins): %w", mode, errdefs.ErrFailedPrecondition)
	}
	if s.noDefaultNetwork(ctx, cfg) {
		return withNetSysctls, nil
	}
	if _, err := s.opts.Networks.Inspect(ctx, mode); err != nil {
		return nil, err
	}
	for _, a := range cfg.Networks {
		n, err := s.opts.Networks.Inspect(ctx, a.Network)
		if errdefs.IsNotFound(err) && a.Network != mode {
			// As dockerd: a network the container joins besides its
			// mode's may be created after the container; start fails,
			// naming it, while it is missing.
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := checkIPv6(n, a.IPv6); err != nil {
			return nil, err
		}
	}
	return oci.Compose(oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.opts.Networks.NetNSPath(id)}), withNetSysctls), nil
}

// noDefaultNetwork reports a container in the default network mode (no
// networks named) on a daemon whose default network is off (berthd
// --bridge none, dockerd's -b none): as under dockerd, it gets a network
// namespace of its own with only lo.
func (s *Service) noDefaultNetwork(ctx context.Context, cfg *containertypes.Config) bool {
	switch cfg.NetworkMode {
	case "", "default", NetworkBridge:
	default:
		return false
	}
	if len(cfg.Networks) > 0 || s.opts.Networks == nil {
		return false
	}
	_, err := s.opts.Networks.Inspect(ctx, network.DefaultNetwork)
	return errdefs.IsNotFound(err)
}

// withNetSysctls sets the kernel parameters dockerd gives every container
// with a network namespace of its own, unless the container sets them:
// unprivileged ICMP echo sockets (ping without CAP_NET_RAW) and ports
// below 1024 without CAP_NET_BIND_SERVICE (the capabilities containers have
// by default grant both anyway). A kernel without them gets neither.
func withNetSysctls(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	for k, v := range map[string]string{
		"net.ipv4.ping_group_range":           "0 2147483647",
		"net.ipv4.ip_unprivileged_port_start": "0",
	} {
		if _, err := os.Stat("/proc/sys/" + strings.ReplaceAll(k, ".", "/")); err != nil {
			continue
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		if _, ok := s.Linux.Sysctl[k]; !ok {
			s.Linux.Sysctl[k] = v
		}
	}
	return nil
}

func noop(context.Context, oci.Client, *containers.Container, *oci.Spec) error { return nil }

// startNetwork begins the container's network setup (netns, CNI ADD, ports,
// DNS, its hosts and resolv.conf) and returns as soon as the network
// namespace exists, so that the task can be created in it while the
// interfaces are configured. wait returns the outcome; the process must not
// start before it returned nil. Host and none containers need no CNI work
// (their files were written at create): wait is then immediate.
func (s *Service) startNetwork(ctx context.Context, id, name string, cfg *containertypes.Config, image ocispec.ImageConfig) (wait func() error, err error) {
	mode := s.networkMode(cfg)
	if s.opts.Networks == nil || mode == NetworkNone || mode == NetworkHost || s.noDefaultNetwork(ctx, cfg) {
		return func() error { return nil }, nil
	}
	ready := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := s.setupNetwork(ctx, id, name, cfg, image, func() { once.Do(func() { close(ready) }) })
		done <- err
	}()
	select {
	case <-ready:
		return func() error { return <-done }, nil
	case err := <-done:
		// Finished (or failed) before it reported the netns: nothing runs
		// in parallel.
		return func() error { return nil }, err
	}
}

// setupNetwork creates the container's network and writes its hosts and
// resolv.conf; nsReady (may be nil) is called once the netns exists.
func (s *Service) setupNetwork(ctx context.Context, id, name string, cfg *containertypes.Config, image ocispec.ImageConfig, nsReady func()) (*cni.Sandbox, error) {
	mode := s.networkMode(cfg)
	req := cni.SetupRequest{
		ContainerID: id,
		Name:        name,
		Hostname:    hostnameOf(cfg, id),
		NetworkMode: mode,
		DNS:         cfg.DNS,
		DNSSearch:   cfg.DNSSearch,
		DNSOptions:  cfg.DNSOptions,
		ExtraHosts:  cfg.ExtraHosts,
		NetNSReady:  nsReady,
	}
	if !s.legacyLinks(cfg) {
		req.Links = cfg.Links
	}
	if other, ok := strings.CutPrefix(mode, "container:"); ok {
		req.NetworkMode = "container:" + s.opts.Networks.NetNSPath(other)
	}
	if (cfg.NetworkMode == "" || cfg.NetworkMode == "default") && len(cfg.Networks) > 0 {
		// As dockerd: the default mode with networks named is those
		// networks only (the first is the primary one), not the
		// default network besides them.
		req.NetworkMode = ""
	}
	for _, a := range cfg.Networks {
		att := cni.Attachment{Network: a.Network, Aliases: a.Aliases, MAC: a.MAC, GwPriority: a.GwPriority, IfName: a.IfName}
		if a.IPv4 != "" {
			ip, err := netip.ParseAddr(a.IPv4)
			if err != nil {
				return nil, fmt.Errorf("invalid IP address %q: %w", a.IPv4, errdefs.ErrInvalidArgument)
			}
			att.IPv4 = ip
		}
		if a.IPv6 != "" {
			ip, err := parseIP6(a.IPv6)
			if err != nil {
				return nil, err
			}
			att.IPv6 = ip
		}
		req.Networks = append(req.Networks, att)
	}
	ports, err := portMappings(cfg, image)
	if err != nil {
		return nil, err
	}
	req.Ports = ports
	sb, err := s.opts.Networks.Setup(ctx, req)
	if errdefs.IsAlreadyExists(err) {
		// A container being started has no task, so a network still set up
		// for it is a previous run's whose teardown did not finish (its
		// shim killed while containerd cleaned up, a failed CNI DEL kept
		// for a retry): this is that retry.
		s.log.Info("tearing down a previous run's network before start", "id", id)
		if terr := s.opts.Networks.Teardown(ctx, id); terr != nil && !errdefs.IsNotFound(terr) {
			return nil, fmt.Errorf("the network of the container's previous run could not be removed: %w", terr)
		}
		sb, err = s.opts.Networks.Setup(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	if err := s.writeNetworkFiles(id, sb); err != nil {
		if terr := s.opts.Networks.Teardown(context.WithoutCancel(ctx), id); terr != nil {
			s.log.Warn("rollback: network teardown", "id", id, "err", terr)
		}
		return nil, err
	}
	return sb, nil
}

func (s *Service) writeNetworkFiles(id string, sb *cni.Sandbox) error {
	hosts, err := s.opts.Networks.HostsFile(sb)
	if err != nil {
		return err
	}
	resolv, err := s.opts.Networks.ResolvConf(sb)
	if err != nil {
		return err
	}
	dir := s.containerDir(id)
	if err := os.WriteFile(dir+"/hosts", hosts, 0o644); err != nil {
		return err
	}
	return os.WriteFile(dir+"/resolv.conf", resolv, 0o644)
}

// teardownNetwork undoes setupNetwork; it is idempotent.
func (s *Service) teardownNetwork(ctx context.Context, id string) {
	if s.opts.Networks == nil {
		return
	}
	if err := s.opts.Networks.Teardown(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		s.log.Warn("network teardown", "id", id, "err", err)
	}
}

// releaseNetwork is teardownNetwork for a container whose processes are
// gone: what can reach or name it goes at once, its interfaces and
// addresses in the background (cni.Manager.Release).
func (s *Service) releaseNetwork(ctx context.Context, id string) {
	if s.opts.Networks == nil {
		return
	}
	if err := s.opts.Networks.Release(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		s.log.Warn("network teardown", "id", id, "err", err)
	}
}

func hostnameOf(cfg *containertypes.Config, id string) string {
	if cfg.Hostname != "" {
		return cfg.Hostname
	}
	return id[:12]
}

// portMappings turns -p and -P into the network manager's mappings.
func portMappings(cfg *containertypes.Config, image ocispec.ImageConfig) ([]network.PortMapping, error) {
	var out []network.PortMapping
	for _, b := range cfg.PortBindings {
		m := network.PortMapping{HostPort: b.HostPort, ContainerPort: b.ContainerPort, Proto: b.Proto}
		if b.HostIP != "" {
			ip, err := netip.ParseAddr(b.HostIP)
			if err != nil {
				return nil, fmt.Errorf("invalid host IP %q in a port binding: %w", b.HostIP, errdefs.ErrInvalidArgument)
			}
			m.HostIP = ip
		}
		out = append(out, m)
	}
	if cfg.PublishAllPorts {
		exposed := append([]string{}, cfg.ExposedPorts...)
		for p := range image.ExposedPorts {
			exposed = append(exposed, p)
		}
		for _, p := range exposed {
			port, proto, _ := strings.Cut(p, "/")
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("invalid exposed port %q: %w", p, errdefs.ErrInvalidArgument)
			}
			out = append(out, network.PortMapping{ContainerPort: uint16(n), Proto: proto})
		}
	}
	return out, nil
}

// networkSettings is Inspect's view of a running container's network.
func (s *Service) networkSettings(ctx context.Context, id string) containertypes.NetworkSettings {
	ns := containertypes.NetworkSettings{Networks: map[string]containertypes.EndpointSettings{}}
	if s.opts.Networks == nil {
		return ns
	}
	sb, err := s.opts.Networks.Sandbox(ctx, id)
	if err != nil || sb == nil {
		return ns
	}
	ns.SandboxKey = sb.NetNSPath
	for i, ep := range sb.Endpoints {
		es := containertypes.EndpointSettings{
			NetworkID: ep.NetworkID, MacAddress: ep.MAC, Aliases: ep.Aliases, GwPriority: ep.GwPriority,
		}
		if ep.IfNameGiven {
			es.IfName = ep.IfName
		}
		if ep.IPv4.IsValid() {
			es.IPAddress, es.IPPrefixLen = ep.IPv4.Addr().String(), ep.IPv4.Bits()
		}
		if ep.Gateway.IsValid() {
			es.Gateway = ep.Gateway.String()
		}
		if ep.IPv6.IsValid() {
			es.GlobalIPv6Address, es.GlobalIPv6PrefixLen = ep.IPv6.Addr().String(), ep.IPv6.Bits()
		}
		if ep.Gateway6.IsValid() {
			es.IPv6Gateway = ep.Gateway6.String()
		}
		if ep.RequestedIPv4.IsValid() || ep.RequestedIPv6.IsValid() {
			es.IPAMConfig = &containertypes.EndpointIPAMConfig{}
			if ep.RequestedIPv4.IsValid() {
				es.IPAMConfig.IPv4Address = ep.RequestedIPv4.String()
			}
			if ep.RequestedIPv6.IsValid() {
				es.IPAMConfig.IPv6Address = ep.RequestedIPv6.String()
			}
		}
		ns.Networks[ep.Network] = es
		if i == 0 {
			ns.IPAddress, ns.Gateway, ns.MacAddress = es.IPAddress, es.Gateway, es.MacAddress
			ns.GlobalIPv6Address, ns.GlobalIPv6PrefixLen, ns.IPv6Gateway = es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway
		}
	}
	for _, p := range sb.Ports {
		b := containertypes.PortBinding{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Proto: p.Proto}
		if p.HostIP.IsValid() {
			b.HostIP = p.HostIP.String()
		}
		ns.Ports = append(ns.Ports, b)
	}
	return ns
}
