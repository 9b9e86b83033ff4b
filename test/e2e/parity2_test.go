package e2e

import (
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestParityTail checks the tail of issue 15's missing commands and flags
// (network create's IPAM flags, --log-driver): subtests share one stack,
// each with its own names.
func TestParityTail(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c cli)
	}{
		{"AuxAddress", func(t *testing.T, c cli) { testAuxAddress(t, c, testSubnet(t, s, 5), testSubnet(t, s, 6)) }},
		{"LogDriver", func(t *testing.T, c cli) { testLogDriver(t, c, s.Dir()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, cli{t: t, s: s})
		})
	}
}

// testAuxAddress: network create --aux-address reserves addresses no
// container ever gets (nor by --ip); --ipam-opt is kept; a bad aux address
// is refused and leaves no network behind.
func testAuxAddress(t *testing.T, c cli, sub, other string) {
	n := "aux-" + strings.ToLower(c.name("x"))
	t.Cleanup(func() { c.run("network", "rm", n) })
	ip := func(h int) string { return ipIn(sub, h) }
	// The range holds .1 (the gateway) to .6: with .2, .3 and .5 reserved,
	// containers get .4 and .6.
	c.ok("network", "create", "--subnet", sub, "--ip-range", strings.TrimSuffix(sub, "/24")+"/29",
		"--aux-address", "router="+ip(2), "--aux-address", "printer="+ip(3), "--aux-address", "nas="+ip(5),
		"--ipam-opt", "team=blue", n)

	got := c.ok("network", "inspect", "--format", "{{json .IPAM}}", n)
	for _, want := range []string{`"router":"` + ip(2) + `"`, `"nas":"` + ip(5) + `"`, `"team":"blue"`} {
		if !strings.Contains(got, want) {
			t.Errorf("network inspect IPAM: want %s; got %s", want, got)
		}
	}

	addr := `ip -o -4 addr show eth0 | awk '{print $4}'`
	var ips []string
	for _, name := range []string{c.name("auxa"), c.name("auxb")} {
		c.ok("run", "-d", "--name", name, "--network", n, "busybox", "sleep", "1000")
		ips = append(ips, c.ok("exec", name, "sh", "-c", addr))
	}
	sort.Strings(ips)
	if want := []string{ip(4) + "/24", ip(6) + "/24"}; !slices.Equal(ips, want) {
		t.Errorf("containers on a network with aux addresses: want %v; got %v", want, ips)
	}
	c.fails(125, []string{ip(2) + " of network " + n + " is reserved for router"},
		"run", "--rm", "--network", n, "--ip", ip(2), "busybox", "true")

	// Bad aux addresses: refused, nothing left behind.
	bad := "auxbad-" + strings.ToLower(c.name("x"))
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--subnet", other, "--aux-address", "x=" + ip(9)}, "not a host address of subnet"},
		{[]string{"--subnet", other, "--aux-address", "x=" + ipIn(other, 1)}, "gateway"},
		{[]string{"--aux-address", "x=" + ipIn(other, 9)}, "needs a subnet"},
		{[]string{"--subnet", other, "--aux-address", "x=nope"}, "want NAME=IP"},
	} {
		r := c.run(append(append([]string{"network", "create"}, tc.args...), bad)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("want a failure saying %q; got %s", tc.msg, r)
		}
		if r := c.run("network", "inspect", bad); r.code == 0 {
			t.Errorf("a refused network create left network %s", bad)
			c.run("network", "rm", bad)
		}
	}
}

// logFiles lists the log files of container id under the stack's dir.
func logFiles(t *testing.T, dir, id string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), id+"-json.log") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// testLogDriver: --log-driver none keeps no log (logs says so, in
// Docker's words) while a foreground run still prints; local and
// json-file are berth's log file; another driver is refused before
// anything is created.
func testLogDriver(t *testing.T, c cli, dir string) {
	none := c.name("lognone")
	if out := c.ok("run", "--name", none, "--log-driver", "none", "busybox", "echo", "hello from none"); out != "hello from none" {
		t.Errorf("run --log-driver none: want the output on the terminal; got %q", out)
	}
	c.fails(1, []string{"configured logging driver does not support reading"}, "logs", none)
	id := c.inspect(none, "{{.ID}}")
	if files := logFiles(t, dir, id); len(files) > 0 {
		t.Errorf("--log-driver none: want no log file; got %v", files)
	}
	if got := c.inspect(none, "{{.HostConfig.LogConfig.Type}}"); got != "none" {
		t.Errorf("inspect HostConfig.LogConfig.Type: want none; got %q", got)
	}

	for _, driver := range []string{"local", "json-file"} {
		n := c.name("log" + strings.ReplaceAll(driver, "-", ""))
		c.ok("run", "--name", n, "--log-driver", driver, "busybox", "echo", "hello from "+driver)
		if out := c.ok("logs", n); out != "hello from "+driver {
			t.Errorf("logs of a --log-driver %s container: want its output; got %q", driver, out)
		}
		// --details: Docker writes each line's attributes, then a space;
		// with none set, the space alone.
		if r := c.run("logs", "--details", n); r.code != 0 || r.stdout != " hello from "+driver+"\n" {
			t.Errorf("logs --details: want %q; got %s", " hello from "+driver+"\n", r)
		}
		if files := logFiles(t, dir, c.inspect(n, "{{.ID}}")); len(files) == 0 {
			t.Errorf("--log-driver %s: want a log file; got none", driver)
		}
	}

	bad := c.name("logbad")
	c.fails(125, []string{`log driver "syslog" is not supported: use json-file, local or none`},
		"run", "--name", bad, "--log-driver", "syslog", "busybox", "true")
	c.fails(125, []string{"the none log driver takes no log options"},
		"run", "--name", bad, "--log-driver", "none", "--log-opt", "max-size=1m", "busybox", "true")
	if c.exists(bad) {
		t.Errorf("a refused run left container %s", bad)
	}
}
