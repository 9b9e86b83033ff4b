package container

import (
	"io/fs"
	"time"
)

// CopyToOptions for CopyTo (`berth cp SRC CONTAINER:DEST`).
type CopyToOptions struct {
	// Path is the destination in the container as the user gave it (a
	// trailing "/" matters: Docker's rules).
	Path string
	// SrcName is the tar's top-level entry (the source's base name); ""
	// extracts the tar as it is into Path, which must be a directory
	// (`berth cp - CONTAINER:DIR`).
	SrcName string
	// SrcIsDir: the source is a directory; SrcContents: its path ended in
	// "/." (copy what is inside it).
	SrcIsDir    bool
	SrcContents bool
	// CopyUIDGID keeps the archive's owners (-a); else files belong to root.
	CopyUIDGID bool
}

// PathStat describes a path in a container's file system.
type PathStat struct {
	Name       string
	Size       int64
	Mode       fs.FileMode
	ModTime    time.Time
	LinkTarget string
}
