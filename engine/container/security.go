package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// securityOpts is Security.SecurityOpt parsed.
type securityOpts struct {
	seccomp         string // "" default, "unconfined", or a profile's JSON
	noNewPrivileges bool
	apparmor        string
	// writableCgroups: nil is the default (read-only, writable when
	// privileged), else writable-cgroups[=BOOL].
	writableCgroups *bool
}

// parseSecurityOpts parses --security-opt values as dockerd does, with its
// messages (clients match them exactly): "invalid --security-opt 1: %q"
// for a value with no key, "invalid --security-opt 2: %q" for an unknown
// key or a value that is no boolean. docs/cli.md lists the values berth
// takes.
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var out securityOpts
	for _, o := range opts {
		switch o {
		case "no-new-privileges":
			out.noNewPrivileges = true
			continue
		case "writable-cgroups":
			out.writableCgroups = ptr(true)
			continue
		}
		k, v, hasValue := strings.Cut(o, "=")
		if !hasValue {
			// Docker accepts the older "key:value" form too.
			k, v, hasValue = strings.Cut(o, ":")
		}
		if !hasValue {
			return out, fmt.Errorf("invalid --security-opt 1: %q: %w", o, errdefs.ErrInvalidArgument)
		}
		switch k {
		case "no-new-privileges", "writable-cgroups":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return out, fmt.Errorf("invalid --security-opt 2: %q: %w", o, errdefs.ErrInvalidArgument)
			}
			if k == "no-new-privileges" {
				out.noNewPrivileges = b
			} else {
				out.writableCgroups = &b
			}
		case "seccomp":
			if v == "" {
				return out, fmt.Errorf("invalid --security-opt %q: give seccomp=unconfined or seccomp=PROFILE.json: %w", o, errdefs.ErrInvalidArgument)
			}
			out.seccomp = v
		case "apparmor":
			if v == "" {
				return out, fmt.Errorf("invalid --security-opt %q: give apparmor=PROFILE: %w", o, errdefs.ErrInvalidArgument)
			}
			out.apparmor = v
		case "label":
			return out, fmt.Errorf("--security-opt label: SELinux is not supported by berth: %w", errdefs.ErrNotImplemented)
		default:
			return out, fmt.Errorf("invalid --security-opt 2: %q: %w", o, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// validateSecurity checks sec before anything is created.
func validateSecurity(sec *containertypes.Security) error {
	opts, err := parseSecurityOpts(sec.SecurityOpt)
	if err != nil {
		return err
	}
	if opts.apparmor != "" && opts.apparmor != "unconfined" && !appArmorEnabled() {
		return fmt.Errorf("--security-opt apparmor=%s: AppArmor is not enabled on this host: %w", opts.apparmor, errdefs.ErrFailedPrecondition)
	}
	if s := opts.seccomp; s != "" && s != "unconfined" && !strings.HasPrefix(strings.TrimSpace(s), "{") {
		return fmt.Errorf("--security-opt seccomp: give unconfined or a profile's JSON (the CLI reads PROFILE.json): %w", errdefs.ErrInvalidArgument)
	}
	for _, c := range append(append([]string{}, sec.CapAdd...), sec.CapDrop...) {
		if _, err := capName(c); err != nil {
			return err
		}
	}
	return nil
}

func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

// capName normalises a capability name to CAP_X; ALL stays ALL.
func capName(c string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(c))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if _, ok := knownCaps[n]; !ok {
		return "", fmt.Errorf("unknown capability: %q: %w", c, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

// knownCaps are the Linux capabilities runc knows (as of Linux 5.9).
var knownCaps = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, c := range []string{
		"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
		"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
		"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
		"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
		"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
		"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
	} {
		m["CAP_"+c] = struct{}{}
	}
	return m
}()

func normalizeCaps(caps []string) (list []string, all bool) {
	for _, c := range caps {
		n, err := capName(c)
		if err != nil {
			continue // validateSecurity refused it already
		}
		if n == "ALL" {
			all = true
			continue
		}
		list = append(list, n)
	}
	return list, all
}

// withSecurity applies sec over the default spec (whose capabilities,
// masked and read-only paths are Docker's): capabilities, seccomp, no new
// privileges, AppArmor, privileged mode and extra groups. It runs after the
// user is set, since seccomp's default profile depends on the capabilities.
func withSecurity(sec containertypes.Security) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		opts, err := parseSecurityOpts(sec.SecurityOpt)
		if err != nil {
			return err
		}
		var list []oci.SpecOpts
		if sec.Privileged {
			list = append(list, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
		} else {
			add, addAll := normalizeCaps(sec.CapAdd)
			drop, dropAll := normalizeCaps(sec.CapDrop)
			switch {
			case addAll:
				list = append(list, oci.WithAllCurrentCapabilities, oci.WithDroppedCapabilities(drop))
			case dropAll:
				list = append(list, oci.WithCapabilities(add))
			default:
				list = append(list, oci.WithDroppedCapabilities(drop), oci.WithAddedCapabilities(add))
			}
		}
		switch {
		case opts.seccomp == "unconfined", sec.Privileged && opts.seccomp == "":
			list = append(list, oci.WithSeccompUnconfined)
		case opts.seccomp != "":
			// A profile given applies even with --privileged, as
			// dockerd's (moby#47499).
			list = append(list, withSeccompJSON(opts.seccomp))
		default:
			list = append(list, seccomp.WithDefaultProfile())
		}
		// containerd's default spec sets no_new_privs; Docker's does not
		// (setuid binaries such as su and ping work), and berth follows Docker.
		s.Process.NoNewPrivileges = opts.noNewPrivileges
		if opts.apparmor != "" && opts.apparmor != "unconfined" && !sec.Privileged {
			list = append(list, oci.WithApparmorProfile(opts.apparmor))
		}
		if len(sec.GroupAdd) > 0 {
			list = append(list, withAdditionalGroups(sec.GroupAdd...))
		}
		// The cgroup file system is read-only but for a privileged
		// container; writable-cgroups[=BOOL] decides otherwise, as dockerd's.
		if w := opts.writableCgroups; w != nil {
			if *w {
				list = append(list, oci.WithWriteableCgroupfs)
			} else {
				list = append(list, withReadonlyCgroupfs)
			}
		}
		if sec.MaskedPaths != nil {
			list = append(list, oci.WithMaskedPaths(sec.MaskedPaths))
		}
		if sec.ReadonlyPaths != nil {
			list = append(list, oci.WithReadonlyPaths(sec.ReadonlyPaths))
		}
		return oci.Compose(list...)(ctx, client, c, s)
	}
}

// withReadonlyCgroupfs makes the cgroup mounts read-only (--privileged
// with writable-cgroups=false).
func withReadonlyCgroupfs(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	for i, m := range s.Mounts {
		if m.Type != "cgroup" {
			continue
		}
		opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "rw" || o == "ro" })
		s.Mounts[i].Options = append(opts, "ro")
	}
	return nil
}

