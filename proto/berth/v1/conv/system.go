package conv

import (
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/system"
	berthv1 "github.com/berthproject/berth/proto/berth/v1"
)

// VersionToProto converts the daemon's version.
func VersionToProto(v *system.Version) *berthv1.VersionResponse {
	if v == nil {
		return &berthv1.VersionResponse{}
	}
	return &berthv1.VersionResponse{
		Version:           v.Version,
		ApiVersion:        v.APIVersion,
		GoVersion:         v.GoVersion,
		GitCommit:         v.GitCommit,
		Os:                v.Os,
		Arch:              v.Arch,
		ContainerdVersion: v.ContainerdVersion,
		RuncVersion:       v.RuncVersion,
	}
}

// VersionFromProto is the inverse of VersionToProto.
func VersionFromProto(p *berthv1.VersionResponse) *system.Version {
	return &system.Version{
		Version:           p.GetVersion(),
		APIVersion:        p.GetApiVersion(),
		GoVersion:         p.GetGoVersion(),
		GitCommit:         p.GetGitCommit(),
		Os:                p.GetOs(),
		Arch:              p.GetArch(),
		ContainerdVersion: p.GetContainerdVersion(),
		RuncVersion:       p.GetRuncVersion(),
	}
}

// InfoToProto converts the daemon-wide summary.
func InfoToProto(i *system.Info) *berthv1.InfoResponse {
	if i == nil {
		return &berthv1.InfoResponse{}
	}
	return &berthv1.InfoResponse{
		Id:                i.ID,
		Name:              i.Name,
		Containers:        int64(i.Containers),
		ContainersRunning: int64(i.ContainersRunning),
		ContainersPaused:  int64(i.ContainersPaused),
		ContainersStopped: int64(i.ContainersStopped),
		Images:            int64(i.Images),
		ServerVersion:     i.ServerVersion,
		ContainerdVersion: i.ContainerdVersion,
		ContainerdAddress: i.ContainerdAddress,
		Namespace:         i.Namespace,
		DefaultRuntime:    i.DefaultRuntime,
		Snapshotter:       i.Snapshotter,
		RootDir:           i.RootDir,
		StateDir:          i.StateDir,
		KernelVersion:     i.KernelVersion,
		OperatingSystem:   i.OperatingSystem,
		Architecture:      i.Architecture,
		Ncpu:              int64(i.NCPU),
		MemTotal:          i.MemTotal,
		CgroupVersion:     i.CgroupVersion,
		LoggingDriver:     i.LoggingDriver,
		CdiSpecDirs:       i.CDISpecDirs,
		CdiDevices:        i.CDIDevices,
	}
}

// InfoFromProto is the inverse of InfoToProto.
func InfoFromProto(p *berthv1.InfoResponse) *system.Info {
	return &system.Info{
		ID:                p.GetId(),
		Name:              p.GetName(),
		Containers:        int(p.GetContainers()),
		ContainersRunning: int(p.GetContainersRunning()),
		ContainersPaused:  int(p.GetContainersPaused()),
		ContainersStopped: int(p.GetContainersStopped()),
		Images:            int(p.GetImages()),
		ServerVersion:     p.GetServerVersion(),
		ContainerdVersion: p.GetContainerdVersion(),
		ContainerdAddress: p.GetContainerdAddress(),
		Namespace:         p.GetNamespace(),
		DefaultRuntime:    p.GetDefaultRuntime(),
		Snapshotter:       p.GetSnapshotter(),
		RootDir:           p.GetRootDir(),
		StateDir:          p.GetStateDir(),
		KernelVersion:     p.GetKernelVersion(),
		OperatingSystem:   p.GetOperatingSystem(),
		Architecture:      p.GetArchitecture(),
		NCPU:              int(p.GetNcpu()),
		MemTotal:          p.GetMemTotal(),
		CgroupVersion:     p.GetCgroupVersion(),
		LoggingDriver:     p.GetLoggingDriver(),
		CDISpecDirs:       p.GetCdiSpecDirs(),
		CDIDevices:        p.GetCdiDevices(),
	}
}

// EventToProto converts one event.
func EventToProto(m events.Message) *berthv1.Event {
	return &berthv1.Event{
		Type:   m.Type,
		Action: m.Action,
		Actor:  &berthv1.EventActor{Id: m.Actor.ID, Attributes: m.Actor.Attributes},
		Time:   Timestamp(m.Time),
	}
}

// EventFromProto is the inverse of EventToProto.
func EventFromProto(p *berthv1.Event) events.Message {
	return events.Message{
		Type:   p.GetType(),
		Action: p.GetAction(),
		Actor:  events.Actor{ID: p.GetActor().GetId(), Attributes: p.GetActor().GetAttributes()},
		Time:   Time(p.GetTime()),
	}
}

// EventFilterToProto converts a subscription filter.
func EventFilterToProto(f events.Filter) *berthv1.EventsRequest {
	return &berthv1.EventsRequest{Since: Timestamp(f.Since), Until: Timestamp(f.Until), Filters: Filters(f.Filters)}
}

// EventFilterFromProto is the inverse of EventFilterToProto.
func EventFilterFromProto(r *berthv1.EventsRequest) events.Filter {
	return events.Filter{Since: Time(r.GetSince()), Until: Time(r.GetUntil()), Filters: FilterMap(r.GetFilters())}
}
