package e2e

import (
	"syscall"
	"testing"
	"time"
)

// testSigProxy: a signal sent to a foreground `berth run` reaches the
// container (--sig-proxy, on by default), and berth exits with the
// container's code.
func testSigProxy(t *testing.T, c cli) {
	name := c.name("sigproxy")
	defer c.cleanup(name)
	st := c.start("run", "--name", name, "busybox", "sh", "-c",
		`trap 'echo got-term; exit 9' TERM; echo ready; while true; do sleep 0.1; done`)
	st.waitFor("ready\n", 30*time.Second)
	if err := st.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := st.wait(30 * time.Second); code != 9 {
		t.Fatalf("berth run after SIGTERM: exit %d, want the container's 9; output %q stderr %q", code, st.output(), st.stderr())
	}
	st.waitFor("got-term\n", 5*time.Second)
}
