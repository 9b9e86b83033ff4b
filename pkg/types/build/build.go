// Package build holds the types of a Dockerfile build that berth's CLI,
// berthd and berth-buildkitd share: the options, the progress events
// streamed back while BuildKit solves, the build cache's records and prune
// options. Standard library only.
package build

import (
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"time"
)

// Options are a build's settings, as `berth build`'s flags give them.
type Options struct {
	// Tags name the image (-t); empty leaves it dangling, known by its ID.
	Tags []string `json:"tags,omitempty"`
	// Dockerfile is the Dockerfile's content; DockerfileName its base name,
	// used in error messages ("Dockerfile:3").
	Dockerfile     []byte `json:"dockerfile"`
	DockerfileName string `json:"dockerfileName,omitempty"`
	// Dockerignore is only informative: the client filtered the context.
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Target    string            `json:"target,omitempty"`
	NoCache   bool              `json:"noCache,omitempty"`
	// NoCacheFilter lists the stages built without cache.
	NoCacheFilter []string `json:"noCacheFilter,omitempty"`
	// Pull checks the registry for newer base images.
	Pull bool `json:"pull,omitempty"`
	// Network of the RUN steps: "" or "default" (the builder's), "host",
	// "none".
	Network string `json:"network,omitempty"`
	// Secrets by id, for RUN --mount=type=secret.
	Secrets map[string][]byte `json:"secrets,omitempty"`
	// Output, when set, exports the result instead of storing an image:
	// "local" or "tar" (its files), "oci" or "docker" (an image archive);
	// the files or archive come back as a tar in Event.Output. "image" (or
	// "") stores the image in berth's store.
	Output string `json:"output,omitempty"`
	// Push pushes the image to the registry of its names after the build
	// (the image exporter's push; with Output "" or "image").
	Push bool `json:"push,omitempty"`
	// ExtraHosts are lines of the RUN steps' /etc/hosts, "host=IP"; IP
	// may be HostGateway.
	ExtraHosts []string `json:"extraHosts,omitempty"`
	// ShmSize is the size of the RUN steps' /dev/shm in bytes (0: 64 MB).
	ShmSize int64 `json:"shmSize,omitempty"`
	// Ulimits of the RUN steps, as Docker's --ulimit: "nofile=1024:2048".
	Ulimits []string `json:"ulimits,omitempty"`
	// SSH are the agents RUN --mount=type=ssh forwards. berthd runs on the
	// client's host (a unix socket), so each is named by its paths there.
	SSH []SSHAgent `json:"ssh,omitempty"`
	// CacheFrom and CacheTo import and export the build cache
	// (type=registry,ref=…; type=local,src=…|dest=…; type=inline).
	CacheFrom []CacheEntry `json:"cacheFrom,omitempty"`
	CacheTo   []CacheEntry `json:"cacheTo,omitempty"`
	// Auth are the client's credentials by registry host, for the
	// registries a build pushes to or reads cache from.
	Auth map[string]RegistryAuth `json:"auth,omitempty"`
	// ContextKey identifies the context across builds (a hash of its
	// path on the client), so BuildKit transfers only changed files.
	ContextKey string `json:"contextKey,omitempty"`
	// ContextSync asks the builder for the files it keeps of the context
	// (an Event with Kept, before it reads the tar): the client then
	// sends those it has unchanged as entries without content
	// (fsarchive.PAXKept).
	ContextSync bool `json:"contextSync,omitempty"`
}

// Kept lists the regular files of at least KeptMinSize bytes the builder
// keeps of a context from its previous build, as they were extracted.
type Kept struct {
	Files []KeptFile `json:"files"`
}

// KeptMinSize is the smallest file Kept lists: sending a smaller one
// costs little more than its header.
const KeptMinSize = 8 << 10

// KeptFileOf is the KeptFile of a regular file at path (slash-separated,
// in the context) with info.
func KeptFileOf(path string, info fs.FileInfo) KeptFile {
	m := info.Mode()
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return KeptFile{Path: path, Size: info.Size(), MTime: info.ModTime().UnixNano(), Mode: mode}
}

// KeptFile is one file of Kept: its slash-separated path in the context,
// size, modification time (Unix nanoseconds) and permission bits (with
// setuid, setgid, sticky as in a tar header's mode).
type KeptFile struct {
	Path  string `json:"p"`
	Size  int64  `json:"s"`
	MTime int64  `json:"m"`
	Mode  int64  `json:"o"`
}

// SSHAgent is one --ssh: an ID (RUN --mount=type=ssh,id=…; "default"
// when empty) and the agent's socket or private key files, absolute paths.
type SSHAgent struct {
	ID    string   `json:"id,omitempty"`
	Paths []string `json:"paths"`
}

