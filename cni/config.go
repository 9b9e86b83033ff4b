package cni

import (
	"fmt"
	"net/netip"
	"path/filepath"
)

// Config configures a Manager. Zero values take the defaults documented on
// each field.
type Config struct {
	// Root is berth's persistent root (default /var/lib/berth). Networks are
	// conflists under <Root>/networks; CNI cache, IPAM and sandbox state
	// live under <Root>/cni.
	Root string
	// State is berth's runtime state dir (default /run/berth). Network
	// namespaces are pinned under <State>/netns/<container id>.
	State string
	// PluginDirs are searched for CNI plugins (default /usr/local/lib/berth/cni).
	PluginDirs []string

	// DefaultBridge is the interface name of the default "bridge" network
	// (default berth0). NoDefaultBridge ("none", dockerd's -b none): no
	// default network is created.
	DefaultBridge string
	// DefaultSubnet is the default network's subnet (default 172.17.0.0/16,
	// or the first free subnet of AddressPools when they are given;
	// another pool subnet is used if it overlaps a host route).
	DefaultSubnet netip.Prefix
	// AddressPools are carved up for new bridge networks created without a
	// subnet (default: Docker's pools, 172.17-31.0.0/16 then
	// 192.168.0.0/16 in /20s).
	AddressPools []AddressPool

	// HostGatewayIP, when valid, is what "host-gateway" in a container's
	// extra hosts stands for (dockerd's host-gateway-ip); otherwise the
	// gateway of the container's primary network.
	HostGatewayIP netip.Addr

	// FirewallPrefix names berth's nftables table: ip <prefix in lower
	// case> (default BERTH; at most 14 characters). Two berth instances on
	// one host need distinct prefixes.
	FirewallPrefix string

	// DNSUpstreams are "ip:port" resolvers the embedded DNS forwards to
	// (default: the nameservers in HostResolvConf).
	DNSUpstreams []string
	// DNSPort is the port of the embedded DNS listeners (default 53; only
	// tests change it, since resolv.conf cannot name a port).
	DNSPort int
	// HostResolvConf is the host's resolv.conf (default /etc/resolv.conf).
	HostResolvConf string
	// HostHosts is the host's hosts file, copied for host-mode containers
	// (default /etc/hosts).
	HostHosts string

	// Drivers adds network drivers to bridge and macvlan (or replaces them,
	// by Name): the hook for an overlay driver.
	Drivers []Driver
}

// AddressPool is a range split into subnets of Size bits for new networks.
type AddressPool struct {
	Base netip.Prefix
	Size int
}

// DefaultAddressPools are Docker's default pools.
func DefaultAddressPools() []AddressPool {
	return []AddressPool{
		{Base: netip.MustParsePrefix("172.17.0.0/16"), Size: 16},
		{Base: netip.MustParsePrefix("172.18.0.0/15"), Size: 16},
		{Base: netip.MustParsePrefix("172.20.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("172.24.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("172.28.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20},
	}
}

func (c *Config) setDefaults() error {
	if c.Root == "" {
		c.Root = "/var/lib/berth"
	}
	if c.State == "" {
		c.State = "/run/berth"
	}
	if len(c.PluginDirs) == 0 {
		c.PluginDirs = []string{"/usr/local/lib/berth/cni"}
	}
	if c.DefaultBridge == "" {
		c.DefaultBridge = "berth0"
	}
	if len(c.DefaultBridge) > 15 {
		return fmt.Errorf("default bridge name %q longer than 15 characters", c.DefaultBridge)
	}
	if !c.DefaultSubnet.IsValid() && len(c.AddressPools) == 0 {
		// With pools of the user's, the first free subnet of the pools
		// (createDefault), as dockerd's docker0.
		c.DefaultSubnet = netip.MustParsePrefix("172.17.0.0/16")
	}
	if len(c.AddressPools) == 0 {
		c.AddressPools = DefaultAddressPools()
	}
	if c.FirewallPrefix == "" {
		c.FirewallPrefix = "BERTH"
	}
	if len(c.FirewallPrefix) > 14 {
		return fmt.Errorf("firewall prefix %q longer than 14 characters", c.FirewallPrefix)
	}
	if c.DNSPort == 0 {
		c.DNSPort = 53
	}
	if c.HostResolvConf == "" {
		c.HostResolvConf = "/etc/resolv.conf"
	}
	if c.HostHosts == "" {
		c.HostHosts = "/etc/hosts"
	}
	return nil
}

func (c *Config) networksDir() string  { return filepath.Join(c.Root, "networks") }
func (c *Config) cacheDir() string     { return filepath.Join(c.Root, "cni", "cache") }
func (c *Config) ipamDir() string      { return filepath.Join(c.Root, "cni", "ipam") }
func (c *Config) sandboxesDir() string { return filepath.Join(c.Root, "cni", "sandboxes") }
func (c *Config) netnsDir() string     { return filepath.Join(c.State, "netns") }

// NoDefaultBridge as Config.DefaultBridge turns the default network off,
// as dockerd's --bridge none: a container in the default network mode then
// has a network namespace with only lo.
const NoDefaultBridge = "none"
