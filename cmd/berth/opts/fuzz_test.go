package opts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseMount: a --mount value gives a mount with a type, a target and
// a size that is not negative, or an error that names the value.
func FuzzParseMount(f *testing.F) {
	for _, s := range []string{
		"type=bind,src=/a,dst=/b,ro", "type=volume,source=v,target=/d,volume-nocopy=true",
		"type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770", "type=tmpfs,dst=/t,tmpfs-size=NaN",
		"type=tmpfs,dst=/t,tmpfs-size=1e300g", "type=tmpfs,dst=/t,tmpfs-size=inf", "target",
		"dst=/x,readonly=maybe", ",,,", "type=bind,dst=/x", "type=image,src=i,dst=/x,image-subpath=a/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := ParseMount(v)
		if err != nil {
			if !strings.Contains(err.Error(), "--mount") {
				t.Fatalf("error does not say which flag: %v", err)
			}
			return
		}
		if m.Target == "" || (m.Type != "volume" && m.Type != "bind" && m.Type != "tmpfs" && m.Type != "image") {
			t.Fatalf("%q accepted as %+v", v, m)
		}
		if m.TmpfsSize < 0 {
			t.Fatalf("%q gives a negative tmpfs size %d", v, m.TmpfsSize)
		}
	})
}

// FuzzPortBindings: a -p value gives ports in 1-65535 (0: any free host
// port) and tcp or udp; the host and container ranges have the same length.
func FuzzPortBindings(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "127.0.0.1:8080:80/udp", "1000-1002:2000-2002",
		":80", "0.0.0.0::80", "[::1]:80:80", "80/sctp", "65536", "1-65535", "a:b:c:d", "5-4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		bs, err := PortBindings([]string{v})
		if err != nil {
			return
		}
		if len(bs) == 0 {
			t.Fatalf("%q accepted with no port", v)
		}
		for i, b := range bs {
			if b.ContainerPort == 0 || (b.Proto != "tcp" && b.Proto != "udp") {
				t.Fatalf("%q gives %+v", v, b)
			}
			if i > 0 && b.ContainerPort != bs[i-1].ContainerPort+1 {
				t.Fatalf("%q: ports not a range: %+v", v, bs)
			}
			if i > 0 && b.HostPort != 0 && b.HostPort != bs[i-1].HostPort+1 {
				t.Fatalf("%q: host ports not a range: %+v", v, bs)
			}
		}
	})
}

// FuzzExposedPorts: --expose gives port/proto entries with a valid port.
func FuzzExposedPorts(f *testing.F) {
	for _, s := range []string{"80", "80/udp", "8000-8010/tcp", "0", "70000", "9-1", "80/sctp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ps, err := ExposedPorts([]string{v})
		if err != nil {
			return
		}
		for _, p := range ps {
			port, proto, _ := strings.Cut(p, "/")
			if port == "0" || (proto != "tcp" && proto != "udp") {
				t.Fatalf("%q gives %q", v, p)
			}
		}
	})
}

// FuzzEnvFile: an --env-file gives KEY=VALUE entries with a name that is
// not empty and holds no blank, one per line that is not blank or a
// comment; a bad line is an error naming the file and the line.
func FuzzEnvFile(f *testing.F) {
	for _, s := range []string{"A=1\nB=2\n", "# c\n\nA\n", " A=x y\r\n", "=x\n", "A B=1\n",
		"\xff\xfe=\x00\n", strings.Repeat("x", 70000) + "=1\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "env")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		env, err := EnvFile(path, func(k string) (string, bool) { return "from-env", k == "SET" })
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, e := range env {
			k, _, ok := strings.Cut(e, "=")
			if !ok || k == "" || strings.ContainsAny(k, " \t\n") || strings.Contains(e, "\n") {
				t.Fatalf("%q: entry %q", content, e)
			}
		}
	})
}

// FuzzLabelFile: a --label-file read and parsed gives labels with a key,
// or an error; never a panic.
func FuzzLabelFile(f *testing.F) {
	for _, s := range []string{"a=b\n# c\nd\n", "=x\n", "\n\n", "k=v=w\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "labels")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		lines, err := LabelFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Labels(lines)
		if err != nil {
			return
		}
		for k := range m {
			if k == "" || strings.Contains(k, "\n") {
				t.Fatalf("%q: label key %q", content, k)
			}
		}
	})
}

// FuzzFilters: --filter key=value gives lower-case keys with their values.
func FuzzFilters(f *testing.F) {
	for _, s := range []string{"label=a=b", "STATUS=running", "=x", "noequals", "name="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := Filters([]string{v})
		if err != nil {
			return
		}
		for k := range m {
			if k == "" || k != strings.ToLower(k) {
				t.Fatalf("%q: key %q", v, k)
			}
		}
	})
}

// FuzzSmallParsers: the other flag parsers return a value or an error for
// any string, never a panic.
func FuzzSmallParsers(f *testing.F) {
	for _, s := range []string{"on-failure:3", "always", "1.5", "nofile=1024:2048", "/dev/sda:/dev/xvda:rwm",
		"net.ipv4.ip_forward=1", "ctrl-p,ctrl-q", "max-size=10m", "10m", "1700000000.5", "2026-01-02"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		_, _ = RestartPolicy(v)
		_, _ = LogConfig([]string{v})
		_, _ = NanoCPUs(v)
		_, _ = Ulimit(v)
		_, _ = Device(v)
		_, _ = Sysctls([]string{v})
		_, _ = DetachKeys(v)
		_, _ = Labels([]string{v})
		_, _ = Env([]string{v}, func(string) (string, bool) { return "", false })
		_, _ = SecurityOpts([]string{v}, func(string) ([]byte, error) { return []byte(v), nil })
	})
}
