package container

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/berthproject/berth/cni"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// Connect attaches a container to one more network (`berth network
// connect`): at once if it is running (its /etc/hosts is rewritten), and
// in its configuration, so that every later start attaches it too.
// Errors: ErrNotFound (container, network), ErrAlreadyExists (already
// attached), ErrFailedPrecondition (host, none or container: network mode).
func (s *Service) Connect(ctx context.Context, ref string, att containertypes.NetworkAttachment) error {
	if s.opts.Networks == nil {
		return fmt.Errorf("berth's networking is not configured: %w", errdefs.ErrFailedPrecondition)
	}
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	n, err := s.opts.Networks.Inspect(ctx, att.Network)
	if err != nil {
		return err
	}
	att.Network = n.Name
	r.op.Lock()
	defer r.op.Unlock()
	c, cfg, err := s.storedConfig(ctx, r.id)
	if err != nil {
		return err
	}
	mode := s.networkMode(cfg)
	if mode == NetworkNone || mode == NetworkHost || strings.HasPrefix(mode, "container:") {
		return fmt.Errorf("container %s uses network mode %s and cannot be connected to a network: %w", r.name, mode, errdefs.ErrFailedPrecondition)
	}
	if slices.Contains(s.attachedNetworks(ctx, cfg), n.Name) {
		return fmt.Errorf("endpoint with name %s already exists in network %s: %w", r.name, n.Name, errdefs.ErrAlreadyExists)
	}
	ca := cni.Attachment{Network: n.Name, Aliases: att.Aliases, MAC: att.MAC, GwPriority: att.GwPriority, IfName: att.IfName}
	if att.IPv4 != "" {
		if ca.IPv4, err = parseIP(att.IPv4); err != nil {
			return err
		}
	}
	if err := checkIPv6(n, att.IPv6); err != nil {
		return err
	}
	if att.IPv6 != "" {
		if ca.IPv6, err = parseIP6(att.IPv6); err != nil {
			return err
		}
	}
	if _, err := s.opts.Networks.Sandbox(ctx, r.id); err == nil {
		if _, err := s.opts.Networks.Connect(ctx, r.id, ca); err != nil {
			return err
		}
		if err := s.rewriteNetworkFiles(ctx, r.id); err != nil {
			s.log.Warn("network connect: rewriting /etc/hosts", "id", r.id, "err", err)
		}
	}
	if (cfg.NetworkMode == "" || cfg.NetworkMode == "default") && len(cfg.Networks) == 0 {
		// The default network stays: it is no longer implied once the
		// container names a network (setupNetwork).
		cfg.NetworkMode = NetworkBridge
	}
	cfg.Networks = append(cfg.Networks, att)
	if err := s.storeConfig(ctx, c, cfg); err != nil {
		return err
	}
	s.publishNetwork(n, "connect", r.id)
	return nil
}

// Disconnect detaches a container from a network, at once if it runs and
// for its later starts. A container keeps at least one network.
func (s *Service) Disconnect(ctx context.Context, ref, network string, force bool) error {
	if s.opts.Networks == nil {
		return fmt.Errorf("berth's networking is not configured: %w", errdefs.ErrFailedPrecondition)
	}
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	name := network
	n, err := s.opts.Networks.Inspect(ctx, network)
	switch {
	case err == nil:
		name = n.Name
	case !force || !errdefs.IsNotFound(err):
		return err
	}
	r.op.Lock()
	defer r.op.Unlock()
	c, cfg, err := s.storedConfig(ctx, r.id)
	if err != nil {
		return err
	}
	mode := s.networkMode(cfg)
	if mode == NetworkNone || mode == NetworkHost || strings.HasPrefix(mode, "container:") {
		return fmt.Errorf("container %s uses network mode %s: it is not connected to network %s: %w", r.name, mode, name, errdefs.ErrFailedPrecondition)
	}
	attached := s.attachedNetworks(ctx, cfg)
	if !slices.Contains(attached, name) {
		return fmt.Errorf("container %s is not connected to network %s: %w", r.name, name, errdefs.ErrNotFound)
	}
	if len(attached) == 1 {
		return fmt.Errorf("container %s is connected only to network %s: it cannot be disconnected from its last network: %w", r.name, name, errdefs.ErrFailedPrecondition)
	}
	if _, err := s.opts.Networks.Sandbox(ctx, r.id); err == nil {
		if err := s.opts.Networks.Disconnect(ctx, r.id, name); err != nil && !(force && errdefs.IsNotFound(err)) {
			return err
		}
		if err := s.rewriteNetworkFiles(ctx, r.id); err != nil {
			s.log.Warn("network disconnect: rewriting /etc/hosts", "id", r.id, "err", err)
		}
	}
	cfg.Networks = slices.DeleteFunc(cfg.Networks, func(a containertypes.NetworkAttachment) bool { return s.networkName(ctx, a.Network) == name })
	if s.networkName(ctx, mode) == name {
		// The primary network goes: the next one becomes primary.
		cfg.NetworkMode = cfg.Networks[0].Network
	}
	if err := s.storeConfig(ctx, c, cfg); err != nil {
		return err
	}
	if n != nil {
		s.publishNetwork(n, "disconnect", r.id)
	}
	return nil
}

