package container

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// buildSpec runs the default spec plus opts, as Create does (without the
// options that need containerd).
func buildSpec(t *testing.T, opts ...oci.SpecOpts) *oci.Spec {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "test")
	var s oci.Spec
	c := &containers.Container{ID: "c1"}
	for _, o := range append([]oci.SpecOpts{oci.WithDefaultSpec(), oci.WithDefaultUnixDevices}, opts...) {
		if err := o(ctx, nil, c, &s); err != nil {
			t.Fatal(err)
		}
	}
	return &s
}

func TestLinuxResources(t *testing.T) {
	r := containertypes.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, MemoryReservation: 32 << 20, NanoCPUs: 1_500_000_000,
		CPUShares: 512, CpusetCpus: "0", PidsLimit: 20, BlkioWeight: 300}
	lr := linuxResources(r)
	if *lr.Memory.Limit != 64<<20 || *lr.Memory.Swap != 128<<20 || *lr.Memory.Reservation != 32<<20 {
		t.Errorf("memory %+v", lr.Memory)
	}
	if *lr.CPU.Quota != 150000 || *lr.CPU.Period != 100000 || *lr.CPU.Shares != 512 || lr.CPU.Cpus != "0" {
		t.Errorf("cpu %+v", lr.CPU)
	}
	if *lr.Pids.Limit != 20 || *lr.BlockIO.Weight != 300 {
		t.Errorf("pids %+v blkio %+v", lr.Pids, lr.BlockIO)
	}
	if lr := linuxResources(containertypes.Resources{}); lr.Memory != nil || lr.CPU != nil || lr.Pids != nil || lr.BlockIO != nil {
		t.Errorf("zero resources set limits: %+v", lr)
	}
	if lr := linuxResources(containertypes.Resources{PidsLimit: -5}); *lr.Pids.Limit != -1 {
		t.Errorf("negative pids limit: %d, want -1 (unlimited)", *lr.Pids.Limit)
	}
}

func TestValidateResources(t *testing.T) {
	for _, r := range []containertypes.Resources{
		{Memory: 1 << 20},
		{MemorySwap: 64 << 20},
		{Memory: 64 << 20, MemorySwap: 32 << 20},
		{Memory: 64 << 20, MemoryReservation: 128 << 20},
		{BlkioWeight: 5},
		{OomScoreAdj: 1001},
		{CgroupnsMode: "shared"},
		{CgroupParent: "a/../../b"},
		{Ulimits: []containertypes.Ulimit{{Name: "nofiles", Soft: 1, Hard: 1}}},
		{Ulimits: []containertypes.Ulimit{{Name: "nofile", Soft: 2, Hard: 1}}},
		{Devices: []containertypes.DeviceMapping{{PathOnHost: "dev/null"}}},
		{Devices: []containertypes.DeviceMapping{{PathOnHost: "/dev/null", CgroupPermissions: "rx"}}},
		{Sysctls: map[string]string{"kernel.panic": "1"}},
	} {
		if _, err := validateResources(&r); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: got %v, want an invalid argument", r, err)
		}
	}
	ok := containertypes.Resources{Memory: 64 << 20, MemorySwap: -1, Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"},
		Ulimits: []containertypes.Ulimit{{Name: "NOFILE", Soft: 1, Hard: 2}}}
	if _, err := validateResources(&ok); err != nil {
		t.Errorf("valid resources refused: %v", err)
	}
}

