package opts

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"
	"tags.cncf.io/container-device-interface/pkg/parser"

	"github.com/berthproject/berth/pkg/types/container"
)

// UpdateFlags are the cgroup limit flags shared by `run`, `create` and
// `update`.
func UpdateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (e.g. 512m, 1g)"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit; -1: unlimited swap (default: twice --memory)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "cpus", Usage: "number of CPUs (e.g. 1.5)"},
		&cli.Int64Flag{Name: "cpu-shares", Aliases: []string{"c"}, Usage: "CPU shares (relative weight, default 1024)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs in which to allow execution (0-3, 0,1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes in which to allow execution (0-3, 0,1)"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "process limit (-1: unlimited)"},
		&cli.UintFlag{Name: "blkio-weight", Usage: "block IO relative weight, 10 to 1000"},
		&cli.Int64Flag{Name: "cpu-period", Usage: "CFS period in microseconds (1000 to 1000000)"},
		&cli.Int64Flag{Name: "cpu-quota", Usage: "CFS quota in microseconds per period (at least 1000)"},
	}
}

// ResourceFlags are the resource and security flags of `run` and `create`.
// Apply them with ApplyResources.
func ResourceFlags() []cli.Flag {
	return append(UpdateFlags(),
		&cli.StringSliceFlag{Name: "ulimit", Usage: "ulimit: name=soft[:hard] (e.g. nofile=1024:2048)"},
		&cli.StringSliceFlag{Name: "device", Usage: "add a host device: HOST[:CONTAINER[:PERMISSIONS]], or a CDI device: vendor.com/class=name"},
		&cli.StringSliceFlag{Name: "device-read-bps", Usage: "limit reads from a block device: DEVICE:RATE (e.g. /dev/sda:1mb)"},
		&cli.StringSliceFlag{Name: "device-write-bps", Usage: "limit writes to a block device: DEVICE:RATE (e.g. /dev/sda:1mb)"},
		&cli.StringSliceFlag{Name: "device-read-iops", Usage: "limit read operations on a block device: DEVICE:N per second"},
		&cli.StringSliceFlag{Name: "device-write-iops", Usage: "limit write operations on a block device: DEVICE:N per second"},
		&cli.StringFlag{Name: "shm-size", Usage: "size of /dev/shm (default 64m)"},
		&cli.IntFlag{Name: "oom-score-adj", Usage: "OOM score adjustment (-1000 to 1000)"},
		&cli.Int64Flag{Name: "memory-swappiness", Value: -1, Usage: "memory swappiness, 0 to 100 (-1: the host's)"},
		&cli.BoolFlag{Name: "oom-kill-disable", Usage: "do not let the kernel's OOM killer kill the container (set --memory too)"},
		&cli.StringFlag{Name: "cgroup-parent", Usage: "parent cgroup of the container's cgroup"},
		&cli.StringFlag{Name: "cgroupns", Usage: "cgroup namespace: host or private (default: host on cgroup v1, private on v2)"},
		&cli.StringSliceFlag{Name: "sysctl", Usage: "namespaced kernel parameter: name=value"},
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add a Linux capability (or ALL)"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a Linux capability (or ALL)"},
		&cli.BoolFlag{Name: "privileged", Usage: "give every capability and host device, no seccomp, no masked paths"},
		&cli.StringSliceFlag{Name: "security-opt", Usage: "seccomp=unconfined|PROFILE.json, no-new-privileges, apparmor=PROFILE, writable-cgroups[=false]"},
		&cli.StringSliceFlag{Name: "group-add", Usage: "add an additional group (name or GID)"},
	)
}

