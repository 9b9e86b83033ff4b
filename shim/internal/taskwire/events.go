package taskwire

import (
	"strings"
	"time"
)

// Task events (api/events/task.proto) and their forwarding to containerd
// (api/services/ttrpc/events/v1, api/types/event.proto).

// Message is a message with a type URL (for an Any): the protobuf full
// name, as typeurl gives it for the generated type.
type Message interface {
	TypeURL() string
}

type TaskIO struct {
	Stdin    string `pb:"1"`
	Stdout   string `pb:"2"`
	Stderr   string `pb:"3"`
	Terminal bool   `pb:"4"`
}

type TaskCreate struct {
	ContainerID string   `pb:"1"`
	Bundle      string   `pb:"2"`
	Rootfs      []*Mount `pb:"3"`
	IO          *TaskIO  `pb:"4"`
	Checkpoint  string   `pb:"5"`
	Pid         uint32   `pb:"6"`
}

type TaskStart struct {
	ContainerID string `pb:"1"`
	Pid         uint32 `pb:"2"`
}

type TaskDelete struct {
	ContainerID string    `pb:"1"`
	Pid         uint32    `pb:"2"`
	ExitStatus  uint32    `pb:"3"`
	ExitedAt    time.Time `pb:"4"`
	ID          string    `pb:"5"`
}

type TaskExit struct {
	ContainerID string    `pb:"1"`
	ID          string    `pb:"2"`
	Pid         uint32    `pb:"3"`
	ExitStatus  uint32    `pb:"4"`
	ExitedAt    time.Time `pb:"5"`
}

type TaskOOM struct {
	ContainerID string `pb:"1"`
}

type TaskExecAdded struct {
	ContainerID string `pb:"1"`
	ExecID      string `pb:"2"`
}

type TaskExecStarted struct {
	ContainerID string `pb:"1"`
	ExecID      string `pb:"2"`
	Pid         uint32 `pb:"3"`
}

type TaskPaused struct {
	ContainerID string `pb:"1"`
}

type TaskResumed struct {
	ContainerID string `pb:"1"`
}

func (*TaskCreate) TypeURL() string      { return "containerd.events.TaskCreate" }
func (*TaskStart) TypeURL() string       { return "containerd.events.TaskStart" }
func (*TaskDelete) TypeURL() string      { return "containerd.events.TaskDelete" }
func (*TaskExit) TypeURL() string        { return "containerd.events.TaskExit" }
func (*TaskOOM) TypeURL() string         { return "containerd.events.TaskOOM" }
func (*TaskExecAdded) TypeURL() string   { return "containerd.events.TaskExecAdded" }
func (*TaskExecStarted) TypeURL() string { return "containerd.events.TaskExecStarted" }
func (*TaskPaused) TypeURL() string      { return "containerd.events.TaskPaused" }
func (*TaskResumed) TypeURL() string     { return "containerd.events.TaskResumed" }

// Envelope is containerd.types.Envelope.
type Envelope struct {
	Timestamp time.Time `pb:"1"`
	Namespace string    `pb:"2"`
	Topic     string    `pb:"3"`
	Event     *Any      `pb:"4"`
}

// ForwardRequest is containerd.services.events.ttrpc.v1.ForwardRequest.
type ForwardRequest struct {
	Envelope *Envelope `pb:"1"`
}

// EventsService and ForwardMethod name containerd's ttrpc event service.
const (
	EventsService = "containerd.services.events.ttrpc.v1.Events"
	ForwardMethod = "Forward"
)

// Is reports whether a holds a message of m's type. Like protobuf's
// registry it compares the full name after the URL's last '/', so
// "type.googleapis.com/containerd.runc.v1.Options" is accepted too.
func Is(a *Any, m Message) bool {
	if a == nil {
		return false
	}
	return a.TypeUrl[strings.LastIndexByte(a.TypeUrl, '/')+1:] == m.TypeURL()
}

// MarshalAny wraps a message with its type URL.
func MarshalAny(e Message) *Any {
	return &Any{TypeUrl: e.TypeURL(), Value: Marshal(e)}
}
