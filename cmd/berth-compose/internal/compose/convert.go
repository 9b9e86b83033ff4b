package compose

import (
	"fmt"
	"math"
	"net/netip"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
)

// resolver names the engine objects a service refers to: the containers
// of other services (network_mode: service:x, volumes_from).
type resolver func(service string) (string, error)

// containerConfig translates service s of project p into the container
// berthd creates: its n-th replica (or a one-off when oneoff is not "").
// Everything here is translation; what a field means is berthd's.
func containerConfig(p *types.Project, s types.ServiceConfig, name string, number int, oneoff bool, hash string, other resolver) (container.Config, error) {
	bad := func(field, format string, args ...any) (container.Config, error) {
		return container.Config{}, fmt.Errorf("service %q: %s: %s", s.Name, field, fmt.Sprintf(format, args...))
	}
	cfg := container.Config{
		Name:           name,
		Image:          serviceImage(p, s),
		Cmd:            []string(s.Command),
		WorkingDir:     s.WorkingDir,
		User:           s.User,
		Hostname:       s.Hostname,
		Domainname:     s.DomainName,
		Tty:            s.Tty,
		OpenStdin:      s.StdinOpen,
		StopSignal:     s.StopSignal,
		Runtime:        s.Runtime,
		DNS:            s.DNS,
		DNSSearch:      s.DNSSearch,
		DNSOptions:     s.DNSOpts,
		StorageOpt:     s.StorageOpt,
		Annotations:    s.Annotations,
		PidMode:        s.Pid,
		IpcMode:        s.Ipc,
		UTSMode:        s.Uts,
		ReadonlyRootfs: s.ReadOnly,
		Security: container.Security{
			Privileged: s.Privileged, CapAdd: s.CapAdd, CapDrop: s.CapDrop,
			SecurityOpt: s.SecurityOpt, GroupAdd: s.GroupAdd,
		},
	}
	if s.Entrypoint != nil {
		cfg.Entrypoint, cfg.EntrypointSet = []string(s.Entrypoint), true
	}
	if s.Init != nil {
		cfg.Init = *s.Init
	}
	if s.Platform != "" && s.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		return bad("platform", "%s differs from this host's %s/%s", s.Platform, runtime.GOOS, runtime.GOARCH)
	}
	if s.Deploy != nil && s.Deploy.Mode != "" && s.Deploy.Mode != "replicated" {
		return bad("deploy.mode", "%q is not supported (only replicated)", s.Deploy.Mode)
	}
	for _, l := range s.Links {
		svc, alias, ok := strings.Cut(l, ":")
		if ok && alias != svc {
			return bad("links", "%q: link aliases are not supported; use networks.<name>.aliases on %q", l, svc)
		}
	}

	// Environment: compose-go has already merged env_file and resolved
	// variables given without a value from the environment; those still
	// unset are left out, as docker compose does.
	for k, v := range s.Environment {
		if v != nil {
			cfg.Env = append(cfg.Env, k+"="+*v)
		}
	}
	sort.Strings(cfg.Env)

	cfg.Labels = map[string]string{}
	for k, v := range s.Labels {
		cfg.Labels[k] = v
	}
	for k, v := range s.CustomLabels {
		cfg.Labels[k] = v
	}
	cfg.Labels[labelNumber] = strconv.Itoa(number)
	cfg.Labels[labelConfigHash] = hash
	if oneoff {
		cfg.Labels[labelOneoff] = "True"
	}
	if d := dependsOnLabel(s); d != "" {
		cfg.Labels[labelDependsOn] = d
	}

	if s.StopGracePeriod != nil {
		secs := int(math.Ceil(time.Duration(*s.StopGracePeriod).Seconds()))
		cfg.StopTimeout = &secs
	}
	rp, err := restartPolicy(s)
	if err != nil {
		return bad("restart", "%v", err)
	}
	cfg.RestartPolicy = rp
	if s.Logging != nil {
		switch s.Logging.Driver {
		case "", container.LogDriverJSONFile, container.LogDriverLocal, container.LogDriverNone:
			cfg.LogConfig.Type = s.Logging.Driver
		default:
			return bad("logging.driver", "%q is not supported (json-file, local or none)", s.Logging.Driver)
		}
		for k, v := range s.Logging.Options {
			switch k {
			case "max-size":
				n, err := units.RAMInBytes(v)
				if err != nil {
					return bad("logging.options.max-size", "%v", err)
				}
				cfg.LogConfig.MaxSize = n
			case "max-file":
				n, err := strconv.Atoi(v)
				if err != nil {
					return bad("logging.options.max-file", "%v", err)
				}
				cfg.LogConfig.MaxFiles = n
			default:
				return bad("logging.options", "%q is not supported (max-size, max-file)", k)
			}
		}
	}
	if err := networking(p, s, &cfg, other); err != nil {
		return container.Config{}, fmt.Errorf("service %q: %w", s.Name, err)
	}
	if err := mounts(p, s, &cfg, other); err != nil {
		return container.Config{}, fmt.Errorf("service %q: %w", s.Name, err)
	}
	if err := resources(s, &cfg); err != nil {
		return container.Config{}, fmt.Errorf("service %q: %w", s.Name, err)
	}
	if s.HealthCheck != nil {
		cfg.Healthcheck = healthcheck(s.HealthCheck)
	}
	return cfg, nil
}

