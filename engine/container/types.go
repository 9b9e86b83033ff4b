package container

// The types the API and CLI share live in pkg/types/container, a leaf
// package the berth CLI links without the engine; these aliases keep the
// engine's API unchanged.

import container "github.com/berthproject/berth/pkg/types/container"

type (
	CopyToOptions     = container.CopyToOptions
	PathStat          = container.PathStat
	Resources         = container.Resources
	Ulimit            = container.Ulimit
	DeviceMapping     = container.DeviceMapping
	Security          = container.Security
	Stats             = container.Stats
	Config            = container.Config
	NetworkAttachment = container.NetworkAttachment
	PortBinding       = container.PortBinding
	NetworkSettings   = container.NetworkSettings
	EndpointSettings  = container.EndpointSettings
	RestartPolicy     = container.RestartPolicy
	LogConfig         = container.LogConfig
	State             = container.State
	Container         = container.Container
	Summary           = container.Summary
	ListOptions       = container.ListOptions
	RemoveOptions     = container.RemoveOptions
	StopOptions       = container.StopOptions
	ExitStatus        = container.ExitStatus
	WaitCondition     = container.WaitCondition
	LogOptions        = container.LogOptions
	LogEntry          = container.LogEntry
	Streams           = container.Streams
	WindowSize        = container.WindowSize
	AttachOptions     = container.AttachOptions
	StartError        = container.StartError
	ExecConfig        = container.ExecConfig
	ExecInspect       = container.ExecInspect
	TopResult         = container.TopResult
	MountSpec         = container.MountSpec
	MountPoint        = container.MountPoint
)

const (
	StatusCreated    = container.StatusCreated
	StatusRunning    = container.StatusRunning
	StatusPaused     = container.StatusPaused
	StatusRestarting = container.StatusRestarting
	StatusExited     = container.StatusExited
	StatusDead       = container.StatusDead
	WaitNotRunning   = container.WaitNotRunning
	WaitNextExit     = container.WaitNextExit
	WaitRemoved      = container.WaitRemoved
)

// ParseBind parses a -v value: NAME:/path[:opts], /host:/path[:opts] or
// /path (an anonymous volume). opts is a comma list of ro, rw, nocopy, and
// a propagation (rprivate, private, rshared, shared, rslave, slave); z and
// Z are accepted and ignored (no SELinux here).
func ParseBind(v string) (MountSpec, error) { return container.ParseBind(v) }
