package docker

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

	dcontainer "github.com/moby/moby/api/types/container"
	dimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	dsystem "github.com/moby/moby/api/types/system"
)

// The moby API module holds the structs of the newest API version: fields
// later versions removed are gone from them. A client speaking an older
// version still expects them, so each Versioned* function returns a value
// that marshals as dockerd answers that version, adding the old fields back
// from the new ones (the way moby's own router does).

// withExtra marshals base and merges extra into it: a key base lacks (or
// holds null) is added, nested maps merge key by key.
type withExtra struct {
	base  any
	extra map[string]any
}

func (w withExtra) MarshalJSON() ([]byte, error) {
	b, err := marshal(w.base)
	if err != nil || len(w.extra) == 0 {
		return b, err
	}
	return mergeRaw(b, w.extra)
}

// mergeRaw adds extra's keys to the JSON object b where b lacks them (or
// holds null); nested maps merge key by key. Only the objects that change
// are decoded, one level at a time and as raw JSON: numbers keep their
// precision (an int64 does not go through float64), the other objects
// their field order, and a container inspect for a client older than 1.52
// costs one pass less over the whole document.
func mergeRaw(b []byte, extra map[string]any) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		cur, ok := m[k]
		if sm, isMap := v.(map[string]any); isMap && ok && len(cur) > 0 && cur[0] == '{' {
			merged, err := mergeRaw(cur, sm)
			if err != nil {
				return nil, err
			}
			m[k] = merged
			continue
		}
		if !ok || string(cur) == "null" {
			raw, err := marshal(v)
			if err != nil {
				return nil, err
			}
			m[k] = raw
		}
	}
	return marshal(m)
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// VersionedContainer is c as API version v shows it.
func VersionedContainer(c dcontainer.InspectResponse, v string) any {
	extra := map[string]any{}
	if versionLess(v, "1.45") && c.NetworkSettings != nil && c.Config != nil && len(c.ID) >= 12 {
		for name, ep := range c.NetworkSettings.Networks {
			if ep == nil || name == "bridge" || name == "host" || name == "none" {
				continue
			}
			cp := *ep
			for _, a := range []string{c.ID[:12], c.Config.Hostname} {
				if a != "" && !slices.Contains(cp.Aliases, a) {
					cp.Aliases = append(slices.Clone(cp.Aliases), a)
				}
			}
			nets := maps.Clone(c.NetworkSettings.Networks)
			nets[name] = &cp
			ns := *c.NetworkSettings
			ns.Networks = nets
			c.NetworkSettings = &ns
		}
	}
	if versionLess(v, "1.48") {
		c.ImageManifestDescriptor = nil
	}
	if versionLess(v, "1.56") && c.HostConfig != nil {
		hc := *c.HostConfig
		hc.Umask = nil
		c.HostConfig = &hc
	}
	if versionLess(v, "1.52") {
		if c.NetworkSettings != nil {
			legacy := map[string]any{
				"Bridge": "", "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
				"SecondaryIPAddresses": nil, "SecondaryIPv6Addresses": nil,
				"EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
				"IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
			}
			if br := c.NetworkSettings.Networks["bridge"]; br != nil {
				legacy["EndpointID"] = br.EndpointID
				legacy["Gateway"] = addrString(br.Gateway.String())
				legacy["IPAddress"] = addrString(br.IPAddress.String())
				legacy["IPPrefixLen"] = br.IPPrefixLen
				legacy["MacAddress"] = br.MacAddress.String()
				legacy["GlobalIPv6Address"] = addrString(br.GlobalIPv6Address.String())
				legacy["GlobalIPv6PrefixLen"] = br.GlobalIPv6PrefixLen
				legacy["IPv6Gateway"] = addrString(br.IPv6Gateway.String())
			}
			extra["NetworkSettings"] = legacy
		}
		if c.GraphDriver == nil && c.Storage != nil && c.Storage.RootFS != nil && c.Storage.RootFS.Snapshot != nil {
			c.GraphDriver = &storage.DriverData{Name: c.Storage.RootFS.Snapshot.Name, Data: nil}
			c.Storage = nil
		}
	}
	return withExtra{base: c, extra: extra}
}

