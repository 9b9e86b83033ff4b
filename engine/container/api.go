package container

// This file lists the container service's methods with their contracts. The
// implementations live in the files named after each verb.
//
//	Create(ctx, Config) (id string, warnings []string, err error)
//	Start(ctx, id) error
//	Stop(ctx, id, StopOptions) error
//	Restart(ctx, id, StopOptions) error
//	Kill(ctx, id, signal string) error            // signal "" = SIGKILL; names (TERM, SIGTERM) or numbers
//	Pause(ctx, id) error / Unpause(ctx, id) error
//	Remove(ctx, id, RemoveOptions) error
//	List(ctx, ListOptions) ([]Summary, error)
//	Inspect(ctx, id) (*Container, error)
//	Rename(ctx, id, newName string) error
//	Wait(ctx, id, WaitCondition) (<-chan ExitStatus, error)
//	    Returns once the wait is registered (so a caller can Wait, then Start, and
//	    never miss the exit, even with AutoRemove). The channel yields one value.
//	Logs(ctx, id, LogOptions, fn func(LogEntry) error) error
//	Attach(ctx, id, AttachOptions) error
//	    Blocks until the container's output ends (it exited) or ctx is done. On a
//	    container that is not running it waits for the next Start and is
//	    connected before the process starts, so no output is missed (run, start -a).
//	    ready, if the caller wants to know when the attachment is in place, is
//	    signalled by AttachOptions.Ready (closed once registered).
//	Resize(ctx, id, WindowSize) error
//	ExecCreate(ctx, id, ExecConfig) (execID string, err error)
//	ExecStart(ctx, execID, Streams) (exitCode int, err error)   // blocks until exit unless Detach
//	ExecResize(ctx, execID, WindowSize) error
//	ExecInspect(ctx, execID) (*ExecInspect, error)
//	Top(ctx, id, psArgs string) (*TopResult, error)
//	Update(ctx, id, Resources) (warnings []string, err error)   // cgroup limits of a running or stopped container
//	Stats(ctx, id) (*Stats, error)                              // CPU, memory, network, block I/O, PIDs
//	Connect / Disconnect(ctx, id, …)                            // networks (connect.go)
//	StatPath / CopyFrom / CopyTo                                // berth cp (copy.go)
//	LayerSize(ctx, id) (int64, error)                           // the writable layer's size (system df)
//
// Every id argument accepts a full ID, a unique ID prefix or a name; an unknown
// one is errdefs.ErrNotFound with the message "No such container: <id>".
// Conflicts (name in use, removing a running container without Force) are
// errdefs.ErrConflict; wrong state (pause of a stopped container) is
// errdefs.ErrFailedPrecondition; bad input is errdefs.ErrInvalidArgument.
// A process that cannot be started reports *StartError with Docker's exit
// code 126 (not executable) or 127 (not found).