// serviceImage is the image a service runs: its image, else docker
// compose's name for the image its build makes.
func serviceImage(p *types.Project, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return p.Name + "-" + s.Name
}

func restartPolicy(s types.ServiceConfig) (container.RestartPolicy, error) {
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil && s.Restart == "" {
		rp := s.Deploy.RestartPolicy
		out := container.RestartPolicy{}
		switch rp.Condition {
		case "none":
			out.Name = "no"
		case "on-failure":
			out.Name = "on-failure"
		case "any", "":
			out.Name = "always"
		default:
			return out, fmt.Errorf("deploy.restart_policy.condition %q: want none, on-failure or any", rp.Condition)
		}
		if rp.MaxAttempts != nil {
			out.MaximumRetryCount = int(*rp.MaxAttempts)
		}
		return out, nil
	}
	name, count, _ := strings.Cut(s.Restart, ":")
	out := container.RestartPolicy{Name: name}
	switch name {
	case "", "no", "always", "unless-stopped":
	case "on-failure":
		if count != "" {
			n, err := strconv.Atoi(count)
			if err != nil {
				return out, fmt.Errorf("%q: the retry count must be a number", s.Restart)
			}
			out.MaximumRetryCount = n
		}
	default:
		return out, fmt.Errorf("%q: want no, always, on-failure[:N] or unless-stopped", s.Restart)
	}
	return out, nil
}

// networking sets the network mode, the networks with the service's name
// and aliases in DNS, ports, exposed ports and extra hosts.
func networking(p *types.Project, s types.ServiceConfig, cfg *container.Config, other resolver) error {
	switch mode := s.NetworkMode; {
	case mode == "host" || mode == "none":
		cfg.NetworkMode = mode
	case strings.HasPrefix(mode, "service:"):
		id, err := other(strings.TrimPrefix(mode, "service:"))
		if err != nil {
			return fmt.Errorf("network_mode %q: %w", mode, err)
		}
		cfg.NetworkMode = "container:" + id
	case strings.HasPrefix(mode, "container:"):
		cfg.NetworkMode = mode
	case mode != "" && mode != "bridge":
		return fmt.Errorf("network_mode %q is not supported (host, none, bridge, service:NAME or container:NAME)", mode)
	case mode == "bridge":
		cfg.NetworkMode = network.DefaultNetwork
	default:
		// The service's networks, by priority then name (the first is the
		// primary one, as docker compose picks it).
		names := make([]string, 0, len(s.Networks))
		for n := range s.Networks {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool {
			pi, pj := netPriority(s, names[i]), netPriority(s, names[j])
			if pi != pj {
				return pi > pj
			}
			return names[i] < names[j]
		})
		for i, n := range names {
			nc, ok := p.Networks[n]
			if !ok {
				return fmt.Errorf("networks: service refers to undefined network %s", n)
			}
			att := container.NetworkAttachment{Network: nc.Name, Aliases: []string{s.Name}}
			if sn := s.Networks[n]; sn != nil {
				att.Aliases = append(att.Aliases, sn.Aliases...)
				att.IPv4 = sn.Ipv4Address
				att.MAC = sn.MacAddress
			}
			if i == 0 && att.MAC == "" {
				att.MAC = s.MacAddress
			}
			if i == 0 {
				cfg.NetworkMode = nc.Name
			}
			cfg.Networks = append(cfg.Networks, att)
		}
	}
	for _, pc := range s.Ports {
		if pc.Mode != "" && pc.Mode != "ingress" && pc.Mode != "host" {
			return fmt.Errorf("ports: mode %q is not supported (host or ingress)", pc.Mode)
		}
		spec := strconv.Itoa(int(pc.Target))
		if pc.Published != "" {
			spec = pc.Published + ":" + spec
		} else if pc.HostIP != "" {
			spec = ":" + spec
		}
		if pc.HostIP != "" {
			spec = pc.HostIP + ":" + spec
		}
		if pc.Protocol != "" {
			spec += "/" + pc.Protocol
		}
		pms, err := network.ParsePortSpec(spec)
		if err != nil {
			return fmt.Errorf("ports: %w", err)
		}
		for _, pm := range pms {
			pb := container.PortBinding{HostPort: pm.HostPort, ContainerPort: pm.ContainerPort, Proto: pm.Proto}
			if pm.HostIP.IsValid() && pm.HostIP != netip.IPv4Unspecified() {
				pb.HostIP = pm.HostIP.String()
			}
			cfg.PortBindings = append(cfg.PortBindings, pb)
		}
	}
	for _, e := range s.Expose {
		if !strings.Contains(e, "/") {
			e += "/tcp"
		}
		cfg.ExposedPorts = append(cfg.ExposedPorts, e)
	}
	hosts := make([]string, 0, len(s.ExtraHosts))
	for h, ips := range s.ExtraHosts {
		for _, ip := range ips {
			hosts = append(hosts, h+":"+ip)
		}
	}
	sort.Strings(hosts)
	cfg.ExtraHosts = hosts
	return nil
}

