package network

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestParsePortSpec(t *testing.T) {
	cases := []struct {
		spec string
		want string // PortMapping.String() of each, comma separated
		bad  bool
	}{
		{spec: "80", want: "0.0.0.0:0->80/tcp"},
		{spec: "8080:80", want: "0.0.0.0:8080->80/tcp"},
		{spec: "127.0.0.1:8080:80/udp", want: "127.0.0.1:8080->80/udp"},
		{spec: "127.0.0.1::80", want: "127.0.0.1:0->80/tcp"},
		{spec: "8000-8001:80-81", want: "0.0.0.0:8000->80/tcp,0.0.0.0:8001->81/tcp"},
		{spec: "8000-8002:80-81", bad: true},
		{spec: "0:80", bad: true},
		{spec: "80/sctp", bad: true},
		{spec: "70000:80", bad: true},
		{spec: "a:b:c:d", bad: true},
	}
	for _, c := range cases {
		got, err := ParsePortSpec(c.spec)
		if c.bad {
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("%s: want invalid argument, got %v %v", c.spec, got, err)
			}
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if err != nil || strings.Join(s, ",") != c.want {
			t.Errorf("%s: got %v %v, want %s", c.spec, s, err, c.want)
		}
	}
}
