package e2e

import (
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestLinks drives legacy links (--link NAME[:ALIAS]) with berth's CLI and
// the docker CLI against one stack, as a user of an old compose file or
// script does: on the default bridge the parent finds the child by alias
// (/etc/hosts) and in its environment; the link survives renames of either
// side and a berthd restart; rm --link and removing the child end it; on a
// user-defined network the alias resolves for the parent alone.
func TestLinks(t *testing.T) {
	s := harness.Start(t)
	s.LoadBusybox()
	b := cli{t: t, s: s}
	d := dockerCLI(t, s, dockerBin(t), t.TempDir())

	db := b.name("db")
	app := b.name("app")
	b.ok("run", "-d", "--name", db, "--hostname", "dbhost", "-e", "DBPASS=secret", "--expose", "5432",
		"busybox", "sleep", "600")
	ip := b.inspect(db, "{{.NetworkSettings.IPAddress}}")
	if ip == "" {
		t.Fatalf("db has no address on the default bridge")
	}

	t.Run("BridgeHostsAndEnv", func(t *testing.T) {
		b := cli{t: t, s: s}
		out := b.ok("run", "--rm", "--link", db+":mydb", "busybox", "sh", "-c",
			"cat /etc/hosts; env | sort; ping -c1 -W5 mydb >/dev/null && echo PING-OK")
		for _, want := range []string{
			ip + "\tmydb dbhost " + db,
			"MYDB_NAME=/", // /<random name>/mydb
			"MYDB_ENV_DBPASS=secret",
			"MYDB_PORT=tcp://" + ip + ":5432",
			"MYDB_PORT_5432_TCP=tcp://" + ip + ":5432",
			"MYDB_PORT_5432_TCP_ADDR=" + ip,
			"MYDB_PORT_5432_TCP_PORT=5432",
			"MYDB_PORT_5432_TCP_PROTO=tcp",
			"PING-OK",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in the linking container's hosts and env:\n%s", want, out)
			}
		}
		for _, bad := range []string{"MYDB_ENV_PATH=", "MYDB_ENV_HOSTNAME="} {
			if strings.Contains(out, bad) {
				t.Errorf("%q should not be passed on:\n%s", bad, out)
			}
		}
	})

	t.Run("MissingTarget", func(t *testing.T) {
		b, d := cli{t: t, s: s}, dockerCLI(t, s, dockerBin(t), t.TempDir())
		n := b.name("nolink")
		if r := b.run("create", "--name", n, "--link", "no-such-container", "busybox", "true"); r.code == 0 ||
			!strings.Contains(r.stderr, "could not get container for no-such-container") {
			t.Errorf("berth create --link to a missing container: %s", r)
		}
		if r := d.run("create", "--name", n, "--link", "no-such-container:x", "busybox", "true"); r.code == 0 ||
			!strings.Contains(r.stderr, "could not get container for no-such-container") {
			t.Errorf("docker create --link to a missing container: %s", r)
		}
		if b.exists(n) {
			t.Errorf("a refused create left container %s", n)
		}
		b.fails(125, []string{"host type networking can't be used with links"}, "create", "--network", "host", "--link", db, "busybox", "true")
	})

	// The parent: names, inspect, renames, restart of berthd, rm --link.
	b.ok("run", "-d", "--name", app, "--link", db+":mydb", "busybox", "sleep", "600")
	if got := d.inspect(app, "{{json .HostConfig.Links}}"); got != `["/`+db+`:/`+app+`/mydb"]` {
		t.Errorf("docker inspect HostConfig.Links: %s", got)
	}
	if got := d.ok("ps", "--no-trunc", "--filter", "name="+db, "--format", "{{.Names}}"); got != db+","+app+"/mydb" {
		t.Errorf("docker ps Names of the child: %q", got)
	}
	if got := b.ok("ps", "--filter", "name="+db, "--format", "{{.Names}}"); got != db {
		t.Errorf("berth ps Names of the child: %q", got)
	}
	if got := b.ok("ps", "--no-trunc", "--filter", "name="+db, "--format", "{{.Names}}"); got != db+","+app+"/mydb" {
		t.Errorf("berth ps --no-trunc Names of the child: %q", got)
	}
	if got := d.inspect(app+"/mydb", "{{.Name}}"); got != "/"+db {
		t.Errorf("inspect %s/mydb: %q, want the child", app, got)
	}

	db2, app2 := db+"-r", app+"-r"
	b.cleanup(db2, app2)
	d.ok("rename", db, db2)
	d.ok("rename", app, app2)
	if got := d.inspect(app2, "{{json .HostConfig.Links}}"); got != `["/`+db2+`:/`+app2+`/mydb"]` {
		t.Errorf("HostConfig.Links after both renames: %s", got)
	}
	if got := d.inspect(app2+"/mydb", "{{.Name}}"); got != "/"+db2 {
		t.Errorf("inspect %s/mydb after renames: %q", app2, got)
	}
	s.Restart()
	if got := d.inspect(app2, "{{json .HostConfig.Links}}"); got != `["/`+db2+`:/`+app2+`/mydb"]` {
		t.Errorf("HostConfig.Links after berthd restarted: %s", got)
	}
	d.ok("restart", "-t", "0", app2)
	if out := d.ok("exec", app2, "cat", "/etc/hosts"); !strings.Contains(out, d.inspect(db2, "{{.NetworkSettings.IPAddress}}")+"\tmydb dbhost "+db2) {
		t.Errorf("hosts after the child's rename and the parent's restart:\n%s", out)
	}
	if out := d.ok("exec", app2, "env"); !strings.Contains(out, "MYDB_NAME=/"+app2+"/mydb") || strings.Count(out, "MYDB_NAME=") != 1 {
		t.Errorf("env after the parent's rename and restart:\n%s", out)
	}
	// They are the run's: inspect's Config.Env does not show them, as dockerd's.
	if env := d.inspect(app2, "{{json .Config.Env}}"); strings.Contains(env, "MYDB_") {
		t.Errorf("inspect Config.Env shows the link's variables: %s", env)
	}

	// A stopped child cannot be linked to when the parent starts.
	d.ok("stop", "-t", "0", app2, db2)
	d.fails(1, []string{"Cannot link to a non running container: /" + db2 + " AS /" + app2 + "/mydb"}, "start", app2)
	d.ok("start", db2)
	d.ok("start", app2)

	// The child restarts, another container in its old address: the
	// running parent's /etc/hosts follows, as under dockerd.
	ip1 := d.inspect(db2, "{{.NetworkSettings.IPAddress}}")
	d.ok("stop", "-t", "0", db2)
	filler := b.name("filler")
	d.ok("run", "-d", "--name", filler, "busybox", "sleep", "600")
	d.ok("start", db2)
	ip2 := d.inspect(db2, "{{.NetworkSettings.IPAddress}}")
	if ip2 == ip1 {
		t.Logf("the child kept its address %s across the restart", ip1)
	}
	hosts := d.ok("exec", app2, "cat", "/etc/hosts")
	if !strings.Contains(hosts, ip2+"\tmydb dbhost "+db2) || (ip1 != ip2 && strings.Contains(hosts, ip1+"\tmydb")) {
		t.Errorf("the parent's hosts after the child restarted at %s (was %s):\n%s", ip2, ip1, hosts)
	}

	// rm --link ends the link; the containers stay.
	d.fails(1, []string{"cannot remove the default link name"}, "rm", "--link", db2)
	d.ok("rm", "--link", "/"+app2+"/mydb")
	if got := d.inspect(app2, "{{json .HostConfig.Links}}"); got != "null" {
		t.Errorf("HostConfig.Links after rm --link: %s", got)
	}
	if !d.exists(db2) || !d.exists(app2) {
		t.Errorf("rm --link removed a container")
	}
	d.ok("restart", "-t", "0", app2)
	if out := d.ok("exec", app2, "env"); strings.Contains(out, "MYDB_") {
		t.Errorf("link variables after rm --link and a restart:\n%s", out)
	}

	// Removing the child removes the links to it.
	app3 := b.name("app3")
	d.ok("run", "-d", "--name", app3, "--link", db2, "busybox", "sleep", "600")
	if got := d.inspect(app3, "{{json .HostConfig.Links}}"); got != `["/`+db2+`:/`+app3+`/`+db2+`"]` {
		t.Errorf("HostConfig.Links with the name as alias: %s", got)
	}
	d.ok("rm", "-f", db2)
	if got := d.inspect(app3, "{{json .HostConfig.Links}}"); got != "null" {
		t.Errorf("HostConfig.Links after the child was removed: %s", got)
	}
	d.ok("restart", "-t", "0", app3)

	t.Run("UserDefinedNetwork", func(t *testing.T) {
		d := dockerCLI(t, s, dockerBin(t), t.TempDir())
		net := d.name("lnet")
		d.ok("network", "create", net)
		t.Cleanup(func() { d.run("network", "rm", net) })
		srv := d.name("lsrv")
		d.ok("run", "-d", "--name", srv, "--network", net, "busybox", "sleep", "600")
		sip := d.inspect(srv, "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}")
		out := d.ok("run", "--rm", "--network", net, "--link", srv+":dbalias", "busybox", "nslookup", "dbalias")
		if !strings.Contains(out, sip) {
			t.Errorf("nslookup dbalias from the linking container: want %s in %q", sip, out)
		}
		// Another container of the network does not know the alias.
		if r := d.run("run", "--rm", "--network", net, "busybox", "nslookup", "dbalias"); strings.Contains(r.stdout, sip) {
			t.Errorf("nslookup dbalias from another container: %s", r)
		}
		// Links given when connecting a network are refused, not dropped.
		other := d.name("lother")
		d.ok("create", "--name", other, "busybox", "true")
		d.fails(1, []string{"links when connecting a network"}, "network", "connect", "--link", srv+":x", net, other)
		// Nothing is checked at create on a user-defined network, as dockerd.
		d.ok("create", "--name", d.name("lnone"), "--network", net, "--link", "nosuch:x", "busybox", "true")
	})
}