// ApplyResources puts the values of ResourceFlags into cfg.
func ApplyResources(c *cli.Context, cfg *container.Config) error {
	r, err := UpdateResources(c)
	if err != nil {
		return err
	}
	for _, t := range []struct {
		flag  string
		bytes bool
		dst   *[]container.ThrottleDevice
	}{
		{"device-read-bps", true, &r.BlkioDeviceReadBps}, {"device-write-bps", true, &r.BlkioDeviceWriteBps},
		{"device-read-iops", false, &r.BlkioDeviceReadIOps}, {"device-write-iops", false, &r.BlkioDeviceWriteIOps},
	} {
		for _, v := range c.StringSlice(t.flag) {
			d, err := throttle(t.flag, v, t.bytes)
			if err != nil {
				return err
			}
			*t.dst = append(*t.dst, d)
		}
	}
	for _, v := range c.StringSlice("ulimit") {
		u, err := Ulimit(v)
		if err != nil {
			return err
		}
		r.Ulimits = append(r.Ulimits, u)
	}
	for _, v := range c.StringSlice("device") {
		if parser.IsQualifiedName(v) {
			// A CDI device (vendor.com/class=name), as the docker CLI tells them.
			r.CDIDevices = append(r.CDIDevices, v)
			continue
		}
		d, err := Device(v)
		if err != nil {
			return err
		}
		r.Devices = append(r.Devices, d)
	}
	if r.ShmSize, err = size("shm-size", c.String("shm-size")); err != nil {
		return err
	}
	r.OomScoreAdj = c.Int("oom-score-adj")
	r.OomKillDisable = c.Bool("oom-kill-disable")
	if v := c.Int64("memory-swappiness"); v != -1 {
		if v < 0 || v > 100 {
			return fmt.Errorf("invalid --memory-swappiness %d: range is 0 to 100 (-1: the host's)", v)
		}
		r.MemorySwappiness = &v
	}
	r.CgroupParent = c.String("cgroup-parent")
	r.CgroupnsMode = c.String("cgroupns")
	if r.Sysctls, err = Sysctls(c.StringSlice("sysctl")); err != nil {
		return err
	}
	cfg.Resources = r
	sec := container.Security{
		Privileged: c.Bool("privileged"),
		CapAdd:     c.StringSlice("cap-add"),
		CapDrop:    c.StringSlice("cap-drop"),
		GroupAdd:   c.StringSlice("group-add"),
	}
	if sec.SecurityOpt, err = SecurityOpts(c.StringSlice("security-opt"), os.ReadFile); err != nil {
		return err
	}
	cfg.Security = sec
	return nil
}

// UpdateResources reads the values of UpdateFlags.
func UpdateResources(c *cli.Context) (container.Resources, error) {
	var r container.Resources
	var err error
	if r.Memory, err = size("memory", c.String("memory")); err != nil {
		return r, err
	}
	if v := c.String("memory-swap"); v == "-1" {
		r.MemorySwap = -1
	} else if r.MemorySwap, err = size("memory-swap", v); err != nil {
		return r, err
	}
	if r.MemoryReservation, err = size("memory-reservation", c.String("memory-reservation")); err != nil {
		return r, err
	}
	if r.NanoCPUs, err = NanoCPUs(c.String("cpus")); err != nil {
		return r, err
	}
	r.CPUShares = c.Int64("cpu-shares")
	r.CpusetCpus, r.CpusetMems = c.String("cpuset-cpus"), c.String("cpuset-mems")
	r.PidsLimit = c.Int64("pids-limit")
	w := c.Uint("blkio-weight")
	if w > math.MaxUint16 {
		return r, fmt.Errorf("invalid --blkio-weight %d: range is 10 to 1000", w)
	}
	r.BlkioWeight = uint16(w)
	r.CPUPeriod, r.CPUQuota = c.Int64("cpu-period"), c.Int64("cpu-quota")
	return r, nil
}

func size(flag, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid --%s %q: want a size such as 512m or 1g", flag, v)
	}
	return n, nil
}

// NanoCPUs parses --cpus (a decimal number of CPUs).
func NanoCPUs(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid --cpus %q: want a number of CPUs such as 1.5", v)
	}
	nano := int64(math.Round(f * 1e9))
	if f > 0 && nano < 1e7 {
		return 0, fmt.Errorf("invalid --cpus %q: the minimum is 0.01", v)
	}
	return nano, nil
}

