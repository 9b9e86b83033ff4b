package docker

import (
	"maps"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/blkiodev"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	dnetwork "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/image"
)

// LogDriver is the log driver berth's containers report: the shim writes
// Docker's json-file format.
const LogDriver = "json-file"

// Time formats t as dockerd does in inspect output (RFC 3339 with
// nanoseconds, UTC; the zero time as "0001-01-01T00:00:00Z").
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ContainerInspect is the Docker inspect view of c. img, when not nil, is
// the configuration of c's image: Docker reports the container's effective
// Cmd, Entrypoint, exposed ports, volumes and labels, which berth computes
// from the image at create and does not store again.
func ContainerInspect(c *container.Container, img *image.Config) dcontainer.InspectResponse {
	cfg := &c.Config
	out := dcontainer.InspectResponse{
		ID:              c.ID,
		Created:         Time(c.Created),
		Path:            c.Path,
		Args:            nonNil(c.Args),
		State:           state(c.State),
		Image:           c.Image,
		ResolvConfPath:  c.ResolvConfPath,
		HostnamePath:    c.HostnamePath,
		HostsPath:       c.HostsPath,
		LogPath:         c.LogPath,
		Name:            c.Name,
		RestartCount:    c.RestartCount,
		Driver:          c.Snapshotter,
		Platform:        "linux",
		HostConfig:      HostConfig(cfg),
		Mounts:          mountPoints(c.Mounts),
		Config:          containerConfig(c, img),
		NetworkSettings: networkSettings(c),
	}
	if c.Snapshotter != "" {
		out.Storage = &storage.Storage{RootFS: &storage.RootFSStorage{Snapshot: &storage.RootFSStorageSnapshot{Name: c.Snapshotter}}}
	}
	return out
}

func state(s container.State) *dcontainer.State {
	return &dcontainer.State{
		Status:     dcontainer.ContainerState(s.Status),
		Running:    s.Running,
		Paused:     s.Paused,
		Restarting: s.Restarting,
		OOMKilled:  s.OOMKilled,
		Dead:       s.Dead,
		Pid:        s.Pid,
		ExitCode:   s.ExitCode,
		Error:      s.Error,
		StartedAt:  Time(s.StartedAt),
		FinishedAt: Time(s.FinishedAt),
		Health:     health(s.Health),
	}
}

// containerConfig is Docker's Config of c: what the user asked for, with
// the image's values where the user gave none.
func containerConfig(c *container.Container, img *image.Config) *dcontainer.Config {
	cfg := &c.Config
	hostname := cfg.Hostname
	if hostname == "" && len(c.ID) >= 12 {
		hostname = c.ID[:12]
	}
	out := &dcontainer.Config{
		Hostname:     hostname,
		Domainname:   cfg.Domainname,
		User:         cfg.User,
		AttachStdin:  cfg.OpenStdin,
		AttachStdout: true,
		AttachStderr: true,
		Tty:          cfg.Tty,
		OpenStdin:    cfg.OpenStdin,
		Env:          nonNil(c.Env),
		Cmd:          cfg.Cmd,
		Image:        cfg.Image,
		WorkingDir:   c.WorkingDir,
		Entrypoint:   cfg.Entrypoint,
		Labels:       map[string]string{},
		StopSignal:   cfg.StopSignal,
		StopTimeout:  cfg.StopTimeout,
		Healthcheck:  HealthConfig(cfg.Healthcheck),
	}
	if img != nil {
		if out.User == "" {
			out.User = img.User
		}
		if !cfg.EntrypointSet {
			out.Entrypoint = img.Entrypoint
			if len(cfg.Cmd) == 0 {
				out.Cmd = img.Cmd
			}
		}
		if out.StopSignal == "" {
			out.StopSignal = img.StopSignal
		}
		if len(img.Volumes) > 0 {
			out.Volumes = maps.Clone(img.Volumes)
		}
		maps.Copy(out.Labels, img.Labels)
		for p := range img.ExposedPorts {
			addExposed(&out.ExposedPorts, p)
		}
	} else if len(out.Cmd) == 0 && len(out.Entrypoint) == 0 && c.Path != "" {
		out.Cmd = append([]string{c.Path}, c.Args...)
	}
	maps.Copy(out.Labels, cfg.Labels)
	for _, p := range cfg.ExposedPorts {
		addExposed(&out.ExposedPorts, p)
	}
	for _, b := range cfg.PortBindings {
		addExposed(&out.ExposedPorts, portKey(b.ContainerPort, b.Proto).String())
	}
	return out
}

