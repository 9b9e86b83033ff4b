package taskwire

// Messages of the shim's start, delete and -info actions and of the runc
// runtime options.

// BootstrapParams is containerd.runtime.bootstrap.v1.BootstrapParams (what
// containerd 2.x writes on the start action's stdin). Extensions are not
// read.
type BootstrapParams struct {
	InstanceID             string `pb:"1"`
	Namespace              string `pb:"2"`
	LogLevel               int32  `pb:"3"`
	ContainerdVersion      string `pb:"4"`
	ContainerdTtrpcAddress string `pb:"5"`
	ContainerdGrpcAddress  string `pb:"6"`
	ContainerdBinary       string `pb:"7"`
	SocketDir              string `pb:"9"`
}

// BootstrapResult is containerd.runtime.bootstrap.v1.BootstrapResult.
type BootstrapResult struct {
	Version  int32             `pb:"1"`
	Address  string            `pb:"2"`
	Protocol string            `pb:"3"`
	Metadata map[string]string `pb:"5"`
}

// RuntimeVersion is containerd.types.RuntimeVersion.
type RuntimeVersion struct {
	Version  string `pb:"1"`
	Revision string `pb:"2"`
}

// RuntimeInfo is containerd.types.RuntimeInfo.
type RuntimeInfo struct {
	Name        string            `pb:"1"`
	Version     *RuntimeVersion   `pb:"2"`
	Options     *Any              `pb:"3"`
	Features    *Any              `pb:"4"`
	Annotations map[string]string `pb:"5"`
}

// Options is containerd.runc.v1.Options, the runtime options of a task.
type Options struct {
	NoPivotRoot    bool   `pb:"1"`
	NoNewKeyring   bool   `pb:"2"`
	ShimCgroup     string `pb:"3"`
	IoUid          uint32 `pb:"4"` //nolint:revive // named as the generated field
	IoGid          uint32 `pb:"5"` //nolint:revive // named as the generated field
	BinaryName     string `pb:"6"`
	Root           string `pb:"7"`
	SystemdCgroup  bool   `pb:"9"`
	CriuImagePath  string `pb:"10"`
	CriuWorkPath   string `pb:"11"`
	TaskApiAddress string `pb:"12"` //nolint:revive // named as the generated field
	TaskApiVersion uint32 `pb:"13"` //nolint:revive // named as the generated field
}

// ProcessDetails is containerd.runc.v1.ProcessDetails (Pids' info).
type ProcessDetails struct {
	ExecID string `pb:"1"`
}

func (*Options) TypeURL() string        { return "containerd.runc.v1.Options" }
func (*ProcessDetails) TypeURL() string { return "containerd.runc.v1.ProcessDetails" }