// Ulimit parses name=soft[:hard] (hard defaults to soft).
func Ulimit(v string) (container.Ulimit, error) {
	name, vals, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return container.Ulimit{}, fmt.Errorf("invalid --ulimit %q: want name=soft[:hard]", v)
	}
	soft, hard, hasHard := strings.Cut(vals, ":")
	s, err := strconv.ParseInt(soft, 10, 64)
	if err != nil {
		return container.Ulimit{}, fmt.Errorf("invalid --ulimit %q: soft limit is not a number", v)
	}
	h := s
	if hasHard {
		if h, err = strconv.ParseInt(hard, 10, 64); err != nil {
			return container.Ulimit{}, fmt.Errorf("invalid --ulimit %q: hard limit is not a number", v)
		}
	}
	return container.Ulimit{Name: strings.ToLower(name), Soft: s, Hard: h}, nil
}

// Device parses HOST[:CONTAINER[:PERMISSIONS]] (Docker's --device).
func Device(v string) (container.DeviceMapping, error) {
	parts := strings.Split(v, ":")
	d := container.DeviceMapping{PathOnHost: parts[0], CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
	case 2:
		if isPerms(parts[1]) {
			d.CgroupPermissions = parts[1]
		} else {
			d.PathInContainer = parts[1]
		}
	case 3:
		d.PathInContainer, d.CgroupPermissions = parts[1], parts[2]
	default:
		return d, fmt.Errorf("invalid --device %q: want HOST[:CONTAINER[:PERMISSIONS]]", v)
	}
	if d.PathOnHost == "" || !isPerms(d.CgroupPermissions) {
		return d, fmt.Errorf("invalid --device %q: want HOST[:CONTAINER[:PERMISSIONS]], permissions a combination of r, w and m", v)
	}
	if d.PathInContainer == "" {
		d.PathInContainer = d.PathOnHost
	}
	return d, nil
}

func isPerms(s string) bool {
	return s != "" && strings.Trim(s, "rwm") == ""
}

// Sysctls parses name=value entries.
func Sysctls(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(values))
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid --sysctl %q: want name=value", v)
		}
		m[k] = val
	}
	return m, nil
}

// SecurityOpts checks --security-opt values and replaces seccomp=FILE by
// seccomp=<the file's JSON>: the profile is read where the user is, as
// Docker's CLI does.
func SecurityOpts(values []string, readFile func(string) ([]byte, error)) ([]string, error) {
	out := make([]string, 0, len(values))
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			k, val, ok = strings.Cut(v, ":")
		}
		if k == "seccomp" && ok && val != "unconfined" && !strings.HasPrefix(strings.TrimSpace(val), "{") {
			b, err := readFile(val)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", val, err)
			}
			v = "seccomp=" + string(b)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// throttle parses DEVICE:RATE (a size, 1mb, for the bps flags; a number
// for the iops ones).
func throttle(flag, v string, bytes bool) (container.ThrottleDevice, error) {
	i := strings.LastIndex(v, ":")
	if i <= 0 || !strings.HasPrefix(v, "/dev/") {
		return container.ThrottleDevice{}, fmt.Errorf("invalid --%s %q: want /dev/DEVICE:RATE", flag, v)
	}
	dev, rate := v[:i], v[i+1:]
	if bytes {
		n, err := units.RAMInBytes(rate)
		if err != nil || n <= 0 {
			return container.ThrottleDevice{}, fmt.Errorf("invalid --%s %q: the rate must be a positive size (1mb, 512kb)", flag, v)
		}
		return container.ThrottleDevice{Path: dev, Rate: uint64(n)}, nil
	}
	n, err := strconv.ParseUint(rate, 10, 64)
	if err != nil || n == 0 {
		return container.ThrottleDevice{}, fmt.Errorf("invalid --%s %q: the rate must be a positive number of operations per second", flag, v)
	}
	return container.ThrottleDevice{Path: dev, Rate: n}, nil
}
