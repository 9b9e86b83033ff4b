package network

import (
	"fmt"
	"testing"
)

// FuzzParsePortSpec: a -p spec gives mappings that, written back as a
// spec, parse to themselves.
func FuzzParsePortSpec(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "127.0.0.1:8080:80/udp", "1000-1002:2000-2002/TCP",
		":80", "0.0.0.0::80", "[::1]:80:80", "[fd00::5]::80/udp", "[::]:1:2", "[::1]:80", "::1:80", "80/sctp", "65536", "1-65535", "5-4", "1:2:3:4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ms, err := ParsePortSpec(spec)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.ContainerPort == 0 || (m.Proto != "tcp" && m.Proto != "udp") || (m.HostIP.IsValid() && (m.HostIP.IsUnspecified() || m.HostIP.Is4In6())) {
				t.Fatalf("%q gives %+v", spec, m)
			}
			ip := ""
			if m.HostIP.IsValid() {
				ip = m.HostIP.String()
				if m.HostIP.Is6() {
					ip = "[" + ip + "]"
				}
			}
			host := ""
			if m.HostPort != 0 {
				host = fmt.Sprint(m.HostPort)
			}
			back := fmt.Sprintf("%s:%s:%d/%s", ip, host, m.ContainerPort, m.Proto)
			again, err := ParsePortSpec(back)
			if err != nil || len(again) != 1 || again[0] != m {
				t.Fatalf("%q: mapping %+v written as %q parses to %+v, %v", spec, m, back, again, err)
			}
		}
	})
}