func addExposed(set *dnetwork.PortSet, spec string) {
	if !strings.Contains(spec, "/") {
		spec += "/tcp"
	}
	p, err := dnetwork.ParsePort(spec)
	if err != nil {
		return
	}
	if *set == nil {
		*set = dnetwork.PortSet{}
	}
	(*set)[p] = struct{}{}
}

func portKey(port uint16, proto string) dnetwork.Port {
	if proto == "" {
		proto = "tcp"
	}
	p, _ := dnetwork.PortFrom(port, dnetwork.IPProtocol(proto))
	return p
}

// HostConfig is Docker's HostConfig of a berth container configuration,
// with dockerd's defaults where berth's is empty.
func HostConfig(cfg *container.Config) *dcontainer.HostConfig {
	r := cfg.Resources
	hc := &dcontainer.HostConfig{
		Binds:           cfg.Binds,
		LogConfig:       dcontainer.LogConfig{Type: LogDriver, Config: map[string]string{}},
		NetworkMode:     dcontainer.NetworkMode(NetworkMode(cfg)),
		PortBindings:    dnetwork.PortMap{},
		RestartPolicy:   dcontainer.RestartPolicy{Name: dcontainer.RestartPolicyMode(cfg.RestartPolicy.Name), MaximumRetryCount: cfg.RestartPolicy.MaximumRetryCount},
		AutoRemove:      cfg.AutoRemove,
		Annotations:     cfg.Annotations,
		VolumesFrom:     cfg.VolumesFrom,
		Links:           cfg.Links,
		ConsoleSize:     [2]uint{uint(cfg.ConsoleSize.Height), uint(cfg.ConsoleSize.Width)},
		CapAdd:          cfg.Security.CapAdd,
		CapDrop:         cfg.Security.CapDrop,
		CgroupnsMode:    dcontainer.CgroupnsMode(r.CgroupnsMode),
		DNSOptions:      nonNil(cfg.DNSOptions),
		DNSSearch:       nonNil(cfg.DNSSearch),
		ExtraHosts:      cfg.ExtraHosts,
		GroupAdd:        cfg.Security.GroupAdd,
		OomScoreAdj:     r.OomScoreAdj,
		Privileged:      cfg.Security.Privileged,
		PublishAllPorts: cfg.PublishAllPorts,
		ReadonlyRootfs:  cfg.ReadonlyRootfs,
		SecurityOpt:     cfg.Security.SecurityOpt,
		MaskedPaths:     cfg.Security.MaskedPaths,
		ReadonlyPaths:   cfg.Security.ReadonlyPaths,
		StorageOpt:      cfg.StorageOpt,
		Tmpfs:           cfg.Tmpfs,
		ShmSize:         r.ShmSize,
		Sysctls:         r.Sysctls,
		Runtime:         cfg.Runtime,
		Resources: dcontainer.Resources{
			CPUShares:         r.CPUShares,
			Memory:            r.Memory,
			NanoCPUs:          r.NanoCPUs,
			CPUPeriod:         r.CPUPeriod,
			CPUQuota:          r.CPUQuota,
			CgroupParent:      r.CgroupParent,
			BlkioWeight:       r.BlkioWeight,
			CpusetCpus:        r.CpusetCpus,
			CpusetMems:        r.CpusetMems,
			MemoryReservation: r.MemoryReservation,
			MemorySwap:        r.MemorySwap,

			BlkioDeviceReadBps:   ThrottleDevices(r.BlkioDeviceReadBps),
			BlkioDeviceWriteBps:  ThrottleDevices(r.BlkioDeviceWriteBps),
			BlkioDeviceReadIOps:  ThrottleDevices(r.BlkioDeviceReadIOps),
			BlkioDeviceWriteIOps: ThrottleDevices(r.BlkioDeviceWriteIOps),
		},
		PidMode: dcontainer.PidMode(cfg.PidMode),
		IpcMode: dcontainer.IpcMode(cfg.IpcMode),
		UTSMode: dcontainer.UTSMode(cfg.UTSMode),
	}
	if cfg.Init {
		on := true
		hc.Init = &on
	}
	if hc.IpcMode == "" {
		hc.IpcMode = dcontainer.IPCModePrivate // berth's default, as dockerd's
	}
	if hc.RestartPolicy.Name == "" {
		hc.RestartPolicy.Name = dcontainer.RestartPolicyDisabled
	}
	if cfg.LogConfig.Type != "" {
		hc.LogConfig.Type = cfg.LogConfig.Type
	}
	if cfg.LogConfig.MaxSize > 0 {
		hc.LogConfig.Config["max-size"] = strconv.FormatInt(cfg.LogConfig.MaxSize, 10)
	}
	if cfg.LogConfig.MaxFiles > 0 {
		hc.LogConfig.Config["max-file"] = strconv.Itoa(cfg.LogConfig.MaxFiles)
	}
	for _, b := range cfg.PortBindings {
		k := portKey(b.ContainerPort, b.Proto)
		pb := dnetwork.PortBinding{}
		if a, err := netip.ParseAddr(b.HostIP); err == nil {
			pb.HostIP = a
		}
		if b.HostPort != 0 {
			pb.HostPort = strconv.Itoa(int(b.HostPort))
		}
		hc.PortBindings[k] = append(hc.PortBindings[k], pb)
	}
	for _, d := range cfg.DNS {
		if a, err := netip.ParseAddr(d); err == nil {
			hc.DNS = append(hc.DNS, a)
		}
	}
	if hc.DNS == nil {
		hc.DNS = []netip.Addr{}
	}
	if r.PidsLimit != 0 {
		// berth's -1 (a limit lifted by an update) is dockerd's 0.
		pl := max(r.PidsLimit, 0)
		hc.PidsLimit = &pl
	}
	for _, u := range r.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &dcontainer.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, d := range r.Devices {
		hc.Devices = append(hc.Devices, dcontainer.DeviceMapping{PathOnHost: d.PathOnHost, PathInContainer: d.PathInContainer, CgroupPermissions: d.CgroupPermissions})
	}
	// One "cdi" request per device, as the docker CLI sends them.
	for _, name := range r.CDIDevices {
		hc.DeviceRequests = append(hc.DeviceRequests, dcontainer.DeviceRequest{Driver: "cdi", DeviceIDs: []string{name}})
	}
	for _, m := range cfg.Mounts {
		dm := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case "bind":
			if m.BindPropagation != "" {
				dm.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(m.BindPropagation)}
			}
		case "volume":
			if m.VolumeNoCopy || m.Subpath != "" {
				dm.VolumeOptions = &mount.VolumeOptions{NoCopy: m.VolumeNoCopy, Subpath: m.Subpath}
			}
		case "image":
			if m.Subpath != "" {
				dm.ImageOptions = &mount.ImageOptions{Subpath: m.Subpath}
			}
		case "tmpfs":
			if m.TmpfsSize != 0 || m.TmpfsMode != 0 {
				dm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize, Mode: os.FileMode(m.TmpfsMode)}
			}
		}
		hc.Mounts = append(hc.Mounts, dm)
	}
	return hc
}