func netPriority(s types.ServiceConfig, n string) int {
	if sn := s.Networks[n]; sn != nil {
		return sn.Priority
	}
	return 0
}

// mounts translates volumes (named, anonymous, bind, tmpfs; short and long
// syntax), tmpfs, volumes_from, and file-based secrets and configs (bound
// read-only at /run/secrets/NAME and /NAME, as docker compose does).
func mounts(p *types.Project, s types.ServiceConfig, cfg *container.Config, other resolver) error {
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			m := container.MountSpec{Type: "volume", Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Source != "" {
				vc, ok := p.Volumes[v.Source]
				if !ok {
					return fmt.Errorf("volumes: service refers to undefined volume %s", v.Source)
				}
				m.Source = vc.Name
			}
			if v.Volume != nil {
				m.VolumeNoCopy = v.Volume.NoCopy
			}
			cfg.Mounts = append(cfg.Mounts, m)
		case types.VolumeTypeBind:
			propagation := ""
			create := true
			if v.Bind != nil {
				propagation = v.Bind.Propagation
				// bind.selinux (z/Z) is accepted and ignored, as berthd
				// does for -v (no SELinux here).
				create = bool(v.Bind.CreateHostPath)
			}
			if create {
				// -v form: berthd creates a missing host path, as Docker.
				b := v.Source + ":" + v.Target
				var opts []string
				if v.ReadOnly {
					opts = append(opts, "ro")
				}
				if propagation != "" {
					opts = append(opts, propagation)
				}
				if len(opts) > 0 {
					b += ":" + strings.Join(opts, ",")
				}
				cfg.Binds = append(cfg.Binds, b)
			} else {
				cfg.Mounts = append(cfg.Mounts, container.MountSpec{Type: "bind", Source: v.Source, Target: v.Target,
					ReadOnly: v.ReadOnly, BindPropagation: propagation})
			}
		case types.VolumeTypeTmpfs:
			m := container.MountSpec{Type: "tmpfs", Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Tmpfs != nil {
				m.TmpfsSize = int64(v.Tmpfs.Size)
				m.TmpfsMode = v.Tmpfs.Mode
			}
			cfg.Mounts = append(cfg.Mounts, m)
		default:
			return fmt.Errorf("volumes: type %q is not supported (volume, bind or tmpfs)", v.Type)
		}
	}
	if len(s.Tmpfs) > 0 {
		cfg.Tmpfs = map[string]string{}
		for _, t := range s.Tmpfs {
			dst, opts, _ := strings.Cut(t, ":")
			cfg.Tmpfs[dst] = opts
		}
	}
	for _, vf := range s.VolumesFrom {
		ref, mode, _ := strings.Cut(vf, ":")
		if c, ok := strings.CutPrefix(vf, "container:"); ok {
			cfg.VolumesFrom = append(cfg.VolumesFrom, c)
			continue
		}
		ref = strings.TrimPrefix(ref, "service:")
		if _, ok := p.Services[ref]; !ok {
			return fmt.Errorf("volumes_from: no service %q (for a container, write container:%s)", ref, ref)
		}
		id, err := other(ref)
		if err != nil {
			return fmt.Errorf("volumes_from %q: %w", vf, err)
		}
		if mode != "" {
			id += ":" + mode
		}
		cfg.VolumesFrom = append(cfg.VolumesFrom, id)
	}
	for _, sec := range s.Secrets {
		def, ok := p.Secrets[sec.Source]
		if !ok {
			return fmt.Errorf("secrets: service refers to undefined secret %s", sec.Source)
		}
		if def.File == "" {
			return fmt.Errorf("secrets: secret %q: only file-based secrets are supported", sec.Source)
		}
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		cfg.Mounts = append(cfg.Mounts, container.MountSpec{Type: "bind", Source: def.File, Target: target, ReadOnly: true})
	}
	for _, c := range s.Configs {
		def, ok := p.Configs[c.Source]
		if !ok {
			return fmt.Errorf("configs: service refers to undefined config %s", c.Source)
		}
		if def.File == "" {
			return fmt.Errorf("configs: config %q: only file-based configs are supported", c.Source)
		}
		target := c.Target
		if target == "" {
			target = "/" + c.Source
		}
		cfg.Mounts = append(cfg.Mounts, container.MountSpec{Type: "bind", Source: def.File, Target: target, ReadOnly: true})
	}
	return nil
}

