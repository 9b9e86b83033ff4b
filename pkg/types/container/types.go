package container

import (
	"io"
	"time"
)

// Config is everything a user asks for when creating a container. It is stored
// with the container (containerd extension "berth.config") and returned by
// Inspect, so it must stay backward compatible: add fields, never change them.
type Config struct {
	// Name is the container's unique name; empty picks a random one.
	Name string `json:"Name,omitempty"`
	// Image is the reference the user gave (name, name:tag, ID or ID prefix).
	Image string `json:"Image"`
	// Cmd replaces the image's Cmd when not empty.
	Cmd []string `json:"Cmd,omitempty"`
	// Entrypoint replaces the image's Entrypoint when EntrypointSet is true
	// (`--entrypoint ""` clears it, as in Docker).
	Entrypoint    []string `json:"Entrypoint,omitempty"`
	EntrypointSet bool     `json:"EntrypointSet,omitempty"`
	// Env entries are KEY=VALUE; they override the image's.
	Env        []string          `json:"Env,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	User       string            `json:"User,omitempty"`
	Hostname   string            `json:"Hostname,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
	// Tty allocates a pseudo-terminal; OpenStdin keeps stdin open for attach (-i).
	Tty       bool `json:"Tty,omitempty"`
	OpenStdin bool `json:"OpenStdin,omitempty"`
	// StopSignal is sent by Stop (default: the image's, else SIGTERM).
	StopSignal string `json:"StopSignal,omitempty"`
	// StopTimeout in seconds before Stop sends SIGKILL (nil: 10).
	StopTimeout *int `json:"StopTimeout,omitempty"`
	// AutoRemove removes the container when it exits (--rm).
	AutoRemove    bool          `json:"AutoRemove,omitempty"`
	RestartPolicy RestartPolicy `json:"RestartPolicy,omitempty"`
	LogConfig     LogConfig     `json:"LogConfig,omitempty"`
	// Runtime overrides the daemon's default runtime (e.g. io.containerd.runc.v2).
	Runtime string `json:"Runtime,omitempty"`

	// NetworkMode is "bridge" (the default network), "none", "host",
	// "container:<name|id>" or the name of a user-defined network.
	NetworkMode string `json:"NetworkMode,omitempty"`
	// Networks carry per-network settings (--ip, --network-alias,
	// --mac-address) for NetworkMode's network and any further network.
	Networks []NetworkAttachment `json:"Networks,omitempty"`
	// PortBindings publish container ports on the host (-p).
	PortBindings []PortBinding `json:"PortBindings,omitempty"`
	// PublishAllPorts publishes the image's exposed ports on random host ports (-P).
	PublishAllPorts bool `json:"PublishAllPorts,omitempty"`
	// ExposedPorts adds ports to the image's (--expose), "80/tcp" form.
	ExposedPorts []string `json:"ExposedPorts,omitempty"`
	// DNS servers, search domains and resolver options (--dns, --dns-search, --dns-option).
	DNS        []string `json:"Dns,omitempty"`
	DNSSearch  []string `json:"DnsSearch,omitempty"`
	DNSOptions []string `json:"DnsOptions,omitempty"`
	// ExtraHosts are "name:ip" lines for /etc/hosts (--add-host).
	ExtraHosts []string `json:"ExtraHosts,omitempty"`

	// Binds are -v values: NAME:/path[:opts], /host/path:/path[:opts] or
	// /path (an anonymous volume); see ParseBind.
	Binds []string `json:"Binds,omitempty"`
	// ReadOnlyBindsNonRecursive makes the read-only Binds read-only only
	// at their top, not the mounts below them (the Docker API before 1.44).
	ReadOnlyBindsNonRecursive bool `json:"ReadOnlyBindsNonRecursive,omitempty"`
	// Mounts are --mount values (Docker's keys).
	Mounts []MountSpec `json:"Mounts,omitempty"`
	// Tmpfs maps a container path to tmpfs options (--tmpfs /path[:opts]).
	Tmpfs map[string]string `json:"Tmpfs,omitempty"`
	// VolumesFrom mounts the volumes and binds of other containers
	// (CONTAINER[:ro|:rw]).
	VolumesFrom []string `json:"VolumesFrom,omitempty"`
	// ReadonlyRootfs mounts the container's root file system read-only.
	ReadonlyRootfs bool `json:"ReadonlyRootfs,omitempty"`
	// Links are legacy links to other containers (--link NAME[:ALIAS]).
	// On the default bridge network the target must exist at create; the
	// engine keeps them as "ID:ALIAS" and Inspect shows them as dockerd
	// does, "/TARGET:/CONTAINER/ALIAS" under the current names. On a
	// user-defined network they stay "NAME:ALIAS": ALIAS resolves to NAME
	// through the network's DNS for this container only.
	Links []string `json:"Links,omitempty"`

	// Resources are the container's limits (--memory, --cpus, --pids-limit,
	// --ulimit, --device, …); Update changes the cgroup ones (resources.go).
	Resources Resources `json:"Resources,omitempty"`
	// Security are its privileges (--cap-add, --cap-drop, --privileged,
	// --security-opt, --group-add; security.go).
	Security Security `json:"Security,omitempty"`
	// StorageOpt are options of the container's writable layer
	// (--storage-opt): "size" limits it (berth's snapshotter, on a backing
	// file system with project quotas).
	StorageOpt map[string]string `json:"StorageOpt,omitempty"`
	// ConsoleSize is the terminal's size when the process starts (-t), so it
	// never runs with a 0x0 terminal before the first resize.
	ConsoleSize WindowSize `json:"ConsoleSize,omitempty"`

	// Init runs a small init (tini) as PID 1 (--init).
	Init bool `json:"Init,omitempty"`
	// PidMode, IpcMode: "" (private), "host" or "container:ID"; UTSMode:
	// "" or "host" (--pid, --ipc, --uts).
	PidMode string `json:"PidMode,omitempty"`
	IpcMode string `json:"IpcMode,omitempty"`
	UTSMode string `json:"UTSMode,omitempty"`
	// Domainname is the container's NIS domain name (--domainname).
	Domainname string `json:"Domainname,omitempty"`
	// Annotations go to the OCI spec (--annotation).
	Annotations map[string]string `json:"Annotations,omitempty"`
	// Healthcheck is the container's probe (--health-*, the image's
	// HEALTHCHECK merged in at create; health.go).
	Healthcheck *HealthConfig `json:"Healthcheck,omitempty"`
	// Platform (--platform, os/arch[/variant]) is the platform the image
	// must be for; "" takes the host's. One the host cannot run is refused
	// (berth runs no emulation).
	Platform string `json:"Platform,omitempty"`
}