// NetworkMode is the network mode Docker reports for cfg: "bridge" for the
// default network, the first network's name when only networks were given.
func NetworkMode(cfg *container.Config) string {
	switch {
	case cfg.NetworkMode != "" && cfg.NetworkMode != "default":
		return cfg.NetworkMode
	case len(cfg.Networks) > 0:
		return cfg.Networks[0].Network
	}
	return "bridge"
}

func mountPoints(ms []container.MountPoint) []dcontainer.MountPoint {
	out := make([]dcontainer.MountPoint, 0, len(ms))
	for _, m := range ms {
		out = append(out, dcontainer.MountPoint{
			Type: mount.Type(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination,
			Driver: m.Driver, Mode: m.Mode, RW: m.RW, Propagation: mount.Propagation(m.Propagation),
		})
	}
	return out
}

// networkSettings are Docker's NetworkSettings of c: the live endpoints of a
// running container, the configured networks (without addresses) otherwise.
func networkSettings(c *container.Container) *dcontainer.NetworkSettings {
	ns := c.NetworkSettings
	out := &dcontainer.NetworkSettings{SandboxKey: ns.SandboxKey, Ports: dnetwork.PortMap{}, Networks: map[string]*dnetwork.EndpointSettings{}}
	for name, ep := range ns.Networks {
		out.Networks[name] = endpoint(ep)
	}
	if len(out.Networks) == 0 {
		mode := NetworkMode(&c.Config)
		if mode == "host" || mode == "none" {
			// dockerd lists the mode's network, without aliases: they
			// belong to user-defined networks.
			out.Networks[mode] = &dnetwork.EndpointSettings{}
		}
		if mode != "host" && mode != "none" && !strings.HasPrefix(mode, "container:") {
			if len(c.Config.Networks) == 0 {
				out.Networks[mode] = &dnetwork.EndpointSettings{}
			}
			for _, a := range c.Config.Networks {
				out.Networks[a.Network] = &dnetwork.EndpointSettings{Aliases: a.Aliases, IPAMConfig: endpointIPAM(a.IPv4, a.IPv6), GwPriority: a.GwPriority, DriverOpts: endpointDriverOpts(a.IfName)}
			}
		}
	}
	if c.State.Running {
		for p := range containerConfig(c, nil).ExposedPorts {
			out.Ports[p] = nil
		}
		for _, b := range ns.Ports {
			k := portKey(b.ContainerPort, b.Proto)
			pb := dnetwork.PortBinding{HostPort: strconv.Itoa(int(b.HostPort))}
			pb.HostIP, _ = netip.ParseAddr(b.HostIP)
			if !pb.HostIP.IsValid() {
				pb.HostIP = netip.IPv4Unspecified()
			}
			out.Ports[k] = append(out.Ports[k], pb)
			if b.HostIP == "" && ns.GlobalIPv6Address != "" {
				// Forwarded on [::] too (a dual-stack container), as
				// Docker lists it.
				out.Ports[k] = append(out.Ports[k], dnetwork.PortBinding{HostIP: netip.IPv6Unspecified(), HostPort: pb.HostPort})
			}
		}
	}
	return out
}

func endpoint(ep container.EndpointSettings) *dnetwork.EndpointSettings {
	out := &dnetwork.EndpointSettings{
		NetworkID:   ep.NetworkID,
		IPPrefixLen: ep.IPPrefixLen,
		Aliases:     ep.Aliases,
		GwPriority:  ep.GwPriority,
		DriverOpts:  endpointDriverOpts(ep.IfName),
	}
	out.IPAddress, _ = netip.ParseAddr(ep.IPAddress)
	out.Gateway, _ = netip.ParseAddr(ep.Gateway)
	out.GlobalIPv6Address, _ = netip.ParseAddr(ep.GlobalIPv6Address)
	out.GlobalIPv6PrefixLen = ep.GlobalIPv6PrefixLen
	out.IPv6Gateway, _ = netip.ParseAddr(ep.IPv6Gateway)
	if ep.IPAMConfig != nil {
		out.IPAMConfig = endpointIPAM(ep.IPAMConfig.IPv4Address, ep.IPAMConfig.IPv6Address)
	}
	if mac, err := net.ParseMAC(ep.MacAddress); err == nil {
		out.MacAddress = dnetwork.HardwareAddr(mac)
	}
	return out
}

// endpointIPAM is Docker's IPAMConfig of an endpoint (--ip, --ip6); nil
// without either.
func endpointIPAM(v4, v6 string) *dnetwork.EndpointIPAMConfig {
	a4, _ := netip.ParseAddr(v4)
	a6, _ := netip.ParseAddr(v6)
	if !a4.IsValid() && !a6.IsValid() {
		return nil
	}
	return &dnetwork.EndpointIPAMConfig{IPv4Address: a4, IPv6Address: a6}
}

// ContainerSummary is the `docker ps` entry of s.
func ContainerSummary(s container.Summary) dcontainer.Summary {
	out := dcontainer.Summary{
		ID:              s.ID,
		Names:           nonNil(s.Names),
		Image:           s.Image,
		ImageID:         s.ImageID,
		Command:         s.Command,
		Created:         s.Created.Unix(),
		Ports:           []dcontainer.PortSummary{},
		Labels:          s.Labels,
		State:           dcontainer.ContainerState(s.State),
		Status:          s.Status,
		NetworkSettings: &dcontainer.NetworkSettingsSummary{Networks: map[string]*dnetwork.EndpointSettings{}},
		Mounts:          []dcontainer.MountPoint{},
		Health:          healthSummary(s.Health),
		SizeRw:          s.SizeRw,
		SizeRootFs:      s.SizeRootFs,
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if len(s.Networks) > 0 {
		out.HostConfig.NetworkMode = s.Networks[0]
	}
	out.HostConfig.Annotations = s.Annotations
	for _, n := range s.Networks {
		if n != "host" && n != "none" {
			out.NetworkSettings.Networks[n] = &dnetwork.EndpointSettings{}
		}
	}
	for n, ep := range s.Endpoints {
		out.NetworkSettings.Networks[n] = endpoint(ep)
	}
	if len(s.Mounts) > 0 {
		out.Mounts = mountPoints(s.Mounts)
	}
	for _, p := range s.Ports {
		ps := dcontainer.PortSummary{PrivatePort: p.ContainerPort, PublicPort: p.HostPort, Type: p.Proto}
		if ps.Type == "" {
			ps.Type = "tcp"
		}
		ps.IP, _ = netip.ParseAddr(p.HostIP)
		if !ps.IP.IsValid() {
			ps.IP = netip.IPv4Unspecified()
		}
		out.Ports = append(out.Ports, ps)
	}
	sort.Slice(out.Ports, func(i, j int) bool { return out.Ports[i].PrivatePort < out.Ports[j].PrivatePort })
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ThrottleDevices is Docker's form of berth's per-device block IO throttles.
func ThrottleDevices(ts []container.ThrottleDevice) []*blkiodev.ThrottleDevice {
	out := []*blkiodev.ThrottleDevice{}
	for _, t := range ts {
		out = append(out, &blkiodev.ThrottleDevice{Path: t.Path, Rate: t.Rate})
	}
	return out
}

// ThrottleDevicesFrom is berth's form of Docker's per-device block IO
// throttles (nil entries, which dockerd skips, are skipped).
func ThrottleDevicesFrom(ts []*blkiodev.ThrottleDevice) []container.ThrottleDevice {
	var out []container.ThrottleDevice
	for _, t := range ts {
		if t != nil {
			out = append(out, container.ThrottleDevice{Path: t.Path, Rate: t.Rate})
		}
	}
	return out
}

// IfnameOpt is Docker 28's endpoint driver option that names the
// container's interface on a network.
const IfnameOpt = "com.docker.network.endpoint.ifname"

// endpointDriverOpts are an endpoint's DriverOpts as dockerd shows them:
// the interface name given, nil when none.
func endpointDriverOpts(ifName string) map[string]string {
	if ifName == "" {
		return nil
	}
	return map[string]string{IfnameOpt: ifName}
}