// resources: the service's limits, deploy.resources taking precedence as
// in docker compose.
func resources(s types.ServiceConfig, cfg *container.Config) error {
	r := &cfg.Resources
	r.Memory = int64(s.MemLimit)
	r.MemoryReservation = int64(s.MemReservation)
	r.MemorySwap = int64(s.MemSwapLimit)
	if s.MemSwappiness != 0 {
		v := int64(s.MemSwappiness)
		r.MemorySwappiness = &v
	}
	r.NanoCPUs = int64(float64(s.CPUS) * 1e9)
	r.CPUShares = s.CPUShares
	r.CPUPeriod = s.CPUPeriod
	r.CPUQuota = s.CPUQuota
	r.CpusetCpus = s.CPUSet
	r.PidsLimit = s.PidsLimit
	r.ShmSize = int64(s.ShmSize)
	r.OomScoreAdj = int(s.OomScoreAdj)
	r.OomKillDisable = s.OomKillDisable
	r.CgroupParent = s.CgroupParent
	r.CgroupnsMode = s.Cgroup
	if s.BlkioConfig != nil {
		r.BlkioWeight = s.BlkioConfig.Weight
	}
	if len(s.Sysctls) > 0 {
		r.Sysctls = map[string]string(s.Sysctls)
	}
	for name, u := range s.Ulimits {
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		r.Ulimits = append(r.Ulimits, container.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	sort.Slice(r.Ulimits, func(i, j int) bool { return r.Ulimits[i].Name < r.Ulimits[j].Name })
	for _, d := range s.Devices {
		perm := d.Permissions
		if perm == "" {
			perm = "rwm"
		}
		target := d.Target
		if target == "" {
			target = d.Source
		}
		r.Devices = append(r.Devices, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: target, CgroupPermissions: perm})
	}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			if l.NanoCPUs != 0 {
				r.NanoCPUs = int64(float64(l.NanoCPUs.Value()) * 1e9)
			}
			if l.MemoryBytes != 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.Pids != 0 {
				r.PidsLimit = l.Pids
			}
		}
		if res := s.Deploy.Resources.Reservations; res != nil && res.MemoryBytes != 0 {
			r.MemoryReservation = int64(res.MemoryBytes)
		}
	}
	return nil
}

// healthcheck is the service's healthcheck in Docker's form (disable:
// NONE, which also turns off the image's).
func healthcheck(h *types.HealthCheckConfig) *container.HealthConfig {
	out := &container.HealthConfig{Test: []string(h.Test)}
	if h.Disable {
		out.Test = []string{"NONE"}
	}
	d := func(v *types.Duration) time.Duration {
		if v == nil {
			return 0
		}
		return time.Duration(*v)
	}
	out.Interval, out.Timeout = d(h.Interval), d(h.Timeout)
	out.StartPeriod, out.StartInterval = d(h.StartPeriod), d(h.StartInterval)
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out
}

// replicas is the number of containers up runs for s.
func replicas(s types.ServiceConfig) int {
	if s.Scale != nil {
		return *s.Scale
	}
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		return *s.Deploy.Replicas
	}
	return 1
}
