package dockerapi

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	dnetwork "github.com/moby/moby/api/types/network"

	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/volume"
)

// createConfig turns a Docker create request into berth's container
// configuration. Settings berth does not have are refused with a message
// that names them, rather than silently dropped.
func createConfig(name string, req *dcontainer.CreateRequest) (container.Config, error) {
	if req.Config == nil {
		return container.Config{}, invalid("config cannot be empty in order to create a container")
	}
	c := req.Config
	if c.Image == "" {
		return container.Config{}, invalid("no image was specified: set Config.Image")
	}
	hc := req.HostConfig
	if hc == nil {
		hc = &dcontainer.HostConfig{}
	}
	cfg := container.Config{
		Name:        strings.TrimPrefix(name, "/"),
		Image:       c.Image,
		Cmd:         c.Cmd,
		Env:         c.Env,
		WorkingDir:  c.WorkingDir,
		User:        c.User,
		Hostname:    c.Hostname,
		Labels:      c.Labels,
		Tty:         c.Tty,
		OpenStdin:   c.OpenStdin,
		StopSignal:  c.StopSignal,
		StopTimeout: c.StopTimeout,
	}
	if c.Entrypoint != nil {
		cfg.EntrypointSet = true
		cfg.Entrypoint = c.Entrypoint
		if len(c.Entrypoint) == 1 && c.Entrypoint[0] == "" {
			cfg.Entrypoint = []string{}
		}
	}
	cfg.Domainname = c.Domainname
	cfg.Healthcheck = docker.HealthConfigFrom(c.Healthcheck)
	for p := range c.ExposedPorts {
		cfg.ExposedPorts = append(cfg.ExposedPorts, p.String())
	}
	sort.Strings(cfg.ExposedPorts)
	vols := make([]string, 0, len(c.Volumes))
	for v := range c.Volumes {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	if err := hostConfig(&cfg, hc, vols); err != nil {
		return cfg, err
	}
	if req.NetworkingConfig != nil {
		names := make([]string, 0, len(req.NetworkingConfig.EndpointsConfig))
		for n := range req.NetworkingConfig.EndpointsConfig {
			names = append(names, n)
		}
		sort.Strings(names)
		// The NetworkMode network first: it is the primary one.
		sort.SliceStable(names, func(i, j int) bool { return names[i] == cfg.NetworkMode && names[j] != cfg.NetworkMode })
		for _, n := range names {
			ep := req.NetworkingConfig.EndpointsConfig[n]
			att, err := attachment(n, ep)
			if err != nil {
				return cfg, err
			}
			if ep != nil && len(ep.Links) > 0 {
				// The docker CLI puts --link on a user-defined network
				// here as well as in HostConfig.Links.
				if n != cfg.NetworkMode {
					return cfg, unsupported("links on a network other than the container's first (EndpointSettings.Links)")
				}
				for _, l := range ep.Links {
					if !slices.Contains(cfg.Links, l) {
						cfg.Links = append(cfg.Links, l)
					}
				}
			}
			if len(names) == 1 && (n == "bridge" || n == "default") && att.IPv4 == "" && att.IPv6 == "" && len(att.Aliases) == 0 && att.MAC == "" && att.GwPriority == 0 && att.IfName == "" {
				continue // the default network alone needs no entry
			}
			cfg.Networks = append(cfg.Networks, att)
		}
	}
	return cfg, nil
}

// attachment is berth's network attachment of a Docker endpoint config.
func attachment(network string, ep *dnetwork.EndpointSettings) (container.NetworkAttachment, error) {
	att := container.NetworkAttachment{Network: network}
	if ep == nil {
		return att, nil
	}
	att.Aliases = ep.Aliases
	att.GwPriority = ep.GwPriority
	att.IfName = ep.DriverOpts[docker.IfnameOpt]
	if len(ep.MacAddress) > 0 {
		att.MAC = ep.MacAddress.String()
	}
	if ep.IPAMConfig != nil {
		if ep.IPAMConfig.IPv4Address.IsValid() {
			att.IPv4 = ep.IPAMConfig.IPv4Address.String()
		}
		if ep.IPAMConfig.IPv6Address.IsValid() {
			att.IPv6 = ep.IPAMConfig.IPv6Address.String()
		}
	}
	return att, nil
}

func hostConfig(cfg *container.Config, hc *dcontainer.HostConfig, anonVolumes []string) error {
	cfg.Binds = append(append([]string{}, hc.Binds...), anonVolumes...)
	if len(cfg.Binds) == 0 {
		cfg.Binds = nil
	}
	cfg.VolumesFrom = hc.VolumesFrom
	cfg.Links = hc.Links
	cfg.ReadonlyRootfs = hc.ReadonlyRootfs
	cfg.Tmpfs = hc.Tmpfs
	cfg.AutoRemove = hc.AutoRemove
	cfg.PublishAllPorts = hc.PublishAllPorts
	cfg.DNSSearch = hc.DNSSearch
	cfg.DNSOptions = hc.DNSOptions
	cfg.ExtraHosts = hc.ExtraHosts
	cfg.StorageOpt = hc.StorageOpt
	cfg.ConsoleSize = container.WindowSize{Height: uint16(hc.ConsoleSize[0]), Width: uint16(hc.ConsoleSize[1])}
	for _, d := range hc.DNS {
		cfg.DNS = append(cfg.DNS, d.String())
	}
	cfg.NetworkMode = string(hc.NetworkMode)
	if cfg.NetworkMode == "default" {
		cfg.NetworkMode = ""
	}
	switch hc.Runtime {
	case "", "runc":
	default:
		cfg.Runtime = hc.Runtime
	}
	cfg.RestartPolicy = container.RestartPolicy{Name: string(hc.RestartPolicy.Name), MaximumRetryCount: hc.RestartPolicy.MaximumRetryCount}
	if cfg.RestartPolicy.Name == "no" {
		cfg.RestartPolicy.Name = ""
	}
	if err := logConfig(cfg, hc.LogConfig); err != nil {
		return err
	}
	if err := portBindings(cfg, hc.PortBindings); err != nil {
		return err
	}
	for _, m := range hc.Mounts {
		ms, err := mountSpec(m)
		if err != nil {
			return err
		}
		cfg.Mounts = append(cfg.Mounts, ms)
	}
	cfg.Security = container.Security{
		Privileged: hc.Privileged, CapAdd: hc.CapAdd, CapDrop: hc.CapDrop, SecurityOpt: hc.SecurityOpt, GroupAdd: hc.GroupAdd,
		MaskedPaths: hc.MaskedPaths, ReadonlyPaths: hc.ReadonlyPaths,
	}
	cfg.PidMode = string(hc.PidMode)
	cfg.IpcMode = string(hc.IpcMode)
	cfg.UTSMode = string(hc.UTSMode)
	cfg.Init = hc.Init != nil && *hc.Init
	for k := range hc.Annotations {
		if k == "" {
			return invalid("invalid Annotations: the empty string is not permitted as an annotation key")
		}
	}
	cfg.Annotations = hc.Annotations // into the OCI spec, as --annotation
	if err := resources(cfg, hc); err != nil {
		return err
	}
	return refuseUnsupported(hc)
}

func logConfig(cfg *container.Config, lc dcontainer.LogConfig) error {
	switch lc.Type {
	case "", "json-file", "local", "none":
		cfg.LogConfig.Type = lc.Type
	default:
		return invalid("log driver %q is not supported by berth: use json-file, local or none", lc.Type)
	}
	for k, v := range lc.Config {
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return invalid("invalid log option max-size=%q: %v", v, err)
			}
			cfg.LogConfig.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return invalid("invalid log option max-file=%q: a positive integer is expected", v)
			}
			cfg.LogConfig.MaxFiles = n
		case "compress", "mode", "max-buffer-size":
		default:
			return invalid("unknown log option %q for the json-file log driver", k)
		}
	}
	return nil
}

