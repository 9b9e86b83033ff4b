package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestNetworkWithDocker runs Debian's dockerd (private data root, exec
// root, socket and bridge, --iptables=true, as make bench runs it) next to
// a berth stack and checks that each engine's published ports keep
// working with the other's rules on the host: a berth container reaches a
// Docker container's published port through a host address and the other
// way round, and Docker's FORWARD policy of DROP (emulated for berth's own
// bridges only: the host's policy is shared with other work) does not drop
// berth's traffic, even after the rule berth keeps in iptables' FORWARD was
// flushed (a firewall reload): the next container start puts it back.
func TestNetworkWithDocker(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	for _, bin := range []string{"dockerd", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: this test runs Debian's docker.io next to berth (apt-get install docker.io)", bin)
		}
	}
	s := harness.Start(t)
	s.LoadBusybox()
	n := ntStack{s}
	netA, netB := ntName(t, "dka"), ntName(t, "dkb")
	bridges := []string{"bdka" + netA[3:7], "bdkb" + netB[3:7]}
	n.network(t, netA, "--subnet", testSubnet(t, s, 7), "-o", "com.docker.network.bridge.name="+bridges[0])
	n.network(t, netB, "--subnet", testSubnet(t, s, 8), "-o", "com.docker.network.bridge.name="+bridges[1])
	dk := startDocker(t, testSubnet(t, s, 9))
	// docker load takes a docker-archive (make deps installs skopeo).
	arch := filepath.Join(t.TempDir(), "busybox-docker.tar")
	if out, err := exec.Command("skopeo", "copy", "--quiet", "oci-archive:"+harness.Archive(t, harness.Image{}),
		"docker-archive:"+arch+":"+harness.BusyboxName).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy to docker-archive: %v: %s", err, out)
	}
	dk.ok(t, "load", "-i", arch)

	// Each engine publishes a port; the other's container fetches it
	// through the host address of berth's default bridge.
	p, err := netip.ParsePrefix(s.BridgeSubnet())
	if err != nil {
		t.Fatal(err)
	}
	host := p.Masked().Addr().Next().String() // berth's default bridge's gateway: a host address
	berthPort, dockerPort := freePort(t), freePort(t)
	srv := ntName(t, "dksrv")
	n.httpd(t, srv, "--network", netA, "-p", fmt.Sprintf("%d:80", berthPort))
	dsrv := ntName(t, "dkd")
	dk.ok(t, append([]string{"run", "-d", "--name", dsrv, "-p", fmt.Sprintf("%d:80", dockerPort), "busybox"}, netHttpd...)...)
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", berthPort))
	n.fetchOK(t, fmt.Sprintf("http://%s:%d/", host, dockerPort), "--network", netB)
	dk.fetchOK(t, fmt.Sprintf("http://%s:%d/", host, berthPort))

	// Docker's FORWARD policy of DROP, for berth's bridges: a DROP at the
	// end of FORWARD for everything in and out of them.
	for _, br := range bridges {
		for _, dir := range []string{"-i", "-o"} {
			rule := []string{"FORWARD", dir, br, "-j", "DROP"}
			iptablesOK(t, append([]string{"-A"}, rule...)...)
			t.Cleanup(func() { _ = exec.Command("iptables", append([]string{"-w", "-D"}, rule...)...).Run() })
		}
	}
	n.fetchOK(t, fmt.Sprintf("http://%s:%d/", host, berthPort), "--network", netB)

	// A reload flushes berth's rule from FORWARD: the next start (this
	// fetch's container) puts it back, and the fetch works.
	mark := []string{"FORWARD", "-m", "mark", "--mark", "0x100000/0x100000", "-m", "comment", "--comment", s.FirewallPrefix() + " accept marked", "-j", "ACCEPT"}
	iptablesOK(t, append([]string{"-D"}, mark...)...)
	n.fetchOK(t, fmt.Sprintf("http://%s:%d/", host, berthPort), "--network", netB)
	if err := exec.Command("iptables", append([]string{"-w", "-C"}, mark...)...).Run(); err != nil {
		t.Errorf("berth's FORWARD rule not back after a container start: %v", err)
	}
	// Docker still serves its own port from the host.
	dk.fetchOK(t, fmt.Sprintf("http://%s:%d/", host, dockerPort))
	n.ok(t, "rm", "-f", srv)
}