// NetworkAttachment is a container's settings on one network.
type NetworkAttachment struct {
	Network string   `json:"Network"`
	IPv4    string   `json:"IPv4Address,omitempty"`
	IPv6    string   `json:"IPv6Address,omitempty"` // --ip6 (a dual-stack network)
	Aliases []string `json:"Aliases,omitempty"`
	MAC     string   `json:"MacAddress,omitempty"`
	// GwPriority (gw-priority=N): of the container's networks, the one
	// with the highest gives its default route; ties go as in Docker
	// (docs/networking.md, "Default route").
	GwPriority int `json:"GwPriority,omitempty"`
	// IfName is the container's interface on the network (Docker's
	// DriverOpts com.docker.network.endpoint.ifname); "" takes the first
	// free eth<N>.
	IfName string `json:"IfName,omitempty"`
}

// PortBinding publishes ContainerPort/Proto on HostIP:HostPort (HostPort 0:
// a free port chosen at start; HostIP "": every address).
type PortBinding struct {
	HostIP        string `json:"HostIp,omitempty"`
	HostPort      uint16 `json:"HostPort,omitempty"`
	ContainerPort uint16 `json:"ContainerPort"`
	Proto         string `json:"Proto,omitempty"` // tcp (default) or udp
}

// NetworkSettings is the network part of Inspect (Docker's NetworkSettings).
type NetworkSettings struct {
	SandboxKey string                      `json:"SandboxKey"`
	IPAddress  string                      `json:"IPAddress"`
	Gateway    string                      `json:"Gateway"`
	MacAddress string                      `json:"MacAddress"`
	Ports      []PortBinding               `json:"Ports"`
	Networks   map[string]EndpointSettings `json:"Networks"`
	// The primary endpoint's IPv6 address on a dual-stack network.
	GlobalIPv6Address   string `json:"GlobalIPv6Address"`
	GlobalIPv6PrefixLen int    `json:"GlobalIPv6PrefixLen"`
	IPv6Gateway         string `json:"IPv6Gateway"`
}

