package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// newDocker starts Debian's dockerd (and the containerd it supervises) in
// a private data root and exec root, with a private socket and a bridge of
// its own (created here, given with -b, removed at the end).
func (b *Bench) newDocker(dockerArchive string) (*Engine, error) {
	dir, err := os.MkdirTemp("/tmp", "bd")
	if err != nil {
		return nil, err
	}
	bridge := "bd" + filepath.Base(dir)[2:]
	if len(bridge) > 15 {
		bridge = bridge[:15]
	}
	subnet := b.subnet()
	b.peerLinks = append(b.peerLinks, bridge)
	b.peerWords = append(b.peerWords, bridge, strings.TrimSuffix(subnet, ".0/24")+".")
	exe := filepath.Join(dir, "ex")
	sock := filepath.Join(exe, "docker.sock")
	var cmd *exec.Cmd
	exited := make(chan struct{})
	b.addCleanup("docker", func() error {
		var errs []error
		if cmd != nil && cmd.Process != nil && !isClosed(exited) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			out, _ := exec.CommandContext(ctx, "docker", "-H", "unix://"+sock, "ps", "-aq").Output()
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				_ = exec.CommandContext(ctx, "docker", append([]string{"-H", "unix://" + sock, "rm", "-f"}, ids...)...).Run()
			}
			cancel()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				errs = append(errs, fmt.Errorf("dockerd did not stop within 60s; killed"))
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		errs = append(errs, scrubDir(dir))
		if _, err := os.Stat("/sys/class/net/" + bridge); err == nil {
			if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", bridge, err, out))
			}
		}
		return errors.Join(errs...)
	})

	gw := strings.TrimSuffix(subnet, ".0/24") + ".1/24"
	for _, args := range [][]string{
		{"link", "add", bridge, "type", "bridge"},
		{"addr", "add", gw, "dev", bridge},
		{"link", "set", bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "dockerd.log")
	logf_, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf_.Close()
	cmd = exec.Command("dockerd",
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", exe,
		"-H", "unix://"+sock,
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-b", bridge,
		"--iptables=true",
		// No change to the host's ip_forward or FORWARD policy (other
		// work shares this machine); run --rm true needs no forwarding.
		"--ip-forward=false",
		"--ip-masq=true",
		"--userland-proxy=false",
		"--storage-driver", "overlay2",
		"--log-level", "warn",
	)
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.Stdout, cmd.Stderr = logf_, logf_
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := waitSocket(sock, exited, 90*time.Second); err != nil {
		return nil, fmt.Errorf("dockerd: %v\n%s", err, tailFile(logPath, 2000))
	}
	e := &Engine{
		Name:     "docker",
		Networks: []string{"bridge", "none", "host"},
		cli: func(ctx context.Context, args ...string) *exec.Cmd {
			return exec.CommandContext(ctx, "docker", append([]string{"-H", "unix://" + sock}, args...)...)
		},
		runRm: func(network, _ string) []string {
			return []string{"run", "--rm", "--network", network, "busybox", "true"}
		},
		runDetached: func(name string) []string {
			return []string{"run", "-d", "--name", name, "busybox", "sleep", "3600"}
		},
		removeAll: func(names []string) [][]string {
			return [][]string{append([]string{"rm", "-f"}, names...)}
		},
	}
	if dc := dockerCompose(); dc != "" {
		e.compose = func(ctx context.Context, args ...string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, dc, args...)
			cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock)
			return cmd
		}
	}
	ctrdSock := filepath.Join(exe, "containerd", "containerd.sock")
	e.daemons = func() map[string]int {
		m := map[string]int{"dockerd": cmd.Process.Pid}
		for _, pid := range allPIDs() {
			if exeName(pid) == "containerd" && strings.Contains(cmdline(pid), exe+"/") {
				m["containerd"] = pid
			}
		}
		return m
	}
	e.perContainer = func() [][]int { return shimsOf(ctrdSock) }
	if _, err := e.Exec(b.ctx, "load", "-i", dockerArchive); err != nil {
		return nil, err
	}
	e.Version = version("dockerd", "--version")
	e.Extra = map[string]string{
		"dockerd":    e.Version,
		"containerd": version("containerd", "--version"),
		"runc":       version("runc", "--version"),
	}
	if d := e.daemons(); d["containerd"] == 0 {
		return nil, fmt.Errorf("dockerd runs no containerd of its own under %s", exe)
	}
	e.Notes = append(e.Notes, fmt.Sprintf("Debian's dockerd, private --data-root/--exec-root/socket, its own supervised containerd, overlay2, bridge %s %s (-b), --iptables=true --ip-forward=false --userland-proxy=false", bridge, subnet))
	return e, nil
}

// waitSocket waits until a unix socket accepts connections.
func waitSocket(path string, exited chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil
		}
		if isClosed(exited) {
			return fmt.Errorf("exited before %s answered", path)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	return tail(string(b), n)
}