// attachedNetworks are the names of the networks cfg attaches the
// container to, the primary one first.
func (s *Service) attachedNetworks(ctx context.Context, cfg *containertypes.Config) []string {
	var out []string
	if !((cfg.NetworkMode == "" || cfg.NetworkMode == "default") && len(cfg.Networks) > 0) {
		// (the default mode with networks named is those networks only)
		out = append(out, s.networkName(ctx, s.networkMode(cfg)))
	}
	for _, a := range cfg.Networks {
		if name := s.networkName(ctx, a.Network); !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// networkName resolves a network reference (or the "bridge"/"default"
// modes) to the network's name; an unknown reference is returned as is.
func (s *Service) networkName(ctx context.Context, ref string) string {
	if ref == "" || ref == "default" {
		ref = networktypes.DefaultNetwork
	}
	if n, err := s.opts.Networks.Inspect(ctx, ref); err == nil {
		return n.Name
	}
	return ref
}

func (s *Service) storedConfig(ctx context.Context, id string) (containers.Container, *containertypes.Config, error) {
	c, err := s.containerStore().Get(ctx, id)
	if err != nil {
		return c, nil, err
	}
	cfg, err := configOf(c)
	return c, cfg, err
}

func (s *Service) storeConfig(ctx context.Context, c containers.Container, cfg *containertypes.Config) error {
	ext, err := typeurl.MarshalAny(cfg)
	if err != nil {
		return err
	}
	_, err = s.containerStore().Update(ctx, containers.Container{
		ID:         c.ID,
		Extensions: map[string]typeurl.Any{extConfig: ext},
	}, "extensions."+extConfig)
	return err
}

// rewriteNetworkFiles renders /etc/hosts and resolv.conf again from the
// container's current sandbox (they are bind-mounted files: a running
// container sees the new content).
func (s *Service) rewriteNetworkFiles(ctx context.Context, id string) error {
	sb, err := s.opts.Networks.Sandbox(ctx, id)
	if err != nil {
		return err
	}
	return s.writeNetworkFiles(id, sb)
}

func parseIP(v string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(v)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, fmt.Errorf("invalid IPv4 address %q: %w", v, errdefs.ErrInvalidArgument)
	}
	return ip, nil
}

func parseIP6(v string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(v)
	if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid IPv6 address %q: %w", v, errdefs.ErrInvalidArgument)
	}
	return ip, nil
}

// checkIPv6 refuses an --ip6 the network cannot give: a network without
// IPv6, an address outside its IPv6 subnet or its gateway.
func checkIPv6(n *networktypes.Network, v string) error {
	if v == "" {
		return nil
	}
	ip, err := parseIP6(v)
	if err != nil {
		return err
	}
	switch {
	case !n.EnableIPv6:
		return fmt.Errorf("--ip6 %s: network %s has no IPv6 (create it with --ipv6): %w", ip, n.Name, errdefs.ErrInvalidArgument)
	case !n.Subnet6.Contains(ip) || ip == n.Gateway6 || ip == n.Subnet6.Addr():
		return fmt.Errorf("--ip6 %s is not a free host address of network %s (%s): %w", ip, n.Name, n.Subnet6, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (s *Service) publishNetwork(n *networktypes.Network, action, containerID string) {
	s.events.Publish(events.Message{
		Type:   events.TypeNetwork,
		Action: action,
		Actor: events.Actor{ID: n.ID, Attributes: map[string]string{
			"name": n.Name, "type": n.Driver, "container": containerID,
		}},
	})
}