func portBindings(cfg *container.Config, pm dnetwork.PortMap) error {
	keys := make([]dnetwork.Port, 0, len(pm))
	for p := range pm {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, p := range keys {
		proto := string(p.Proto())
		if proto != "tcp" && proto != "udp" {
			return invalid("port %s: only tcp and udp ports can be published", p)
		}
		for _, b := range pm[p] {
			pb := container.PortBinding{ContainerPort: p.Num(), Proto: proto}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				if !b.HostIP.Is4() {
					return unsupported("IPv6 host addresses in port bindings")
				}
				pb.HostIP = b.HostIP.String()
			}
			if b.HostPort != "" {
				lo, hi, isRange := strings.Cut(b.HostPort, "-")
				n, err := strconv.ParseUint(lo, 10, 16)
				if err != nil {
					return invalid("invalid host port %q for %s", b.HostPort, p)
				}
				if isRange && hi != lo {
					return unsupported("host port ranges for one container port (" + b.HostPort + ")")
				}
				pb.HostPort = uint16(n)
			}
			cfg.PortBindings = append(cfg.PortBindings, pb)
		}
	}
	return nil
}

func mountSpec(m mount.Mount) (container.MountSpec, error) {
	ms := container.MountSpec{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	switch m.Type {
	case mount.TypeBind:
		if o := m.BindOptions; o != nil {
			ms.BindPropagation = string(o.Propagation)
			ms.BindNonRecursive = o.NonRecursive
			ms.BindReadOnlyNonRecursive, ms.BindReadOnlyForceRecursive = o.ReadOnlyNonRecursive, o.ReadOnlyForceRecursive
			if o.CreateMountpoint {
				return ms, unsupported("bind option CreateMountpoint")
			}
		}
	case mount.TypeVolume:
		if o := m.VolumeOptions; o != nil {
			ms.VolumeNoCopy = o.NoCopy
			if d := o.DriverConfig; d != nil && d.Name != "" && d.Name != volume.DriverLocal {
				return ms, fmt.Errorf("plugin %q not found: berth has the local volume driver only: %w", d.Name, errdefs.ErrNotFound)
			}
			if len(o.Labels) > 0 {
				return ms, unsupported("volume labels in a mount (VolumeOptions.Labels)")
			}
			ms.Subpath = o.Subpath
		}
	case mount.TypeImage:
		if o := m.ImageOptions; o != nil {
			ms.Subpath = o.Subpath
		}
	case mount.TypeTmpfs:
		if o := m.TmpfsOptions; o != nil {
			ms.TmpfsSize = o.SizeBytes
			ms.TmpfsMode = uint32(o.Mode.Perm())
			if len(o.Options) > 0 {
				return ms, unsupported("tmpfs mount options")
			}
		}
	default:
		return ms, invalid("mount type %q is not supported by berth: use bind, volume, tmpfs or image", m.Type)
	}
	if m.Target == "" {
		return ms, invalid("invalid mount config: the mount's Target is empty")
	}
	return ms, nil
}

func resources(cfg *container.Config, hc *dcontainer.HostConfig) error {
	r := hc.Resources
	cfg.Resources = container.Resources{
		Memory:            r.Memory,
		MemorySwap:        r.MemorySwap,
		MemoryReservation: r.MemoryReservation,
		NanoCPUs:          r.NanoCPUs,
		CPUShares:         r.CPUShares,
		CpusetCpus:        r.CpusetCpus,
		CpusetMems:        r.CpusetMems,
		BlkioWeight:       r.BlkioWeight,
		CgroupParent:      r.CgroupParent,
		ShmSize:           hc.ShmSize,
		OomScoreAdj:       hc.OomScoreAdj,
		CgroupnsMode:      string(hc.CgroupnsMode),
		Sysctls:           hc.Sysctls,

		BlkioDeviceReadBps:   docker.ThrottleDevicesFrom(r.BlkioDeviceReadBps),
		BlkioDeviceWriteBps:  docker.ThrottleDevicesFrom(r.BlkioDeviceWriteBps),
		BlkioDeviceReadIOps:  docker.ThrottleDevicesFrom(r.BlkioDeviceReadIOps),
		BlkioDeviceWriteIOps: docker.ThrottleDevicesFrom(r.BlkioDeviceWriteIOps),
	}
	if r.PidsLimit != nil && *r.PidsLimit > 0 {
		// As dockerd: 0 and any negative value set no limit (inspect
		// shows none).
		cfg.Resources.PidsLimit = *r.PidsLimit
	}
	cfg.Resources.CPUPeriod, cfg.Resources.CPUQuota = r.CPUPeriod, r.CPUQuota
	for _, u := range r.Ulimits {
		if u != nil {
			cfg.Resources.Ulimits = append(cfg.Resources.Ulimits, container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
		}
	}
	for _, d := range r.Devices {
		cfg.Resources.Devices = append(cfg.Resources.Devices, container.DeviceMapping{
			PathOnHost: d.PathOnHost, PathInContainer: d.PathInContainer, CgroupPermissions: d.CgroupPermissions,
		})
	}
	return cdiDevices(cfg, r.DeviceRequests)
}

// cdiDevices takes the device requests of the "cdi" driver, which the
// docker CLI sends for --device vendor.com/class=name (one request per
// name); berth has no other device driver (--gpus), and a CDI request
// takes names only, as dockerd's driver.
func cdiDevices(cfg *container.Config, reqs []dcontainer.DeviceRequest) error {
	for _, d := range reqs {
		if d.Driver != "cdi" {
			return unsupported(fmt.Sprintf("device requests of driver %q (--gpus): berth has the \"cdi\" driver only", d.Driver))
		}
		if d.Count != 0 {
			return invalid("unexpected count in CDI device request")
		}
		if len(d.Options) > 0 {
			return invalid("unexpected options in CDI device request")
		}
		cfg.Resources.CDIDevices = append(cfg.Resources.CDIDevices, d.DeviceIDs...)
	}
	return nil
}

// refuseUnsupported names the first HostConfig setting berth cannot honour.
func refuseUnsupported(hc *dcontainer.HostConfig) error {
	r := hc.Resources
	checks := []struct {
		set  bool
		what string
	}{
		{hc.UsernsMode != "" && hc.UsernsMode != "host", "user namespace modes other than host (HostConfig.UsernsMode): berth remaps no users"},
		{hc.Cgroup != "", "HostConfig.Cgroup"},
		{hc.VolumeDriver != "" && hc.VolumeDriver != "local", "volume drivers other than local"},
		{len(r.DeviceCgroupRules) > 0, "device cgroup rules"},
		{len(r.BlkioWeightDevice) > 0, "per-device block I/O weights (--blkio-weight-device)"},
		{r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0, "CPU real-time scheduling"},
		{r.OomKillDisable != nil && *r.OomKillDisable, "disabling the OOM killer"},
		{r.MemorySwappiness != nil && *r.MemorySwappiness >= 0, "memory swappiness"},
		{hc.Umask != nil, "HostConfig.Umask"},
	}
	for _, c := range checks {
		if c.set {
			return unsupported(c.what)
		}
	}
	return nil
}

func unsupported(what string) error {
	return invalid("%s: not supported by berth", what)
}

// validName checks a container name as dockerd does.
func validName(name string) error {
	n := strings.TrimPrefix(name, "/")
	if n == "" {
		return nil
	}
	for i, c := range n {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '.' || c == '-'))
		if !ok {
			return invalid("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
		}
	}
	return nil
}
