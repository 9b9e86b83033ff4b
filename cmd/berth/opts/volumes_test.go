package opts

import (
	"testing"

	"github.com/berthproject/berth/pkg/types/container"
)

func TestParseMount(t *testing.T) {
	for in, want := range map[string]container.MountSpec{
		"target=/x":                                                         {Type: "volume", Target: "/x"},
		"type=volume,src=v,dst=/x,ro":                                       {Type: "volume", Source: "v", Target: "/x", ReadOnly: true},
		"source=v,target=/x,readonly=false":                                 {Type: "volume", Source: "v", Target: "/x"},
		"type=volume,source=v,destination=/x,volume-nocopy":                 {Type: "volume", Source: "v", Target: "/x", VolumeNoCopy: true},
		"type=bind,source=/h,target=/x,bind-propagation=rshared,readonly=1": {Type: "bind", Source: "/h", Target: "/x", BindPropagation: "rshared", ReadOnly: true},
		"type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770":               {Type: "tmpfs", Target: "/t", TmpfsSize: 64 << 20, TmpfsMode: 0o1770},
		"type=volume,src=v,dst=/p,volume-subpath=sub/dir":                   {Type: "volume", Source: "v", Target: "/p", Subpath: "sub/dir"},
		"volume-subpath=sub,src=v,dst=/p":                                   {Type: "volume", Source: "v", Target: "/p", Subpath: "sub"},
		"type=image,src=busybox,dst=/img":                                   {Type: "image", Source: "busybox", Target: "/img"},
		"image-subpath=bin,type=image,src=busybox,dst=/img":                 {Type: "image", Source: "busybox", Target: "/img", Subpath: "bin"},
	} {
		got, err := ParseMount(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "type=volume", "type=nfs,target=/x", "type=bind,target=/x", "target=/x,bogus=1",
		"target=/x,readonly=maybe", "type=tmpfs,target=/t,tmpfs-size=lots", "type=tmpfs,target=/t,tmpfs-mode=999",
		"type=image,target=/x", "type=bind,src=/h,dst=/x,volume-subpath=a", "type=volume,src=v,dst=/x,image-subpath=a"} {
		if _, err := ParseMount(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