// dockerMaskedPaths is dockerd's default list of masked paths, in its
// order (inspect shows it): containerd's default spec has the same paths
// in another order.
var dockerMaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap"}

// defaultPaths fills in the masked and read-only paths a container gets
// when it names none, as dockerd records them at create: Docker's defaults,
// with the per-CPU paths containerd's default spec adds; none for a
// privileged container.
func defaultPaths(sec *containertypes.Security, def *oci.Spec) {
	if sec.Privileged || def.Linux == nil {
		return
	}
	if sec.MaskedPaths == nil {
		sec.MaskedPaths = slices.Clone(dockerMaskedPaths)
		for _, p := range def.Linux.MaskedPaths {
			if !slices.Contains(sec.MaskedPaths, p) {
				sec.MaskedPaths = append(sec.MaskedPaths, p)
			}
		}
	}
	if sec.ReadonlyPaths == nil {
		sec.ReadonlyPaths = slices.Clone(def.Linux.ReadonlyPaths)
	}
}

// withSeccompJSON sets a custom seccomp profile given as JSON (Docker's
// profile format is a superset of the OCI one; the OCI fields are used).
func withSeccompJSON(profile string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		p, err := parseSeccompProfile([]byte(profile))
		if err != nil {
			return err
		}
		s.Linux.Seccomp = p
		return nil
	}
}

// parseSeccompProfile reads a profile in the OCI form, or in Docker's form
// reduced to it: Docker's "archMap" gives the architectures, and syscall
// entries with "includes"/"excludes" conditions are kept as they are (berth
// does not evaluate them).
func parseSeccompProfile(b []byte) (*specs.LinuxSeccomp, error) {
	var p struct {
		specs.LinuxSeccomp
		ArchMap []struct {
			Arch      specs.Arch   `json:"architecture"`
			SubArches []specs.Arch `json:"subArchitectures"`
		} `json:"archMap"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decoding the seccomp profile: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if p.DefaultAction == "" {
		return nil, fmt.Errorf("the seccomp profile has no defaultAction: %w", errdefs.ErrInvalidArgument)
	}
	if len(p.Architectures) == 0 {
		for _, a := range p.ArchMap {
			p.Architectures = append(p.Architectures, a.Arch)
			p.Architectures = append(p.Architectures, a.SubArches...)
		}
	}
	out := p.LinuxSeccomp
	return &out, nil
}
