package e2e

import (
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestPruneNotLabel checks label!= in container prune and system prune
// (issue 15), with berth's CLI and the docker CLI over the Docker API: each
// prune is scoped to its own owner label, and label!=keep spares the
// objects labelled keep.
func TestPruneNotLabel(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	t.Run("ContainerPrune", func(t *testing.T) {
		t.Parallel()
		testContainerPruneNotLabel(t, cli{t: t, s: s}, "berth")
	})
	t.Run("DockerContainerPrune", func(t *testing.T) {
		t.Parallel()
		testContainerPruneNotLabel(t, dockerCLI(t, s, dockerBin(t), t.TempDir()), "docker")
	})
	t.Run("SystemPrune", func(t *testing.T) {
		t.Parallel()
		testSystemPruneNotLabel(t, cli{t: t, s: s})
	})
	t.Run("BadFilter", func(t *testing.T) {
		t.Parallel()
		c := cli{t: t, s: s}
		c.fails(1, []string{`invalid filter "nolabel"`, "label!=KEY[=VALUE]"}, "container", "prune", "-f", "--filter", "nolabel=x")
	})
}

func testContainerPruneNotLabel(t *testing.T, c cli, who string) {
	owner := "owner=" + c.name(who+"-prune")
	keep, keep2, gone := c.name("keep"), c.name("keep2"), c.name("gone")
	c.ok("create", "--name", keep, "--label", owner, "--label", "keep", "busybox", "true")
	c.ok("create", "--name", keep2, "--label", owner, "--label", "keep=yes", "busybox", "true")
	c.ok("run", "--name", gone, "--label", owner, "--label", "keep=no-but-present", "--label", "other", "busybox", "true")
	// label!=keep=yes spares only keep2; label!=keep would spare all three.
	out := c.ok("container", "prune", "-f", "--filter", "label="+owner, "--filter", "label!=keep=yes", "--filter", "label!=other=x")
	if c.exists(keep) || !c.exists(keep2) || c.exists(gone) {
		t.Fatalf("container prune label!=keep=yes: %s kept %v (want no), %s kept %v (want yes), %s kept %v (want no)\n%s",
			keep, c.exists(keep), keep2, c.exists(keep2), gone, c.exists(gone), out)
	}
	c.ok("run", "--name", gone, "--label", owner, "busybox", "true")
	out = c.ok("container", "prune", "-f", "--filter", "label="+owner, "--filter", "label!=keep")
	if !c.exists(keep2) || c.exists(gone) {
		t.Errorf("container prune label!=keep: %s kept %v (want yes), %s kept %v (want no)\n%s", keep2, c.exists(keep2), gone, c.exists(gone), out)
	}
}

func testSystemPruneNotLabel(t *testing.T, c cli) {
	owner := "owner=" + c.name("sysprune")
	keep, gone := c.name("skeep"), c.name("sgone")
	keepNet, goneNet := c.name("skeepnet"), c.name("sgonenet")
	t.Cleanup(func() { c.run("network", "rm", keepNet, goneNet) })
	c.ok("create", "--name", keep, "--label", owner, "--label", "keep", "busybox", "true")
	c.ok("create", "--name", gone, "--label", owner, "busybox", "true")
	c.ok("network", "create", "--label", owner, "--label", "keep", keepNet)
	c.ok("network", "create", "--label", owner, goneNet)
	out := c.ok("system", "prune", "-f", "--filter", "label="+owner, "--filter", "label!=keep")
	if !c.exists(keep) || c.exists(gone) {
		t.Errorf("system prune label!=keep: %s kept %v (want yes), %s kept %v (want no)\n%s", keep, c.exists(keep), gone, c.exists(gone), out)
	}
	nets := c.ok("network", "ls", "--format", "{{.Name}}")
	if !strings.Contains(nets, keepNet) || strings.Contains(nets, goneNet) {
		t.Errorf("system prune label!=keep: networks left %q, want %s and not %s\n%s", nets, keepNet, goneNet, out)
	}
}
