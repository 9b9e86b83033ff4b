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

// CommitOptions are the options of Commit (`berth commit`).
type CommitOptions struct {
	// Ref names the new image (repository[:tag]); "" leaves it dangling.
	Ref string
	// Comment (-m) and Author (-a) go to the image's history entry.
	Comment string
	Author  string
	// Changes (-c) are Dockerfile instructions applied to the image's
	// configuration: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,
	// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.
	Changes []string
	// NoPause commits a running container without pausing it
	// (`--pause=false`).
	NoPause bool
}

// ChangeKind is the kind of one change of `berth diff`, numbered as
// Docker's API does.
type ChangeKind uint8

// The kinds of change.
const (
	ChangeModify ChangeKind = 0
	ChangeAdd    ChangeKind = 1
	ChangeDelete ChangeKind = 2
)

// String is the letter `diff` prints: C, A or D.
func (k ChangeKind) String() string {
	switch k {
	case ChangeAdd:
		return "A"
	case ChangeDelete:
		return "D"
	}
	return "C"
}

// Change is a path of the container's file system that differs from its
// image.
type Change struct {
	Kind ChangeKind `json:"Kind"`
	Path string     `json:"Path"`
}
