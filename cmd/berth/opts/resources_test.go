package opts

import (
	"errors"
	"os"
	"testing"

	"github.com/berthproject/berth/pkg/types/container"
)

func TestDevice(t *testing.T) {
	for in, want := range map[string]container.DeviceMapping{
		"/dev/kmsg":           {PathOnHost: "/dev/kmsg", PathInContainer: "/dev/kmsg", CgroupPermissions: "rwm"},
		"/dev/kmsg:r":         {PathOnHost: "/dev/kmsg", PathInContainer: "/dev/kmsg", CgroupPermissions: "r"},
		"/dev/kmsg:/dev/k":    {PathOnHost: "/dev/kmsg", PathInContainer: "/dev/k", CgroupPermissions: "rwm"},
		"/dev/kmsg:/dev/k:rw": {PathOnHost: "/dev/kmsg", PathInContainer: "/dev/k", CgroupPermissions: "rw"},
	} {
		got, err := Device(in)
		if err != nil || got != want {
			t.Errorf("Device(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ":/dev/x", "/dev/a:/dev/b:x", "/a:/b:r:w"} {
		if _, err := Device(bad); err == nil {
			t.Errorf("Device(%q) accepted", bad)
		}
	}
}

func TestUlimit(t *testing.T) {
	if u, err := Ulimit("NOFILE=512:1024"); err != nil || u != (container.Ulimit{Name: "nofile", Soft: 512, Hard: 1024}) {
		t.Errorf("nofile=512:1024: %+v %v", u, err)
	}
	if u, err := Ulimit("nproc=64"); err != nil || u.Soft != 64 || u.Hard != 64 {
		t.Errorf("nproc=64: %+v %v", u, err)
	}
	for _, bad := range []string{"nofile", "=1", "nofile=x", "nofile=1:y"} {
		if _, err := Ulimit(bad); err == nil {
			t.Errorf("Ulimit(%q) accepted", bad)
		}
	}
}

func TestNanoCPUs(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "1": 1e9, "0.5": 5e8, "1.25": 1_250_000_000} {
		if got, err := NanoCPUs(in); err != nil || got != want {
			t.Errorf("NanoCPUs(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "-1", "0.001", "Inf"} {
		if _, err := NanoCPUs(bad); err == nil {
			t.Errorf("NanoCPUs(%q) accepted", bad)
		}
	}
}

func TestSecurityOpts(t *testing.T) {
	read := func(p string) ([]byte, error) {
		if p == "p.json" {
			return []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), nil
		}
		return nil, os.ErrNotExist
	}
	got, err := SecurityOpts([]string{"seccomp=p.json", "seccomp=unconfined", "no-new-privileges", "apparmor=x"}, read)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`, "seccomp=unconfined", "no-new-privileges", "apparmor=x"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("opt %d: %q, want %q", i, got[i], want[i])
		}
	}
	if _, err := SecurityOpts([]string{"seccomp=missing.json"}, read); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing profile: %v", err)
	}
}

func TestSysctls(t *testing.T) {
	m, err := Sysctls([]string{"net.ipv4.ip_forward=1", "kernel.shmmax=a=b"})
	if err != nil || m["net.ipv4.ip_forward"] != "1" || m["kernel.shmmax"] != "a=b" {
		t.Errorf("%v %v", m, err)
	}
	if _, err := Sysctls([]string{"novalue"}); err == nil {
		t.Error("a sysctl without a value accepted")
	}
}