func TestWithResources(t *testing.T) {
	s := buildSpec(t, withResources("c1", containertypes.Resources{
		Memory: 64 << 20, PidsLimit: 7, ShmSize: 8 << 20, OomScoreAdj: 300, CgroupParent: "mygroup",
		CgroupnsMode: "private", Sysctls: map[string]string{"net.core.somaxconn": "1024"},
		Ulimits: []containertypes.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}},
		Devices: []containertypes.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "r"}},
	}))
	if *s.Linux.Resources.Memory.Limit != 64<<20 || *s.Linux.Resources.Pids.Limit != 7 {
		t.Errorf("limits %+v", s.Linux.Resources)
	}
	if s.Linux.CgroupsPath != "/mygroup/c1" {
		t.Errorf("cgroups path %q", s.Linux.CgroupsPath)
	}
	if *s.Process.OOMScoreAdj != 300 || s.Linux.Sysctl["net.core.somaxconn"] != "1024" {
		t.Errorf("oom score %d, sysctls %v", *s.Process.OOMScoreAdj, s.Linux.Sysctl)
	}
	if !slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace }) {
		t.Error("cgroupns private: no cgroup namespace")
	}
	var nofile []specs.POSIXRlimit
	for _, l := range s.Process.Rlimits {
		if l.Type == "RLIMIT_NOFILE" {
			nofile = append(nofile, l)
		}
	}
	if len(nofile) != 1 || nofile[0].Soft != 100 || nofile[0].Hard != 200 {
		t.Errorf("RLIMIT_NOFILE %+v, want one 100:200", nofile)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" && !slices.Contains(m.Options, "size=8192k") {
			t.Errorf("/dev/shm options %v", m.Options)
		}
	}
	if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/mynull" }) {
		t.Error("--device: /dev/mynull not in the spec")
	}
}

func TestWithSecurityDefaults(t *testing.T) {
	s := buildSpec(t, withSecurity(containertypes.Security{}))
	want := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
		"CAP_KILL", "CAP_AUDIT_WRITE"}
	got := slices.Clone(s.Process.Capabilities.Bounding)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("default capabilities %v, want Docker's %v", got, want)
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Fatalf("default seccomp profile missing: %+v", s.Linux.Seccomp)
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("masked %v read-only %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if s.Process.NoNewPrivileges {
		t.Error("no-new-privileges on by default")
	}
}

func TestWithSecurityOptions(t *testing.T) {
	s := buildSpec(t, withSecurity(containertypes.Security{CapDrop: []string{"ALL"}, CapAdd: []string{"net_admin"}, SecurityOpt: []string{"no-new-privileges", "seccomp=unconfined"}}))
	if !slices.Equal(s.Process.Capabilities.Effective, []string{"CAP_NET_ADMIN"}) {
		t.Errorf("drop ALL add NET_ADMIN: %v", s.Process.Capabilities.Effective)
	}
	if s.Linux.Seccomp != nil || !s.Process.NoNewPrivileges {
		t.Errorf("seccomp %v, no-new-privileges %v", s.Linux.Seccomp, s.Process.NoNewPrivileges)
	}
	s = buildSpec(t, withSecurity(containertypes.Security{CapDrop: []string{"CAP_CHOWN", "kill"}}))
	if slices.Contains(s.Process.Capabilities.Bounding, "CAP_CHOWN") || slices.Contains(s.Process.Capabilities.Bounding, "CAP_KILL") {
		t.Errorf("dropped caps still there: %v", s.Process.Capabilities.Bounding)
	}
	s = buildSpec(t, withSecurity(containertypes.Security{Privileged: true}))
	if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("privileged: seccomp %v masked %v ro %v", s.Linux.Seccomp != nil, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
		t.Error("privileged without CAP_SYS_ADMIN")
	}
	profile := `{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],"syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`
	s = buildSpec(t, withSecurity(containertypes.Security{SecurityOpt: []string{"seccomp=" + profile}}))
	if s.Linux.Seccomp.DefaultAction != specs.ActAllow || len(s.Linux.Seccomp.Syscalls) != 1 ||
		!slices.Equal(s.Linux.Seccomp.Architectures, []specs.Arch{specs.ArchX86_64, specs.ArchX86}) {
		t.Errorf("custom profile: %+v", s.Linux.Seccomp)
	}
}

