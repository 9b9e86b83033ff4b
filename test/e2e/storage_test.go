package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestStorage: berth's snapshotter (the default) accounts for what
// containers write, `system df` shows it, and a writable-layer size limit is
// refused with a clear error where it cannot be enforced.
func TestStorage(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}

	if got := c.ok("info", "--format", "{{.Snapshotter}}"); got != "berth" {
		t.Fatalf("default snapshotter = %q, want berth", got)
	}
	name := c.name("writer")
	c.ok("run", "--name", name, "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=3")
	defer c.cleanup(name)

	df := c.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
	for _, want := range []string{"Images 1 1", "Containers 1 0"} {
		if !strings.Contains(df, want) {
			t.Errorf("system df: %q has no %q", df, want)
		}
	}
	verbose := c.ok("system", "df", "-v")
	var sizeCol string
	for _, l := range lines(verbose) {
		if strings.Contains(l, name) {
			sizeCol = l
		}
	}
	if !strings.Contains(sizeCol, "MB") {
		t.Fatalf("system df -v: the container's line %q does not show its 3 MB layer\n%s", sizeCol, verbose)
	}
	fields := strings.Fields(sizeCol)
	mb, err := strconv.ParseFloat(strings.TrimSuffix(fields[2], "MB"), 64)
	if err != nil || mb < 3 || mb > 3.5 {
		t.Fatalf("writable layer size %q, want about 3.1MB (3 MiB written)", fields[2])
	}

	// Where the backing file system has no project quotas (this machine's
	// kernel has none), a size limit is refused, never silently ignored,
	// and nothing is left behind.
	before := c.ok("ps", "-aq")
	r := c.fails(125, []string{"quota"}, "run", "--rm", "--storage-opt", "size=10M", "busybox", "true")
	if c.ok("ps", "-aq") != before {
		t.Fatalf("a refused --storage-opt left a container: %s", r)
	}
	c.fails(125, []string{"unknown --storage-opt"}, "run", "--rm", "--storage-opt", "bogus=1", "busybox", "true")
}
