package shim_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestOrphanEndsWithContainerd: a shim whose task containerd never creates
// ends when that containerd goes away. containerd runs the shim's `start`
// under its client's task create and, when the client goes away (berthd
// killed during a start), kills `start` or drops its answer and forgets the
// task; the shim that `start` had set up served its socket for good
// (TestLifecycleStress found such shims left behind). Here the shim's
// `start` runs as containerd runs it, against a stand-in for containerd's
// ttrpc socket that then goes away, and nobody connects to the shim.
func TestOrphanEndsWithContainerd(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	if err := os.Mkdir(bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	ttrpcSock := filepath.Join(dir, "ttrpc.sock")
	l, err := net.Listen("unix", ttrpcSock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()

	cmd := exec.Command(st.shimBin, "-namespace", testNS, "-id", "orphan", "-address", filepath.Join(dir, "c.sock"), "start")
	cmd.Dir = bundle
	cmd.Env = append(os.Environ(), "TTRPC_ADDRESS="+ttrpcSock, "BERTH_SHIM_SOCKET_DIR="+filepath.Join(dir, "s"))
	cmd.Stdin = bytes.NewReader(nil)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shim start: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(bundle, "shim.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !isShim(st.shimBin, pid) {
		t.Fatalf("no shim after start: pid %q (%v)", b, err)
	}
	t.Cleanup(func() {
		if isShim(st.shimBin, pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	addr, _ := os.ReadFile(filepath.Join(bundle, "address"))
	socket := strings.TrimPrefix(strings.TrimSpace(string(addr)), "unix://")

	// The shim connects to "containerd", which then goes away.
	ctx := ctxT(t)
	select {
	case c := <-conns:
		c.Close()
	case <-ctx.Done():
		t.Fatal("the shim did not connect to containerd's ttrpc socket")
	}
	l.Close()
	for c := range conns {
		c.Close()
	}
	eventually(t, ctx, "the orphan shim's end", func() bool { return !isShim(st.shimBin, pid) })
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("the orphan's socket %s is left: %v", socket, err)
	}
}