// TestWritableCgroups: the cgroup file system is read-only but for a
// privileged container; writable-cgroups[=BOOL] decides otherwise, as
// dockerd's.
func TestWritableCgroups(t *testing.T) {
	for _, tc := range []struct {
		privileged bool
		opt        string
		want       string
	}{
		{false, "", "ro"},
		{true, "", "rw"},
		{false, "writable-cgroups", "rw"},
		{false, "writable-cgroups=true", "rw"},
		{false, "writable-cgroups=1", "rw"},
		{true, "writable-cgroups=false", "ro"},
		{true, "writable-cgroups:0", "ro"},
	} {
		sec := containertypes.Security{Privileged: tc.privileged}
		if tc.opt != "" {
			sec.SecurityOpt = []string{tc.opt}
		}
		s := buildSpec(t, withCgroupMount, withSecurity(sec))
		i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Type == "cgroup" })
		if i < 0 {
			t.Fatal("no cgroup mount")
		}
		opts := s.Mounts[i].Options
		if !slices.Contains(opts, tc.want) || slices.Contains(opts, map[string]string{"ro": "rw", "rw": "ro"}[tc.want]) {
			t.Errorf("privileged %v, %q: cgroup mount %v, want %s", tc.privileged, tc.opt, opts, tc.want)
		}
	}
}

// TestSecurityOptMessages: an invalid --security-opt gets dockerd's exact
// message (clients match it; moby's TestCgroupRW).
func TestSecurityOptMessages(t *testing.T) {
	for opt, want := range map[string]string{
		"writeable-cgroups=true":  `invalid --security-opt 2: "writeable-cgroups=true"`,
		"writable-cgroups=potato": `invalid --security-opt 2: "writable-cgroups=potato"`,
		"no-new-privileges=maybe": `invalid --security-opt 2: "no-new-privileges=maybe"`,
		"nokey":                   `invalid --security-opt 1: "nokey"`,
	} {
		err := validateSecurity(&containertypes.Security{SecurityOpt: []string{opt}})
		if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), want+":") {
			t.Errorf("%q: %v, want %s (an invalid argument)", opt, err, want)
		}
	}
}

func TestValidateSecurity(t *testing.T) {
	for _, sec := range []containertypes.Security{
		{CapAdd: []string{"NOPE"}},
		{SecurityOpt: []string{"seccomp="}},
		{SecurityOpt: []string{"seccomp=/some/file.json"}}, // the CLI sends the JSON, not a path
		{SecurityOpt: []string{"no-new-privileges=maybe"}},
		{SecurityOpt: []string{"what=ever"}},
	} {
		if err := validateSecurity(&sec); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: got %v, want an invalid argument", sec, err)
		}
	}
	if !appArmorEnabled() {
		err := validateSecurity(&containertypes.Security{SecurityOpt: []string{"apparmor=docker-default"}})
		if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "AppArmor is not enabled") {
			t.Errorf("apparmor without AppArmor: %v", err)
		}
	}
	if err := validateSecurity(&containertypes.Security{CapAdd: []string{"ALL"}, CapDrop: []string{"cap_net_raw"}, SecurityOpt: []string{"no-new-privileges:true", "seccomp=unconfined"}}); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}

func TestParseNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    1500      10    0    0    0     0          0         0      700       5    0    0    0     0       0          0
  eth1:      20       1    0    0    0     0          0         0       30       1    0    0    0     0       0          0
`
	rx, tx := parseNetDev(dev)
	if rx != 1520 || tx != 730 {
		t.Errorf("rx %d tx %d, want 1520 730 (loopback excluded)", rx, tx)
	}
}

func TestMergeResources(t *testing.T) {
	cur := containertypes.Resources{Memory: 64 << 20, NanoCPUs: 1e9, PidsLimit: 10, ShmSize: 1 << 20}
	got := mergeResources(cur, containertypes.Resources{Memory: 128 << 20})
	if got.Memory != 128<<20 || got.NanoCPUs != 1e9 || got.PidsLimit != 10 || got.ShmSize != 1<<20 {
		t.Errorf("merged %+v", got)
	}
	if err := updatableOnly(containertypes.Resources{ShmSize: 1}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("update of --shm-size: %v", err)
	}
}
