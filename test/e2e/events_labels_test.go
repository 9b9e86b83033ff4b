package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestEventLabels: as Docker, a container's events carry its labels, so
// events --filter label=... selects them, also after a berthd restart
// (labels read back from containerd).
func TestEventLabels(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	since := time.Now().Add(-time.Second).Format(time.RFC3339Nano)
	tagged, plain := c.name("ev-tagged"), c.name("ev-plain")
	c.ok("run", "-d", "--name", tagged, "--label", "team=blue", "busybox", "sleep", "1000")
	c.ok("run", "-d", "--name", plain, "busybox", "sleep", "1000")
	events := func(since, filter string) string {
		return c.ok("events", "--since", since, "--until", time.Now().Format(time.RFC3339Nano),
			"--filter", filter, "--format", "{{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes \"team\"}}")
	}
	check := func(since string, actions ...string) {
		t.Helper()
		for _, filter := range []string{"label=team=blue", "label=team"} {
			out := events(since, filter)
			for _, a := range actions {
				if want := a + " " + tagged + " blue"; !strings.Contains(out, want) {
					t.Errorf("events --filter %s lack %q:\n%s", filter, want, out)
				}
			}
			if strings.Contains(out, plain) {
				t.Errorf("events --filter %s show %s, which has no such label:\n%s", filter, plain, out)
			}
		}
		if out := events(since, "label=team=red"); strings.Contains(out, tagged) {
			t.Errorf("events --filter label=team=red show %s:\n%s", tagged, out)
		}
	}
	check(since, "create", "start")
	// berthd's event history starts again with it: the labels come back
	// from containerd.
	s.KillDaemon()
	s.StartDaemon()
	since = time.Now().Add(-time.Second).Format(time.RFC3339Nano)
	c.ok("kill", tagged)
	c.ok("kill", plain)
	c.waitStatus(tagged, "exited")
	c.waitStatus(plain, "exited")
	check(since, "kill", "die")
}