// VersionedImage is img as API version v shows it.
func VersionedImage(img dimage.InspectResponse, v string) any {
	extra := map[string]any{}
	if versionLess(v, "1.44") {
		extra["VirtualSize"] = img.Size
	}
	if versionLess(v, "1.45") {
		extra["Container"] = ""
		extra["ContainerConfig"] = map[string]any{}
	}
	if versionLess(v, "1.48") {
		img.Descriptor = nil
	}
	if versionLess(v, "1.52") {
		extra["Parent"] = ""
		extra["Comment"] = img.Comment
		extra["DockerVersion"] = ""
		extra["Author"] = img.Author
		cfg := map[string]any{"Cmd": nil, "Entrypoint": nil, "Env": nil, "Labels": nil, "OnBuild": nil, "User": "", "Volumes": nil, "WorkingDir": ""}
		if versionLess(v, "1.50") {
			for k, val := range map[string]any{"AttachStderr": false, "AttachStdin": false, "AttachStdout": false, "Domainname": "",
				"Hostname": "", "Image": "", "OpenStdin": false, "StdinOnce": false, "Tty": false} {
				cfg[k] = val
			}
		}
		extra["Config"] = cfg
		if img.GraphDriver == nil {
			img.GraphDriver = &storage.DriverData{Name: "overlayfs", Data: nil}
		}
	}
	return withExtra{base: img, extra: extra}
}

// VersionedImageSummaries is an image list as API version v shows it.
func VersionedImageSummaries(list []dimage.Summary, v string) any {
	out := make([]any, 0, len(list))
	for _, s := range list {
		if versionLess(v, "1.43") && len(s.RepoTags) == 0 && len(s.RepoDigests) == 0 {
			s.RepoTags, s.RepoDigests = []string{"<none>:<none>"}, []string{"<none>@<none>"}
		}
		if versionLess(v, "1.48") {
			s.Descriptor = nil
		}
		if versionLess(v, "1.51") {
			s.Containers = -1
		}
		extra := map[string]any{}
		if versionLess(v, "1.44") {
			extra["VirtualSize"] = s.Size
		}
		out = append(out, withExtra{base: s, extra: extra})
	}
	return out
}

func addrString(s string) string {
	if s == "invalid IP" {
		return ""
	}
	return s
}

// VersionedInfo is /info as API version v shows it (moby's router: the
// fields later versions added are left out, those they removed added back).
func VersionedInfo(info dsystem.Info, v string) any {
	extra := map[string]any{}
	if versionLess(v, "1.44") {
		for k, rt := range info.Runtimes {
			info.Runtimes[k] = dsystem.RuntimeWithStatus{Runtime: rt.Runtime}
		}
	}
	if versionLess(v, "1.46") {
		info.Containerd = nil
	}
	if versionLess(v, "1.47") {
		extra["RegistryConfig"] = map[string]any{
			"AllowNondistributableArtifactsCIDRs":     json.RawMessage("null"),
			"AllowNondistributableArtifactsHostnames": json.RawMessage("null"),
		}
	}
	if versionLess(v, "1.49") {
		info.FirewallBackend = nil
		extra["ContainerdCommit"] = map[string]any{"Expected": info.ContainerdCommit.ID}
		extra["RuncCommit"] = map[string]any{"Expected": info.RuncCommit.ID}
		extra["InitCommit"] = map[string]any{"Expected": info.InitCommit.ID}
	}
	if versionLess(v, "1.50") {
		info.DiscoveredDevices = nil
		extra["BridgeNfIptables"] = false
		extra["BridgeNfIp6tables"] = false
	}
	return withExtra{base: info, extra: extra}
}
