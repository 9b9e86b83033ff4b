package container

import (
	"testing"

	"github.com/containerd/errdefs"
)

func TestParseBind(t *testing.T) {
	for in, want := range map[string]MountSpec{
		"/data":                   {Type: "volume", Target: "/data"},
		"vol:/data":               {Type: "volume", Source: "vol", Target: "/data"},
		"vol:/data:ro":            {Type: "volume", Source: "vol", Target: "/data", ReadOnly: true},
		"vol:/data:ro,nocopy":     {Type: "volume", Source: "vol", Target: "/data", ReadOnly: true, VolumeNoCopy: true},
		"/host:/data":             {Type: "bind", Source: "/host", Target: "/data"},
		"/host:/data:rw,rslave,z": {Type: "bind", Source: "/host", Target: "/data", BindPropagation: "rslave"},
	} {
		got, err := ParseBind(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"relative", "vol:relative", ":/x", "a:/b:c:d", "vol:/x:bogus", "/h:/x:nocopy", "vol:/x:rshared"} {
		if _, err := ParseBind(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want invalid argument", bad, err)
		}
	}
}
