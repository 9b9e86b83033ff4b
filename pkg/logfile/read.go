package logfile

import (
	"context"
	"errors"
	"time"
)

// Entry is one log entry.
type Entry struct {
	Line   []byte // as written, including the trailing newline of a complete line
	Stream string // "stdout" or "stderr"
	Time   time.Time
}

// ReadOptions select what Read returns.
type ReadOptions struct {
	Follow       bool
	Tail         int // the last Tail entries only; < 0: all
	Since, Until time.Time
}

// Read calls fn for every selected entry of the log at path, oldest first.
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Entry) error) error {
	return errors.New("logfile: Read not implemented yet")
}