// EndpointSettings is a container's endpoint on one network.
type EndpointSettings struct {
	NetworkID   string   `json:"NetworkID"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	Gateway     string   `json:"Gateway"`
	MacAddress  string   `json:"MacAddress"`
	Aliases     []string `json:"Aliases"`
	// IPv6 on a dual-stack network.
	GlobalIPv6Address   string `json:"GlobalIPv6Address"`
	GlobalIPv6PrefixLen int    `json:"GlobalIPv6PrefixLen"`
	IPv6Gateway         string `json:"IPv6Gateway"`
	// IPAMConfig: the addresses the user asked for (--ip, --ip6); nil
	// when none.
	IPAMConfig *EndpointIPAMConfig `json:"IPAMConfig"`
	// GwPriority: the endpoint's priority for the default route.
	GwPriority int `json:"GwPriority"`
	// IfName: the interface name the attachment gave
	// (com.docker.network.endpoint.ifname); "" for a dynamic eth<N>.
	IfName string `json:"IfName,omitempty"`
}

// EndpointIPAMConfig is Docker's IPAMConfig of an endpoint.
type EndpointIPAMConfig struct {
	IPv4Address string `json:"IPv4Address,omitempty"`
	IPv6Address string `json:"IPv6Address,omitempty"`
}

// RestartPolicy is Docker's: Name is "", "no", "on-failure", "always" or
// "unless-stopped"; MaximumRetryCount applies to on-failure.
type RestartPolicy struct {
	Name              string `json:"Name,omitempty"`
	MaximumRetryCount int    `json:"MaximumRetryCount,omitempty"`
}

// LogConfig holds per-container overrides of the daemon's log rotation
// (--log-opt max-size=… max-file=…). Zero values use the daemon's defaults.
type LogConfig struct {
	// Type is Docker's log driver: "" (berth's default), "json-file" or
	// "local" (both berth's own log file), or "none" (no log file; logs
	// refuses to read).
	Type     string `json:"Type,omitempty"`
	MaxSize  int64  `json:"MaxSize,omitempty"`
	MaxFiles int    `json:"MaxFiles,omitempty"`
}

// Log drivers (LogConfig.Type).
const (
	LogDriverJSONFile = "json-file"
	LogDriverLocal    = "local"
	LogDriverNone     = "none"
)

// Status values, as Docker names them.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusExited     = "exited"
	StatusDead       = "dead"
)

// State is a container's runtime state (Docker's State object).
type State struct {
	Status     string    `json:"Status"`
	Running    bool      `json:"Running"`
	Paused     bool      `json:"Paused"`
	Restarting bool      `json:"Restarting"`
	OOMKilled  bool      `json:"OOMKilled"`
	Dead       bool      `json:"Dead"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	Error      string    `json:"Error"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
	// Health of a container with a healthcheck, once started (nil otherwise).
	Health *Health `json:"Health,omitempty"`
}

// Container is the full view returned by Inspect.
type Container struct {
	ID           string    `json:"Id"`
	Name         string    `json:"Name"`
	Created      time.Time `json:"Created"`
	Image        string    `json:"Image"` // image ID (sha256:…)
	ImageName    string    `json:"ImageName"`
	Path         string    `json:"Path"` // the resolved process: Path + Args
	Args         []string  `json:"Args"`
	State        State     `json:"State"`
	RestartCount int       `json:"RestartCount"`
	LogPath      string    `json:"LogPath"`
	Runtime      string    `json:"Runtime"`
	Snapshotter  string    `json:"Snapshotter"`
	Config       Config    `json:"Config"`
	// Env is the resolved environment (image's merged with Config.Env).
	Env        []string `json:"Env"`
	WorkingDir string   `json:"WorkingDir"`
	// NetworkSettings of a running container (empty when stopped).
	NetworkSettings NetworkSettings `json:"NetworkSettings"`
	// HostnamePath, HostsPath and ResolvConfPath are the host files mounted
	// over the container's /etc files.
	HostnamePath   string `json:"HostnamePath"`
	HostsPath      string `json:"HostsPath"`
	ResolvConfPath string `json:"ResolvConfPath"`
	// Mounts are the container's volumes, binds and tmpfs mounts.
	Mounts []MountPoint `json:"Mounts"`
}

// Summary is one row of List (`berth ps`).
type Summary struct {
	ID         string            `json:"Id"`
	Names      []string          `json:"Names"`
	Image      string            `json:"Image"` // as the user gave it
	ImageID    string            `json:"ImageID"`
	Command    string            `json:"Command"`
	Created    time.Time         `json:"Created"`
	State      string            `json:"State"`  // a Status value
	Status     string            `json:"Status"` // human: "Up 3 minutes", "Exited (0) 2 seconds ago"
	Labels     map[string]string `json:"Labels"`
	ExitCode   int               `json:"ExitCode"`
	StartedAt  time.Time         `json:"StartedAt"`
	FinishedAt time.Time         `json:"FinishedAt"`
	// Ports published by a running container.
	Ports []PortBinding `json:"Ports"`
	// Networks the container is attached to.
	Networks []string `json:"Networks"`
	// Endpoints of a running container, by network name (compose
	// compares their NetworkID with the networks it expects).
	Endpoints map[string]EndpointSettings `json:"Endpoints,omitempty"`
	// Mounts of the container (compose looks for its named volumes).
	Mounts []MountPoint `json:"Mounts,omitempty"`
	// With ListOptions.Size: the writable layer's size and the whole root
	// filesystem's (image layers included), in bytes, as Docker's.
	SizeRw     int64 `json:"SizeRw,omitempty"`
	SizeRootFs int64 `json:"SizeRootFs,omitempty"`
	// Health is the health status (starting, healthy, unhealthy) of a
	// container with a healthcheck, "" otherwise.
	Health string `json:"Health,omitempty"`
	// Annotations are the container's OCI annotations (--annotation).
	Annotations map[string]string `json:"Annotations,omitempty"`
}

// ListOptions selects containers for List. Filters use Docker's keys: id,
// name, label (key or key=value), status, exited, ancestor, before, since.
type ListOptions struct {
	All     bool
	Limit   int // -n: the last N created (includes stopped), 0 = no limit
	Filters map[string][]string
	// Size fills in Summary.SizeRw and SizeRootFs (ps --size).
	Size bool
}

// RemoveOptions for Remove: Force kills a running container first;
// Volumes removes its anonymous volumes too (rm -v).
type RemoveOptions struct {
	Force   bool
	Volumes bool
	// Link removes the legacy link named by the reference
	// (/CONTAINER/ALIAS) instead of a container (rm --link).
	Link bool
}

// PruneOptions configure Prune. Filters are Docker's container prune
// filters: until=TIME (containers created before TIME, an RFC 3339 time:
// the edges turn durations and Unix times into one), label=KEY[=VALUE] and
// label!=KEY[=VALUE].
type PruneOptions struct {
	Filters map[string][]string
}

// PruneReport is what Prune removed: the containers' IDs and the sum of
// their writable layers' sizes.
type PruneReport struct {
	ContainersDeleted []string
	SpaceReclaimed    uint64
}

// StopOptions for Stop and Restart. Timeout nil uses the container's
// StopTimeout (default 10s); Signal empty uses its StopSignal.
type StopOptions struct {
	Timeout *time.Duration
	Signal  string
}

// ExitStatus is what Wait returns.
type ExitStatus struct {
	ExitCode  int
	OOMKilled bool
	Error     string
	ExitedAt  time.Time
}

// WaitCondition is Docker's wait condition.
type WaitCondition string

const (
	// WaitNotRunning returns at once if the container is not running, else at its next exit.
	WaitNotRunning WaitCondition = "not-running"
	// WaitNextExit waits for the next exit even if the container is not running yet.
	WaitNextExit WaitCondition = "next-exit"
	// WaitRemoved waits until the container is removed.
	WaitRemoved WaitCondition = "removed"
)

// LogOptions for Logs (`berth logs`).
type LogOptions struct {
	Follow     bool
	Tail       int // <0 all
	Since      time.Time
	Until      time.Time
	Stdout     bool
	Stderr     bool
	Timestamps bool
}

// LogEntry is one line of a container's log.
type LogEntry struct {
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Line   []byte // with its trailing newline when it had one
}

// Streams are the caller's ends of a container's or exec's stdio. A nil
// member is not attached. With a tty, everything arrives on Stdout.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Resize delivers terminal size changes (tty only); closed by the caller when done.
	Resize <-chan WindowSize
}

// WindowSize of a terminal.
type WindowSize struct {
	Width, Height uint16
}

// AttachOptions for Attach. Logs replays the log before attaching (as
// `docker attach --logs`), Stream keeps the attach open for live output.
type AttachOptions struct {
	Streams
	// Logs replays the existing log first (docker attach --logs).
	Logs bool
	// Ready, if not nil, is closed once the attachment is registered.
	Ready chan<- struct{}
}

// StartError is returned by Start (and Run paths) when the container's process
// cannot be executed. ExitCode is Docker's: 126 not executable, 127 not found.
type StartError struct {
	ExitCode int
	Err      error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// ExecConfig is `berth exec`.
type ExecConfig struct {
	Cmd          []string
	Env          []string
	WorkingDir   string
	User         string
	Tty          bool
	AttachStdin  bool
	AttachStdout bool
	AttachStderr bool
	Detach       bool
	// ConsoleSize is the terminal's size when the process starts (Tty),
	// so it never runs with a 0x0 terminal before the first resize.
	ConsoleSize WindowSize
}

// ExecInspect is the state of an exec process.
type ExecInspect struct {
	ID          string
	ContainerID string
	Running     bool
	ExitCode    int
	Pid         int
	Config      ExecConfig
}

// TopResult is `berth top`: ps output split into titles and rows.
type TopResult struct {
	Titles    []string
	Processes [][]string
}
