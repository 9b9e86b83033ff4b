package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestDockerDiff replays requests.json against a private berthd and a
// private dockerd (Debian's, in a root, exec root, socket and bridge of its
// own) and fails on a difference that known.txt does not list. It runs with
// BERTH_TEST_DOCKERDIFF=1 (make docker-diff), and is skipped where dockerd
// is not installed.
func TestDockerDiff(t *testing.T) {
	if os.Getenv("BERTH_TEST_DOCKERDIFF") != "1" {
		t.Skip("the side-by-side diff with dockerd runs with BERTH_TEST_DOCKERDIFF=1 (make docker-diff)")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd is not installed (apt-get install docker.io): nothing to compare with")
	}
	for _, tool := range []string{"docker", "skopeo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps)", tool)
		}
	}
	s := harness.Start(t)
	s.LoadBusybox()
	dockerSock := startDockerd(t)

	diffs, err := Run("requests.json", "known.txt", s.DockerHost(), "unix://"+dockerSock)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	unknown := Report(&b, diffs, "berth", "dockerd")
	t.Log(b.String())
	if out := os.Getenv("BERTH_DOCKERDIFF_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if unknown > 0 {
		t.Errorf("%d differences from dockerd are not in known.txt: fix them, or list them there and in docs/docker-api.md with their reason", unknown)
	}
}

// startDockerd starts dockerd in a private data root, exec root and socket,
// with a bridge of its own and no iptables rules, loads busybox into it, and
// stops and removes it all when the test ends.
func startDockerd(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "dd")
	if err != nil {
		t.Fatal(err)
	}
	bridge := "dd" + filepath.Base(dir)[2:]
	if len(bridge) > 15 {
		bridge = bridge[:15]
	}
	exe := filepath.Join(dir, "ex")
	sock := filepath.Join(exe, "docker.sock")
	var cmd *exec.Cmd
	exited := make(chan struct{})
	t.Cleanup(func() {
		if cmd != nil && cmd.Process != nil {
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
				t.Errorf("dockerd (pid %d) did not stop within 60s: killed", cmd.Process.Pid)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		if _, err := os.Stat("/sys/class/net/" + bridge); err == nil {
			if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
				t.Errorf("ip link del %s: %v: %s", bridge, err, out)
			}
		}
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	// A /24 of 10.250.x.0 that no other interface uses.
	subnet := ""
	for i := 0; i < 200; i++ {
		c := fmt.Sprintf("10.250.%d.0/24", (os.Getpid()+i)%250)
		if !subnetInUse(c) {
			subnet = c
			break
		}
	}
	if subnet == "" {
		t.Fatal("no free 10.250.x.0/24 for dockerd's bridge")
	}
	gw := strings.TrimSuffix(subnet, ".0/24") + ".1/24"
	for _, args := range [][]string{
		{"link", "add", bridge, "type", "bridge"},
		{"addr", "add", gw, "dev", bridge},
		{"link", "set", bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "dockerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd = exec.Command("dockerd",
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", exe,
		"-H", "unix://"+sock,
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-b", bridge,
		// No rules in the host's firewall, no change to its forwarding:
		// the requests need no traffic through published ports.
		"--iptables=false", "--ip-forward=false", "--ip-masq=false",
		"--userland-proxy=false",
		"--storage-driver", "overlay2",
		"--log-level", "warn",
	)
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(harness.Timeout(90 * time.Second))
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("dockerd exited before it answered:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("dockerd did not answer on %s:\n%s", sock, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	archive := filepath.Join(dir, "busybox-docker.tar")
	if out, err := exec.Command("skopeo", "copy", "--quiet", "oci-archive:"+harness.BusyboxArchive(t),
		"docker-archive:"+archive+":"+"docker.io/library/busybox:latest").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy to docker-archive: %v: %s", err, out)
	}
	if out, err := exec.Command("docker", "-H", "unix://"+sock, "load", "-i", archive).CombinedOutput(); err != nil {
		t.Fatalf("docker load into dockerd: %v: %s", err, out)
	}
	return sock
}

func subnetInUse(cidr string) bool {
	_, want, err := net.ParseCIDR(cidr)
	if err != nil {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && (want.Contains(ipn.IP) || ipn.Contains(want.IP)) {
			return true
		}
	}
	return false
}

// unmountUnder lazily unmounts what dockerd left mounted under dir.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var ms []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			ms = append(ms, f[4])
		}
	}
	for i := len(ms) - 1; i >= 0; i-- {
		_ = syscall.Unmount(ms[i], syscall.MNT_DETACH)
	}
}