func iptablesOK(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

type dockerStack struct {
	sock string
}

func (d dockerStack) cmd(args ...string) *exec.Cmd {
	return exec.Command("docker", append([]string{"-H", "unix://" + d.sock}, args...)...)
}

func (d dockerStack) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.cmd(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// fetchOK fetches url from a Docker busybox container until it answers.
func (d dockerStack) fetchOK(t *testing.T, url string) {
	t.Helper()
	var out []byte
	ntEventually(t, 30*time.Second, "docker container fetching "+url, func() bool {
		var err error
		out, err = d.cmd("run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O", "-", url).CombinedOutput()
		return err == nil && strings.Contains(string(out), netPage)
	}, func() string { return string(out) })
}

// startDocker runs dockerd in private dirs with a bridge of its own on
// subnet, until the test ends; then it removes its containers, stops it
// and deletes the bridge and the iptables chains and rules Docker added.
func startDocker(t *testing.T, subnet string) dockerStack {
	t.Helper()
	before := iptablesSave(t)
	dir, err := os.MkdirTemp("/tmp", "bdk")
	if err != nil {
		t.Fatal(err)
	}
	bridge := "bdk" + filepath.Base(dir)[3:]
	gw := strings.TrimSuffix(subnet, "0/24") + "1/24"
	d := dockerStack{sock: filepath.Join(dir, "ex", "docker.sock")}
	var cmd *exec.Cmd
	exited := make(chan struct{})
	t.Cleanup(func() {
		if cmd != nil && cmd.Process != nil {
			if ids := strings.Fields(func() string { o, _ := d.cmd("ps", "-aq").Output(); return string(o) }()); len(ids) > 0 {
				_ = d.cmd(append([]string{"rm", "-f"}, ids...)...).Run()
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				t.Errorf("dockerd did not stop within 60s; killed")
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		_ = exec.Command("ip", "link", "del", bridge).Run()
		removeNewIptables(t, before, bridge, strings.TrimSuffix(subnet, "0/24"))
		_ = exec.Command("umount", "-R", dir).Run()
		_ = os.RemoveAll(dir)
	})
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
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd = exec.Command("dockerd",
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "ex"),
		"-H", "unix://"+d.sock,
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-b", bridge,
		"--iptables=true",
		"--ip-forward=false", // the host's forwarding and FORWARD policy are shared
		"--userland-proxy=false",
		"--storage-driver", "overlay2",
		"--log-level", "warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for d.cmd("version").Run() != nil {
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("dockerd exited:\n%s", b)
		case <-ctx.Done():
			b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("dockerd not answering after 90s:\n%s", b)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return d
}

// iptablesSave returns the lines of iptables-save (filter and nat).
func iptablesSave(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, table := range []string{"filter", "nat"} {
		b, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			t.Fatalf("iptables-save -t %s: %v", table, err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			out[table+" "+l] = true
		}
	}
	return out
}

// removeNewIptables deletes the rules and chains that appeared since
// before and belong to Docker (its chains, bridge or subnet).
func removeNewIptables(t *testing.T, before map[string]bool, bridge, subnetPrefix string) {
	t.Helper()
	docker := func(l string) bool {
		return strings.Contains(l, "DOCKER") || strings.Contains(l, bridge) || strings.Contains(l, subnetPrefix)
	}
	now := iptablesSave(t)
	var chains []string
	for key := range now {
		table, l, _ := strings.Cut(key, " ")
		if before[key] || !docker(l) {
			continue
		}
		switch {
		case strings.HasPrefix(l, "-A "):
			if out, err := exec.Command("sh", "-c", "iptables -w -t "+table+" -D "+l[3:]).CombinedOutput(); err != nil {
				t.Logf("clean-up: iptables -t %s -D %s: %v: %s", table, l[3:], err, out)
			}
		case strings.HasPrefix(l, ":"):
			chains = append(chains, table+" "+strings.Fields(l)[0][1:])
		}
	}
	for _, c := range chains {
		table, chain, _ := strings.Cut(c, " ")
		_ = exec.Command("iptables", "-w", "-t", table, "-F", chain).Run()
	}
	for _, c := range chains {
		table, chain, _ := strings.Cut(c, " ")
		if out, err := exec.Command("iptables", "-w", "-t", table, "-X", chain).CombinedOutput(); err != nil {
			t.Logf("clean-up: iptables -t %s -X %s: %v: %s", table, chain, err, out)
		}
	}
}