// CacheEntry is one --cache-from or --cache-to: its type and attributes,
// as BuildKit takes them (paths absolute).
type CacheEntry struct {
	Type  string            `json:"type"`
	Attrs map[string]string `json:"attrs,omitempty"`
}

// RegistryAuth are credentials for one registry.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identityToken,omitempty"`
}

// Event is one message of a build's progress stream. Exactly one of the
// groups is set: a progress update (Vertexes, Statuses, Logs, Warnings),
// a chunk of the exported files (Output), or the final Result.
type Event struct {
	Vertexes []Vertex       `json:"vertexes,omitempty"`
	Statuses []VertexStatus `json:"statuses,omitempty"`
	Logs     []VertexLog    `json:"logs,omitempty"`
	Warnings []Warning      `json:"warnings,omitempty"`
	Output   []byte         `json:"output,omitempty"`
	Result   *Result        `json:"result,omitempty"`
	// Kept answers Options.ContextSync, first.
	Kept *Kept `json:"kept,omitempty"`
	// Error ends a failed build (the stream's last event).
	Error string `json:"error,omitempty"`
}

// Vertex is one step of the build graph.
type Vertex struct {
	Digest    string     `json:"digest"`
	Inputs    []string   `json:"inputs,omitempty"`
	Name      string     `json:"name"`
	Started   *time.Time `json:"started,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
	Cached    bool       `json:"cached,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// VertexStatus is the progress of one task of a step (a transfer, a
// layer extraction).
type VertexStatus struct {
	ID        string     `json:"id"`
	Vertex    string     `json:"vertex"`
	Name      string     `json:"name,omitempty"`
	Total     int64      `json:"total,omitempty"`
	Current   int64      `json:"current"`
	Timestamp time.Time  `json:"timestamp"`
	Started   *time.Time `json:"started,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
}

// VertexLog is output of a step (stream 1 stdout, 2 stderr).
type VertexLog struct {
	Vertex    string    `json:"vertex"`
	Stream    int       `json:"stream"`
	Data      []byte    `json:"data"`
	Timestamp time.Time `json:"timestamp"`
}

// Warning is a check's finding on the Dockerfile.
type Warning struct {
	Vertex string `json:"vertex"`
	Level  int    `json:"level"`
	Short  string `json:"short"`
	URL    string `json:"url,omitempty"`
}

// Result is what a successful build made.
type Result struct {
	// ImageID is the image's ID (its config digest), as `berth images`
	// shows it; empty when the build exported files instead.
	ImageID string `json:"imageID,omitempty"`
	// Digest is the image's manifest digest.
	Digest string   `json:"digest,omitempty"`
	Tags   []string `json:"tags,omitempty"`
}

// CacheRecord is one record of the build cache.
type CacheRecord struct {
	ID          string     `json:"id"`
	Parents     []string   `json:"parents,omitempty"`
	Type        string     `json:"type"`
	Description string     `json:"description"`
	InUse       bool       `json:"inUse"`
	Shared      bool       `json:"shared"`
	Size        int64      `json:"size"`
	CreatedAt   time.Time  `json:"createdAt"`
	LastUsedAt  *time.Time `json:"lastUsedAt,omitempty"`
	UsageCount  int        `json:"usageCount"`
}

// PruneOptions select what `berth builder prune` removes.
type PruneOptions struct {
	// All removes internal and frontend records too, not only the
	// unreferenced ones.
	All bool `json:"all,omitempty"`
	// Until removes only records not used for this long.
	Until time.Duration `json:"until,omitempty"`
	// KeepStorage keeps this many bytes of cache.
	KeepStorage int64 `json:"keepStorage,omitempty"`
}

// PruneReport is what a prune removed.
type PruneReport struct {
	Deleted        []CacheRecord `json:"deleted,omitempty"`
	SpaceReclaimed int64         `json:"spaceReclaimed"`
}

// HostGateway, as the address of an --add-host, is the host as the build
// steps reach it: the gateway of berth's default bridge, which
// berth-buildkitd puts in its place (as dockerd does with docker0's).
const HostGateway = "host-gateway"

// ExtraHost turns Docker's --add-host value, "name:ip" (or "name=ip"; an
// IPv6 address may be in brackets; ip may be host-gateway), into the
// "name=ip" of Options.ExtraHosts.
func ExtraHost(v string) (string, error) {
	name, ip, ok := strings.Cut(v, "=")
	if !ok {
		name, ip, ok = strings.Cut(v, ":")
	}
	if !ok || name == "" {
		return "", fmt.Errorf("invalid --add-host %q: want name:ip", v)
	}
	if ip == HostGateway {
		return name + "=" + HostGateway, nil
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]"))
	if err != nil {
		return "", fmt.Errorf("invalid --add-host %q: %q is not an IP address (or host-gateway)", v, ip)
	}
	return name + "=" + addr.String(), nil
}
