package taskwire

import "time"

// Messages of containerd's task service (api/runtime/task/v2/shim.proto;
// task/v3 is the same messages under another package name).

// Any is google.protobuf.Any.
type Any struct {
	TypeUrl string `pb:"1"` //nolint:revive // named as the generated field
	Value   []byte `pb:"2"`
}

// Empty is google.protobuf.Empty.
type Empty struct{}

// Mount is containerd.types.Mount.
type Mount struct {
	Type    string   `pb:"1"`
	Source  string   `pb:"2"`
	Target  string   `pb:"3"`
	Options []string `pb:"4"`
}

// Status is containerd.v1.types.Status.
type Status int32

// Status values.
const (
	Status_UNKNOWN Status = 0 //nolint:revive // named as the generated constants
	Status_CREATED Status = 1
	Status_RUNNING Status = 2
	Status_STOPPED Status = 3
	Status_PAUSED  Status = 4
	Status_PAUSING Status = 5
)

// ProcessInfo is containerd.v1.types.ProcessInfo.
type ProcessInfo struct {
	Pid  uint32 `pb:"1"`
	Info *Any   `pb:"2"`
}

type CreateTaskRequest struct {
	ID               string   `pb:"1"`
	Bundle           string   `pb:"2"`
	Rootfs           []*Mount `pb:"3"`
	Terminal         bool     `pb:"4"`
	Stdin            string   `pb:"5"`
	Stdout           string   `pb:"6"`
	Stderr           string   `pb:"7"`
	Checkpoint       string   `pb:"8"`
	ParentCheckpoint string   `pb:"9"`
	Options          *Any     `pb:"10"`
}

type CreateTaskResponse struct {
	Pid uint32 `pb:"1"`
}

type DeleteRequest struct {
	ID     string `pb:"1"`
	ExecID string `pb:"2"`
}

type DeleteResponse struct {
	Pid        uint32    `pb:"1"`
	ExitStatus uint32    `pb:"2"`
	ExitedAt   time.Time `pb:"3"`
}

type ExecProcessRequest struct {
	ID       string `pb:"1"`
	ExecID   string `pb:"2"`
	Terminal bool   `pb:"3"`
	Stdin    string `pb:"4"`
	Stdout   string `pb:"5"`
	Stderr   string `pb:"6"`
	Spec     *Any   `pb:"7"`
}

type ResizePtyRequest struct {
	ID     string `pb:"1"`
	ExecID string `pb:"2"`
	Width  uint32 `pb:"3"`
	Height uint32 `pb:"4"`
}

type StateRequest struct {
	ID     string `pb:"1"`
	ExecID string `pb:"2"`
}

type StateResponse struct {
	ID         string    `pb:"1"`
	Bundle     string    `pb:"2"`
	Pid        uint32    `pb:"3"`
	Status     Status    `pb:"4"`
	Stdin      string    `pb:"5"`
	Stdout     string    `pb:"6"`
	Stderr     string    `pb:"7"`
	Terminal   bool      `pb:"8"`
	ExitStatus uint32    `pb:"9"`
	ExitedAt   time.Time `pb:"10,opt"`
	ExecID     string    `pb:"11"`
}

type KillRequest struct {
	ID     string `pb:"1"`
	ExecID string `pb:"2"`
	Signal uint32 `pb:"3"`
	All    bool   `pb:"4"`
}

type CloseIORequest struct {
	ID     string `pb:"1"`
	ExecID string `pb:"2"`
	Stdin  bool   `pb:"3"`
}

type PidsRequest struct {
	ID string `pb:"1"`
}

type PidsResponse struct {
	Processes []*ProcessInfo `pb:"1"`
}

type CheckpointTaskRequest struct {
	ID      string `pb:"1"`
	Path    string `pb:"2"`
	Options *Any   `pb:"3"`
}

type UpdateTaskRequest struct {
	ID          string            `pb:"1"`
	Resources   *Any              `pb:"2"`
	Annotations map[string]string `pb:"3"`
}

type StartRequest struct {
	ID     string `pb:"1"`
	ExecID string `pb:"2"`
}

type StartResponse struct {
	Pid uint32 `pb:"1"`
}

type WaitRequest struct {
	ID     string `pb:"1"`
	ExecID string `pb:"2"`
}

type WaitResponse struct {
	ExitStatus uint32    `pb:"1"`
	ExitedAt   time.Time `pb:"2"`
}

type StatsRequest struct {
	ID string `pb:"1"`
}

type StatsResponse struct {
	Stats *Any `pb:"1"`
}

type ConnectRequest struct {
	ID string `pb:"1"`
}

type ConnectResponse struct {
	ShimPid uint32 `pb:"1"`
	TaskPid uint32 `pb:"2"`
	Version string `pb:"3"`
}

type ShutdownRequest struct {
	ID  string `pb:"1"`
	Now bool   `pb:"2"`
}

type PauseRequest struct {
	ID string `pb:"1"`
}

type ResumeRequest struct {
	ID string `pb:"1"`
}
