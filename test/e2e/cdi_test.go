package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestCDIDevices gives a private stack a CDI spec dir in its config file
// (cdi_spec_dirs): a container run with --device vendor/class=name gets
// the device's node, env and mount, through berth's CLI and the docker
// CLI; an unknown device is refused by name and leaves no container;
// info lists the dirs and the devices, a spec written later too.
func TestCDIDevices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	specs := filepath.Join(dir, "cdi")
	if err := os.Mkdir(specs, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, []byte("from-the-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSpec := func(file, spec string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(specs, file), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeSpec("berth-test.json", fmt.Sprintf(`{
		"cdiVersion": "0.6.0",
		"kind": "berth.test/device",
		"containerEdits": {"env": ["BERTH_CDI_VENDOR=berth.test"]},
		"devices": [{
			"name": "null0",
			"containerEdits": {
				"deviceNodes": [{"path": "/dev/berth-null", "hostPath": "/dev/null"}],
				"env": ["BERTH_CDI_DEVICE=null0"],
				"mounts": [{"hostPath": %q, "containerPath": "/cdi/marker", "options": ["ro", "bind"]}]
			}
		}]
	}`, marker))
	conf := filepath.Join(dir, "berthd.toml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "cdi_spec_dirs = [%q]\n", specs), 0o644); err != nil {
		t.Fatal(err)
	}
	s := harness.Start(t, harness.WithDaemonArgs("--config", conf))
	s.LoadBusybox()
	c := cli{t: t, s: s}

	const script = `echo "$BERTH_CDI_VENDOR $BERTH_CDI_DEVICE"; stat -c '%F %t:%T' /dev/berth-null; echo hi > /dev/berth-null && cat /cdi/marker`
	want := "berth.test null0\ncharacter special file 1:3\nfrom-the-host"
	if out := c.ok("run", "--rm", "--network", "none", "--device", "berth.test/device=null0", "busybox", "sh", "-c", script); out != want {
		t.Errorf("berth run --device berth.test/device=null0:\n%s\nwant:\n%s", out, want)
	}

	if got := c.ok("info", "--format", "{{json .CDISpecDirs}} {{json .CDIDevices}}"); got != fmt.Sprintf(`[%q] ["berth.test/device=null0"]`, specs) {
		t.Errorf("berth info's CDI dirs and devices: %s", got)
	}

	name := c.name("cdi-unknown")
	c.fails(125, []string{"unresolvable CDI devices berth.test/device=nope"},
		"run", "--name", name, "--device", "berth.test/device=nope", "busybox", "true")
	if c.exists(name) {
		t.Errorf("a refused CDI device left container %s", name)
	}

	t.Run("DockerCLI", func(t *testing.T) {
		d := dockerCLI(t, s, dockerBin(t), t.TempDir())
		if out := d.ok("run", "--rm", "--network", "none", "--device", "berth.test/device=null0", "busybox", "sh", "-c", script); out != want {
			t.Errorf("docker run --device berth.test/device=null0:\n%s\nwant:\n%s", out, want)
		}
		name := c.name("cdi-docker")
		d.ok("create", "--name", name, "--device", "berth.test/device=null0", "busybox", "true")
		defer c.cleanup(name)
		if got := d.inspect(name, "{{json .HostConfig.DeviceRequests}}"); !strings.Contains(got, `"Driver":"cdi"`) || !strings.Contains(got, `"DeviceIDs":["berth.test/device=null0"]`) {
			t.Errorf("docker inspect's DeviceRequests: %s", got)
		}
		d.fails(125, []string{"unresolvable CDI devices berth.test/device=nope"}, "run", "--rm", "--device", "berth.test/device=nope", "busybox", "true")

		if got := d.ok("info", "--format", "{{json .CDISpecDirs}}"); got != fmt.Sprintf("[%q]", specs) {
			t.Errorf("docker info's CDISpecDirs: %s", got)
		}
		writeSpec("later.yaml", "cdiVersion: \"0.5.0\"\nkind: berth.test/later\ndevices:\n- name: one\n  containerEdits:\n    env: [LATER=1]\n")
		want := `[{"Source":"cdi","ID":"berth.test/device=null0"},{"Source":"cdi","ID":"berth.test/later=one"}]`
		if got := d.ok("info", "--format", "{{json .DiscoveredDevices}}"); got != want {
			t.Errorf("docker info's DiscoveredDevices: %s, want %s", got, want)
		}
	})
}
