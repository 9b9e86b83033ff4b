package container

// Security is a container's privilege settings. The defaults are Docker's:
// its 14 capabilities, its seccomp profile, its masked and read-only /proc
// and /sys paths, and only the default devices.
type Security struct {
	// Privileged gives every capability and host device, no seccomp, no
	// masked paths and writable /sys (--privileged).
	Privileged bool `json:"Privileged,omitempty"`
	// CapAdd and CapDrop change the default capability set (--cap-add,
	// --cap-drop); names with or without CAP_, or ALL.
	CapAdd  []string `json:"CapAdd,omitempty"`
	CapDrop []string `json:"CapDrop,omitempty"`
	// SecurityOpt are --security-opt values: seccomp=unconfined|PROFILE.json
	// (the CLI reads the file and passes its JSON as seccomp=<json>),
	// no-new-privileges[=true|false], apparmor=PROFILE.
	SecurityOpt []string `json:"SecurityOpt,omitempty"`
	// GroupAdd are extra groups of the process, names or GIDs (--group-add).
	GroupAdd []string `json:"GroupAdd,omitempty"`
	// MaskedPaths are hidden in the container, ReadonlyPaths mounted
	// read-only (Docker's HostConfig fields): nil is Docker's defaults (none
	// for a privileged container), filled in at create; empty is none.
	MaskedPaths   []string `json:"MaskedPaths"`
	ReadonlyPaths []string `json:"ReadonlyPaths"`
}
