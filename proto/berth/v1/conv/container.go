// Package conv converts between berth's engine types and the berth.v1 API
// messages, in both directions, and carries typed errors across the API
// (see errors.go). The server (cmd/berthd/internal/apiserver) and the client (pkg/client)
// share it so a field is mapped the same way on both ends.
package conv

import (
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/berthproject/berth/pkg/types/container"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// Timestamp maps the zero time to nil.
func Timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Time maps nil to the zero time. Times come back in UTC.
func Time(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// Duration maps nil to nil.
func Duration(d *time.Duration) *durationpb.Duration {
	if d == nil {
		return nil
	}
	return durationpb.New(*d)
}

// GoDuration maps nil to nil.
func GoDuration(d *durationpb.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.AsDuration()
	return &v
}

// Filters converts Docker-style filters to the wire form, keys sorted for
// a stable encoding.
func Filters(m map[string][]string) []*berthv1.Filter {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*berthv1.Filter, 0, len(keys))
	for _, k := range keys {
		out = append(out, &berthv1.Filter{Key: k, Values: m[k]})
	}
	return out
}

// FilterMap is the inverse of Filters; values of a repeated key are merged.
func FilterMap(fs []*berthv1.Filter) map[string][]string {
	if len(fs) == 0 {
		return nil
	}
	m := make(map[string][]string, len(fs))
	for _, f := range fs {
		m[f.GetKey()] = append(m[f.GetKey()], f.GetValues()...)
	}
	return m
}

// ConfigToProto converts a container configuration for the wire.
func ConfigToProto(c container.Config) *berthv1.ContainerConfig {
	p := &berthv1.ContainerConfig{
		Name:          c.Name,
		Image:         c.Image,
		Cmd:           c.Cmd,
		Entrypoint:    c.Entrypoint,
		EntrypointSet: c.EntrypointSet,
		Env:           c.Env,
		WorkingDir:    c.WorkingDir,
		User:          c.User,
		Hostname:      c.Hostname,
		Labels:        c.Labels,
		Tty:           c.Tty,
		OpenStdin:     c.OpenStdin,
		StopSignal:    c.StopSignal,
		AutoRemove:    c.AutoRemove,
		RestartPolicy: &berthv1.RestartPolicy{
			Name:              c.RestartPolicy.Name,
			MaximumRetryCount: int64(c.RestartPolicy.MaximumRetryCount),
		},
		LogConfig: &berthv1.LogConfig{
			MaxSize:  c.LogConfig.MaxSize,
			MaxFiles: int64(c.LogConfig.MaxFiles),
			Type:     c.LogConfig.Type,
		},
		Runtime:         c.Runtime,
		NetworkMode:     c.NetworkMode,
		Networks:        networkAttachmentsToProto(c.Networks),
		PortBindings:    portBindingsToProto(c.PortBindings),
		PublishAllPorts: c.PublishAllPorts,
		ExposedPorts:    c.ExposedPorts,
		Dns:             c.DNS,
		DnsSearch:       c.DNSSearch,
		DnsOptions:      c.DNSOptions,
		ExtraHosts:      c.ExtraHosts,
	}
	if c.StopTimeout != nil {
		v := int64(*c.StopTimeout)
		p.StopTimeout = &v
	}
	mountConfigToProto(c, p)
	p.Resources, p.Security = ResourcesToProto(c.Resources), SecurityToProto(c.Security)
	p.StorageOpt = c.StorageOpt
	p.ConsoleWidth, p.ConsoleHeight = uint32(c.ConsoleSize.Width), uint32(c.ConsoleSize.Height)
	p.Init, p.PidMode, p.IpcMode, p.UtsMode = c.Init, c.PidMode, c.IpcMode, c.UTSMode
	p.Domainname, p.Annotations = c.Domainname, c.Annotations
	p.Healthcheck = HealthConfigToProto(c.Healthcheck)
	p.Platform = c.Platform
	return p
}

// ConfigFromProto is the inverse of ConfigToProto; nil gives the zero Config.
func ConfigFromProto(p *berthv1.ContainerConfig) container.Config {
	if p == nil {
		return container.Config{}
	}
	c := container.Config{
		Name:          p.GetName(),
		Image:         p.GetImage(),
		Cmd:           p.GetCmd(),
		Entrypoint:    p.GetEntrypoint(),
		EntrypointSet: p.GetEntrypointSet(),
		Env:           p.GetEnv(),
		WorkingDir:    p.GetWorkingDir(),
		User:          p.GetUser(),
		Hostname:      p.GetHostname(),
		Labels:        p.GetLabels(),
		Tty:           p.GetTty(),
		OpenStdin:     p.GetOpenStdin(),
		StopSignal:    p.GetStopSignal(),
		AutoRemove:    p.GetAutoRemove(),
		RestartPolicy: container.RestartPolicy{
			Name:              p.GetRestartPolicy().GetName(),
			MaximumRetryCount: int(p.GetRestartPolicy().GetMaximumRetryCount()),
		},
		LogConfig: container.LogConfig{
			MaxSize:  p.GetLogConfig().GetMaxSize(),
			MaxFiles: int(p.GetLogConfig().GetMaxFiles()),
			Type:     p.GetLogConfig().GetType(),
		},
		Runtime:         p.GetRuntime(),
		NetworkMode:     p.GetNetworkMode(),
		Networks:        networkAttachmentsFromProto(p.GetNetworks()),
		PortBindings:    portBindingsFromProto(p.GetPortBindings()),
		PublishAllPorts: p.GetPublishAllPorts(),
		ExposedPorts:    p.GetExposedPorts(),
		DNS:             p.GetDns(),
		DNSSearch:       p.GetDnsSearch(),
		DNSOptions:      p.GetDnsOptions(),
		ExtraHosts:      p.GetExtraHosts(),
	}
	if p.StopTimeout != nil {
		v := int(p.GetStopTimeout())
		c.StopTimeout = &v
	}
	mountConfigFromProto(p, &c)
	c.Resources, c.Security = ResourcesFromProto(p.GetResources()), SecurityFromProto(p.GetSecurity())
	c.StorageOpt = p.GetStorageOpt()
	c.ConsoleSize = container.WindowSize{Width: uint16(p.GetConsoleWidth()), Height: uint16(p.GetConsoleHeight())}
	c.Init, c.PidMode, c.IpcMode, c.UTSMode = p.GetInit(), p.GetPidMode(), p.GetIpcMode(), p.GetUtsMode()
	c.Domainname, c.Annotations = p.GetDomainname(), p.GetAnnotations()
	c.Healthcheck = HealthConfigFromProto(p.GetHealthcheck())
	c.Platform = p.GetPlatform()
	return c
}

// StateToProto converts a container's state.
func StateToProto(s container.State) *berthv1.ContainerState {
	return &berthv1.ContainerState{
		Status:     s.Status,
		Running:    s.Running,
		Paused:     s.Paused,
		Restarting: s.Restarting,
		OomKilled:  s.OOMKilled,
		Dead:       s.Dead,
		Pid:        int64(s.Pid),
		ExitCode:   int64(s.ExitCode),
		Error:      s.Error,
		StartedAt:  Timestamp(s.StartedAt),
		FinishedAt: Timestamp(s.FinishedAt),
		Health:     HealthToProto(s.Health),
	}
}

// StateFromProto is the inverse of StateToProto.
func StateFromProto(p *berthv1.ContainerState) container.State {
	return container.State{
		Status:     p.GetStatus(),
		Running:    p.GetRunning(),
		Paused:     p.GetPaused(),
		Restarting: p.GetRestarting(),
		OOMKilled:  p.GetOomKilled(),
		Dead:       p.GetDead(),
		Pid:        int(p.GetPid()),
		ExitCode:   int(p.GetExitCode()),
		Error:      p.GetError(),
		StartedAt:  Time(p.GetStartedAt()),
		FinishedAt: Time(p.GetFinishedAt()),
		Health:     HealthFromProto(p.GetHealth()),
	}
}

// ContainerToProto converts Inspect's view of a container.
func ContainerToProto(c *container.Container) *berthv1.Container {
	if c == nil {
		return nil
	}
	return &berthv1.Container{
		Id:           c.ID,
		Name:         c.Name,
		Created:      Timestamp(c.Created),
		Image:        c.Image,
		ImageName:    c.ImageName,
		Path:         c.Path,
		Args:         c.Args,
		State:        StateToProto(c.State),
		RestartCount: int64(c.RestartCount),
		LogPath:      c.LogPath,
		Runtime:      c.Runtime,
		Snapshotter:  c.Snapshotter,
		Config:       ConfigToProto(c.Config),
		Env:          c.Env,
		WorkingDir:   c.WorkingDir,

		NetworkSettings: NetworkSettingsToProto(c.NetworkSettings),
		HostnamePath:    c.HostnamePath,
		HostsPath:       c.HostsPath,
		ResolvConfPath:  c.ResolvConfPath,
		Mounts:          MountPointsToProto(c.Mounts),
	}
}

// ContainerFromProto is the inverse of ContainerToProto.
func ContainerFromProto(p *berthv1.Container) *container.Container {
	if p == nil {
		return nil
	}
	return &container.Container{
		ID:           p.GetId(),
		Name:         p.GetName(),
		Created:      Time(p.GetCreated()),
		Image:        p.GetImage(),
		ImageName:    p.GetImageName(),
		Path:         p.GetPath(),
		Args:         p.GetArgs(),
		State:        StateFromProto(p.GetState()),
		RestartCount: int(p.GetRestartCount()),
		LogPath:      p.GetLogPath(),
		Runtime:      p.GetRuntime(),
		Snapshotter:  p.GetSnapshotter(),
		Config:       ConfigFromProto(p.GetConfig()),
		Env:          p.GetEnv(),
		WorkingDir:   p.GetWorkingDir(),

		NetworkSettings: NetworkSettingsFromProto(p.GetNetworkSettings()),
		HostnamePath:    p.GetHostnamePath(),
		HostsPath:       p.GetHostsPath(),
		ResolvConfPath:  p.GetResolvConfPath(),
		Mounts:          MountPointsFromProto(p.GetMounts()),
	}
}

// SummaryToProto converts one row of List.
func SummaryToProto(s container.Summary) *berthv1.ContainerSummary {
	return &berthv1.ContainerSummary{
		Id:          s.ID,
		Names:       s.Names,
		Image:       s.Image,
		ImageId:     s.ImageID,
		Command:     s.Command,
		Created:     Timestamp(s.Created),
		State:       s.State,
		Status:      s.Status,
		Labels:      s.Labels,
		ExitCode:    int64(s.ExitCode),
		StartedAt:   Timestamp(s.StartedAt),
		FinishedAt:  Timestamp(s.FinishedAt),
		Ports:       portBindingsToProto(s.Ports),
		Networks:    s.Networks,
		Health:      s.Health,
		Endpoints:   EndpointsToProto(s.Endpoints),
		Mounts:      MountPointsToProto(s.Mounts),
		SizeRw:      s.SizeRw,
		SizeRootFs:  s.SizeRootFs,
		Annotations: s.Annotations,
	}
}

// SummaryFromProto is the inverse of SummaryToProto.
func SummaryFromProto(p *berthv1.ContainerSummary) container.Summary {
	return container.Summary{
		ID:          p.GetId(),
		Names:       p.GetNames(),
		Image:       p.GetImage(),
		ImageID:     p.GetImageId(),
		Command:     p.GetCommand(),
		Created:     Time(p.GetCreated()),
		State:       p.GetState(),
		Status:      p.GetStatus(),
		Labels:      p.GetLabels(),
		ExitCode:    int(p.GetExitCode()),
		StartedAt:   Time(p.GetStartedAt()),
		FinishedAt:  Time(p.GetFinishedAt()),
		Ports:       portBindingsFromProto(p.GetPorts()),
		Networks:    p.GetNetworks(),
		Health:      p.GetHealth(),
		Endpoints:   EndpointsFromProto(p.GetEndpoints()),
		Mounts:      MountPointsFromProto(p.GetMounts()),
		SizeRw:      p.GetSizeRw(),
		SizeRootFs:  p.GetSizeRootFs(),
		Annotations: p.GetAnnotations(),
	}
}

// ExitStatusToProto converts Wait's result.
func ExitStatusToProto(s container.ExitStatus) *berthv1.ExitStatus {
	return &berthv1.ExitStatus{
		ExitCode:  int64(s.ExitCode),
		OomKilled: s.OOMKilled,
		Error:     s.Error,
		ExitedAt:  Timestamp(s.ExitedAt),
	}
}

// ExitStatusFromProto is the inverse of ExitStatusToProto.
func ExitStatusFromProto(p *berthv1.ExitStatus) container.ExitStatus {
	return container.ExitStatus{
		ExitCode:  int(p.GetExitCode()),
		OOMKilled: p.GetOomKilled(),
		Error:     p.GetError(),
		ExitedAt:  Time(p.GetExitedAt()),
	}
}

// WaitConditionToProto maps Docker's condition names; "" is not-running.
func WaitConditionToProto(c container.WaitCondition) berthv1.WaitCondition {
	switch c {
	case container.WaitNextExit:
		return berthv1.WaitCondition_WAIT_CONDITION_NEXT_EXIT
	case container.WaitRemoved:
		return berthv1.WaitCondition_WAIT_CONDITION_REMOVED
	default:
		return berthv1.WaitCondition_WAIT_CONDITION_NOT_RUNNING
	}
}

// WaitConditionFromProto is the inverse of WaitConditionToProto.
func WaitConditionFromProto(c berthv1.WaitCondition) container.WaitCondition {
	switch c {
	case berthv1.WaitCondition_WAIT_CONDITION_NEXT_EXIT:
		return container.WaitNextExit
	case berthv1.WaitCondition_WAIT_CONDITION_REMOVED:
		return container.WaitRemoved
	default:
		return container.WaitNotRunning
	}
}

// LogOptionsToProto converts Logs' options; Tail < 0 (all) is sent unset.
func LogOptionsToProto(id string, o container.LogOptions) *berthv1.ContainerLogsRequest {
	r := &berthv1.ContainerLogsRequest{
		Id:         id,
		Follow:     o.Follow,
		Since:      Timestamp(o.Since),
		Until:      Timestamp(o.Until),
		Stdout:     o.Stdout,
		Stderr:     o.Stderr,
		Timestamps: o.Timestamps,
	}
	if o.Tail >= 0 {
		t := int64(o.Tail)
		r.Tail = &t
	}
	return r
}

// LogOptionsFromProto is the inverse of LogOptionsToProto.
func LogOptionsFromProto(r *berthv1.ContainerLogsRequest) container.LogOptions {
	o := container.LogOptions{
		Follow:     r.GetFollow(),
		Tail:       -1,
		Since:      Time(r.GetSince()),
		Until:      Time(r.GetUntil()),
		Stdout:     r.GetStdout(),
		Stderr:     r.GetStderr(),
		Timestamps: r.GetTimestamps(),
	}
	if r.Tail != nil {
		o.Tail = int(r.GetTail())
	}
	return o
}

// LogEntryToProto converts one log line.
func LogEntryToProto(e container.LogEntry) *berthv1.LogEntry {
	return &berthv1.LogEntry{Stream: e.Stream, Time: Timestamp(e.Time), Line: e.Line}
}

// LogEntryFromProto is the inverse of LogEntryToProto.
func LogEntryFromProto(p *berthv1.LogEntry) container.LogEntry {
	return container.LogEntry{Stream: p.GetStream(), Time: Time(p.GetTime()), Line: p.GetLine()}
}

// WindowSizeToProto converts a terminal size.
func WindowSizeToProto(s container.WindowSize) *berthv1.WindowSize {
	return &berthv1.WindowSize{Width: uint32(s.Width), Height: uint32(s.Height)}
}

// WindowSizeFromProto is the inverse of WindowSizeToProto.
func WindowSizeFromProto(p *berthv1.WindowSize) container.WindowSize {
	return container.WindowSize{Width: uint16(p.GetWidth()), Height: uint16(p.GetHeight())}
}

// ExecConfigToProto converts an exec's configuration.
func ExecConfigToProto(c container.ExecConfig) *berthv1.ExecConfig {
	return &berthv1.ExecConfig{
		Cmd:           c.Cmd,
		Env:           c.Env,
		WorkingDir:    c.WorkingDir,
		User:          c.User,
		Tty:           c.Tty,
		AttachStdin:   c.AttachStdin,
		AttachStdout:  c.AttachStdout,
		AttachStderr:  c.AttachStderr,
		Detach:        c.Detach,
		ConsoleWidth:  uint32(c.ConsoleSize.Width),
		ConsoleHeight: uint32(c.ConsoleSize.Height),
	}
}

// ExecConfigFromProto is the inverse of ExecConfigToProto.
func ExecConfigFromProto(p *berthv1.ExecConfig) container.ExecConfig {
	return container.ExecConfig{
		Cmd:          p.GetCmd(),
		Env:          p.GetEnv(),
		WorkingDir:   p.GetWorkingDir(),
		User:         p.GetUser(),
		Tty:          p.GetTty(),
		AttachStdin:  p.GetAttachStdin(),
		AttachStdout: p.GetAttachStdout(),
		AttachStderr: p.GetAttachStderr(),
		Detach:       p.GetDetach(),
		ConsoleSize:  container.WindowSize{Width: uint16(p.GetConsoleWidth()), Height: uint16(p.GetConsoleHeight())},
	}
}

// ExecInspectToProto converts an exec's state.
func ExecInspectToProto(e *container.ExecInspect) *berthv1.ExecInspect {
	if e == nil {
		return nil
	}
	return &berthv1.ExecInspect{
		Id:          e.ID,
		ContainerId: e.ContainerID,
		Running:     e.Running,
		ExitCode:    int64(e.ExitCode),
		Pid:         int64(e.Pid),
		Config:      ExecConfigToProto(e.Config),
	}
}

// ExecInspectFromProto is the inverse of ExecInspectToProto.
func ExecInspectFromProto(p *berthv1.ExecInspect) *container.ExecInspect {
	if p == nil {
		return nil
	}
	return &container.ExecInspect{
		ID:          p.GetId(),
		ContainerID: p.GetContainerId(),
		Running:     p.GetRunning(),
		ExitCode:    int(p.GetExitCode()),
		Pid:         int(p.GetPid()),
		Config:      ExecConfigFromProto(p.GetConfig()),
	}
}

// TopToProto converts Top's result.
func TopToProto(t *container.TopResult) *berthv1.TopContainerResponse {
	r := &berthv1.TopContainerResponse{}
	if t == nil {
		return r
	}
	r.Titles = t.Titles
	for _, p := range t.Processes {
		r.Processes = append(r.Processes, &berthv1.TopProcess{Fields: p})
	}
	return r
}

// TopFromProto is the inverse of TopToProto.
func TopFromProto(r *berthv1.TopContainerResponse) *container.TopResult {
	t := &container.TopResult{Titles: r.GetTitles()}
	for _, p := range r.GetProcesses() {
		t.Processes = append(t.Processes, p.GetFields())
	}
	return t
}
