package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"time"
)

// newPodman sets podman up in a private root, run root, tmp dir and
// network config dir, with a private containers.conf and storage.conf
// (netavark, cgroupfs, runc, overlay). podman has no daemon; its
// per-container process is conmon. Its default network's bridge is
// podman0, which must not exist beforehand (it is removed at the end).
func (b *Bench) newPodman(dockerArchive string) (*Engine, error) {
	if _, err := os.Stat("/sys/class/net/podman0"); err == nil {
		return nil, fmt.Errorf("podman0 already exists on this host: not measuring podman (its default network would be shared)")
	}
	dir, err := os.MkdirTemp("/tmp", "bp")
	if err != nil {
		return nil, err
	}
	subnet := b.subnet()
	b.peerLinks = append(b.peerLinks, "podman0")
	b.peerWords = append(b.peerWords, "podman0", strings.TrimSuffix(subnet, ".0/24")+".")
	conf := filepath.Join(dir, "containers.conf")
	storage := filepath.Join(dir, "storage.conf")
	env := append(os.Environ(),
		"CONTAINERS_CONF="+conf,
		"CONTAINERS_STORAGE_CONF="+storage,
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	)
	global := []string{
		"--root", filepath.Join(dir, "root"),
		"--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"),
		"--storage-driver", "overlay",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
		"--runtime", "runc",
		"--network-config-dir", filepath.Join(dir, "net"),
	}
	cli := func(ctx context.Context, args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, "podman", append(append([]string{}, global...), args...)...)
		c.Env = env
		return c
	}
	b.addCleanup("podman", func() error {
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if out, err := cli(ctx, "rm", "-af", "-t", "0").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("podman rm -af: %v: %s", err, out))
		}
		cancel()
		errs = append(errs, scrubDir(dir))
		return errors.Join(errs...)
	})
	for _, d := range []string{"net", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// podman asks runc for RLIMIT_NOFILE and RLIMIT_NPROC above what
	// this host (no CAP_SYS_RESOURCE) lets runc set: the hard limit for
	// files, 4096 processes (busybox needs neither).
	var nofile unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile)
	confText := fmt.Sprintf(`[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=%d:%d", "nproc=4096:4096"]

[network]
network_backend = "netavark"
network_config_dir = %q
default_subnet = %q

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = %q
`, nofile.Max, nofile.Max, filepath.Join(dir, "net"), subnet, filepath.Join(dir, "tmp"))
	storageText := fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = %q
runroot = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	if err := os.WriteFile(conf, []byte(confText), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(storage, []byte(storageText), 0o644); err != nil {
		return nil, err
	}
	e := &Engine{
		Name:     "podman",
		Networks: []string{"bridge", "none", "host"},
		cli:      cli,
		runRm: func(network, _ string) []string {
			return []string{"run", "--rm", "--network", network, "busybox", "true"}
		},
		runDetached: func(name string) []string {
			return []string{"run", "-d", "--name", name, "busybox", "sleep", "3600"}
		},
		removeAll: func(names []string) [][]string {
			// -t 0: kill at once, as docker rm -f and berth rm -f do
			// (podman would wait 10 s for sleep to handle SIGTERM).
			return [][]string{append([]string{"rm", "-f", "-t", "0"}, names...)}
		},
		daemons: func() map[string]int { return map[string]int{} },
		perContainer: func() [][]int {
			var out [][]int
			for _, pid := range processesIn(dir) {
				if exeName(pid) == "conmon" {
					out = append(out, []int{pid})
				}
			}
			return out
		},
	}
	if _, err := e.Exec(b.ctx, "load", "-i", dockerArchive); err != nil {
		return nil, err
	}
	e.Version = version("podman", "--version")
	e.Extra = map[string]string{
		"podman":   e.Version,
		"conmon":   version("conmon", "--version"),
		"runc":     version("runc", "--version"),
		"netavark": version("/usr/lib/podman/netavark", "--version"),
	}
	e.Notes = append(e.Notes, fmt.Sprintf("Debian's podman, private --root/--runroot/--tmpdir/--network-config-dir and containers.conf, netavark (bridge podman0 %s), cgroupfs, runc, overlay; no daemon: conmon per container", subnet))
	return e, nil
}
