package e2e

import (
	"os"
	"strings"
	"testing"
)

// testDockerNamespacesInit: docker run --pid host/container:NAME, --ipc
// host, --uts host, --domainname and --init do what they do on dockerd, and inspect reports them.
func testDockerNamespacesInit(t *testing.T, d cli) {
	hostPidNS, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.ok("run", "--rm", "--pid", "host", "busybox", "readlink", "/proc/self/ns/pid"); got != hostPidNS {
		t.Errorf("--pid host: the container's PID namespace is %q, the host's %q", got, hostPidNS)
	}
	if got := d.ok("run", "--rm", "busybox", "readlink", "/proc/self/ns/pid"); got == hostPidNS {
		t.Errorf("without --pid the container shares the host's PID namespace %q", got)
	}

	hostIpcNS, err := os.Readlink("/proc/self/ns/ipc")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.ok("run", "--rm", "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc"); got != hostIpcNS {
		t.Errorf("--ipc host: the container's IPC namespace is %q, the host's %q", got, hostIpcNS)
	}

	peer := d.name("pidpeer")
	defer d.cleanup(peer)
	d.ok("run", "-d", "--name", peer, "busybox", "sleep", "1001")
	if got := d.ok("run", "--rm", "--pid", "container:"+peer, "busybox", "ps", "-o", "args"); !strings.Contains(got, "sleep 1001") {
		t.Errorf("--pid container:%s: the peer's sleep is not among the processes:\n%s", peer, got)
	}

	hostName, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if got := d.ok("run", "--rm", "--uts", "host", "busybox", "hostname"); got != hostName {
		t.Errorf("--uts host: hostname %q, want the host's %q", got, hostName)
	}

	dn := d.name("ddomain")
	defer d.cleanup(dn)
	if got := d.ok("run", "--name", dn, "--domainname", "example.test", "busybox", "cat", "/proc/sys/kernel/domainname"); got != "example.test" {
		t.Errorf("--domainname: the container's domain name is %q", got)
	}
	if got := d.inspect(dn, "{{.Config.Domainname}}"); got != "example.test" {
		t.Errorf("inspect --domainname: %q", got)
	}

	n := d.name("dinit")
	defer d.cleanup(n)
	got := d.ok("run", "--name", n, "--init", "busybox", "sh", "-c", `tr '\0' ' ' < /proc/1/cmdline; echo; echo ppid=$PPID`)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "/sbin/docker-init -- sh -c") || lines[1] != "ppid=1" {
		t.Errorf("--init: want PID 1 /sbin/docker-init with the command as its child; got:\n%s", got)
	}
	if got := d.inspect(n, "{{.HostConfig.Init}}"); got != "true" {
		t.Errorf("inspect --init: %q", got)
	}
}

// testDockerDeviceThrottle: --device-read-bps and the other per-device
// throttles through the Docker API reach the container's cgroup (read from
// the host) and show in inspect.
func testDockerDeviceThrottle(t *testing.T, d cli) {
	dev, majMin := hostBlockDevice()
	if dev == "" {
		t.Skip("no block device on this host")
	}
	n := d.name("dthrottle")
	defer d.cleanup(n)
	id := d.ok("run", "-d", "--name", n, "--device-read-bps", dev+":1mb", "--device-write-bps", dev+":2mb",
		"--device-read-iops", dev+":300", "--device-write-iops", dev+":400", "busybox", "sleep", "1000")
	checkThrottles(t, d, id, majMin)
	if got, want := d.inspect(n, "{{json .HostConfig.BlkioDeviceReadBps}}"), `[{"Path":"`+dev+`","Rate":1048576}]`; got != want {
		t.Errorf("inspect BlkioDeviceReadBps: %s, want %s", got, want)
	}
	bad := d.name("dthrottle")
	d.fails(125, []string{"not a block device"}, "run", "--name", bad, "--device-read-bps", "/dev/null:1mb", "busybox", "true")
	if d.exists(bad) {
		t.Errorf("a refused throttle left container %s", bad)
	}
}
