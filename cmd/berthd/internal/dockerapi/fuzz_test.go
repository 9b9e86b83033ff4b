package dockerapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/network"
	"github.com/berthproject/berth/pkg/types/volume"
)

// decodeOnly is a backend for the decoding fuzz test: the create calls
// check what decoding produced and refuse; nothing else is reached.
type decodeOnly struct {
	Containers
	t *testing.T
}

func (d decodeOnly) Create(ctx context.Context, cfg container.Config) (string, []string, error) {
	if cfg.Image == "" {
		d.t.Errorf("create reached the engine without an image: %+v", cfg)
	}
	return "", nil, errdefs.ErrNotFound
}

func (d decodeOnly) ExecCreate(ctx context.Context, id string, cfg container.ExecConfig) (string, error) {
	if len(cfg.Cmd) == 0 {
		d.t.Errorf("exec create reached the engine without a command")
	}
	return "", errdefs.ErrNotFound
}

type netCreate struct {
	Networks
	t *testing.T
}

func (n netCreate) Create(ctx context.Context, o network.CreateOptions) (*network.Network, error) {
	if o.Name == "" {
		n.t.Errorf("network create without a name")
	}
	return nil, errdefs.ErrConflict
}

type volCreate struct{ Volumes }

func (volCreate) Create(ctx context.Context, o volume.CreateOptions) (*volume.Volume, error) {
	return nil, errdefs.ErrConflict
}

// The bodies real clients send (docker CLI 28, compose, docker-py), as
// seeds.
var fuzzSeeds = []struct{ path, body string }{
	{"/v1.50/containers/create?name=web", `{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=b"],"Cmd":["httpd","-f"],"Image":"busybox","Volumes":{"/data":{}},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"k":"v"},"HostConfig":{"Binds":["data:/data"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"unless-stopped","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[30,100],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{}}}`},
	{"/containers/create?name=compose1_web_1", `{"Image":"busybox","Cmd":["sleep","3600"],"HostConfig":{"NetworkMode":"compose1_appnet","Binds":["compose1_data:/data:rw"],"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"Links":[],"VolumesFrom":[],"LogConfig":{"Type":"","Config":{}},"Mounts":[{"Type":"tmpfs","Target":"/run","TmpfsOptions":{"SizeBytes":1048576}}]},"NetworkingConfig":{"EndpointsConfig":{"compose1_appnet":{"Aliases":["web"],"IPAMConfig":{"IPv4Address":"10.5.0.9"}}}}}`},
	{"/containers/create", `{"Image":"busybox","Entrypoint":[""],"HostConfig":{"CpuQuota":50000,"PidsLimit":10,"Ulimits":[{"Name":"nofile","Soft":10,"Hard":20}],"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/x","CgroupPermissions":"rwm"}]}}`},
	{"/containers/x/exec", `{"User":"","Privileged":false,"Tty":true,"ConsoleSize":[40,120],"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["sh"]}`},
	{"/networks/create", `{"Name":"testnet","Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{}}`},
	{"/volumes/create", `{"Driver":"local","Name":"testvol","Labels":{"a":"b"}}`},
	{"/containers/create", `{"Image":5}`},
	{"/containers/create", `{"Image":"busybox","HostConfig":{"PortBindings":{"80/sctp":[{}]},"Dns":["not an ip"]}}`},
}

// FuzzRequestDecoding sends arbitrary bodies and query strings to the
// endpoints that decode JSON: none may panic or answer 500 (a decoding
// problem is the client's, a 4xx).
func FuzzRequestDecoding(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, target, body string) {
		u, err := url.Parse(target)
		if err != nil {
			return
		}
		switch strings.TrimPrefix(u.Path, "/v1.50") {
		case "/containers/create", "/containers/x/exec", "/networks/create", "/volumes/create":
		default:
			return
		}
		b := Backend{Containers: decodeOnly{t: t}, Networks: netCreate{t: t}, Volumes: volCreate{}}
		s := New(b, Info{Version: "test"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		req := httptest.NewRequest(http.MethodPost, "http://docker"+u.RequestURI(), strings.NewReader(body))
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("POST %s %q: %d %s", target, body, rec.Code, rec.Body)
		}
	})
}

// TestFilters: both filter forms clients send.
func TestFilters(t *testing.T) {
	for q, want := range map[string]string{
		`{"label":{"a=b":true,"c":false}}`: "a=b",
		`{"label":["a=b"]}`:                "a=b",
	} {
		r := httptest.NewRequest(http.MethodGet, "/containers/json?filters="+url.QueryEscape(q), nil)
		f, err := parseFilters(r)
		if err != nil || len(f["label"]) != 1 || f["label"][0] != want {
			t.Errorf("%s: %v %v", q, f, err)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/containers/json?filters="+url.QueryEscape(`{"label":5}`), nil)
	if _, err := parseFilters(r); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad filter: %v", err)
	}
}

// TestBoolValue: the spellings of booleans clients send.
func TestBoolValue(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "True": true, "0": false, "False": false, "": false, "no": false, "none": false} {
		r := httptest.NewRequest(http.MethodGet, "/x?b="+v, nil)
		if got := boolValue(r, "b"); got != want {
			t.Errorf("%q: %v", v, got)
		}
	}
}
