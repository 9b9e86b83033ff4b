// Package containerio carries a container's output to its log file and to
// attached clients. It is what both berth-logger (containerd's binary
// logging protocol, for runtimes other than berth's) and berth's own shim
// (in-process) run, configured by the same binary log URI.
package containerio

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// LoggerName is the base name of berth's logger binary; a binary log URI
// naming it is understood by berth's shim without starting the binary.
const LoggerName = "berth-logger"

// Defaults used by berth when the user sets no log options.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 3
)

// URI query keys (they are also berth-logger's argument names, since
// containerd passes each query key and its value as two arguments).
const (
	keyPath    = "path"
	keyMaxSize = "max-size"
	keyMaxFile = "max-file"
	keyAttach  = "attach"
	keyStdin   = "stdin"
	keyNoLog   = "nolog"
)

// Options configure a Sink.
type Options struct {
	LogPath  string // json-file log; required
	MaxSize  int64  // rotate before the file exceeds this many bytes; <=0: never
	MaxFiles int    // files kept, the current one included
	// AttachSocket is the attach socket to serve; "" = none.
	AttachSocket string
	// Stdin: the container was created with -i, attach clients may feed
	// its stdin (only where the Sink's owner can connect Stdin() to the
	// process: berth's shim; berth-logger has no way to reach it).
	Stdin bool
	// NoLog: write no log file (Docker's "none" log driver); attach
	// clients still get the output.
	NoLog bool
}

// LoggerURI returns the containerd binary log URI that runs the logger at
// binaryPath with o:
// binary:///path/berth-logger?attach=…&max-file=…&max-size=…&path=…&stdin=1
func LoggerURI(binaryPath string, o Options) string {
	q := url.Values{}
	q.Set(keyPath, o.LogPath)
	q.Set(keyMaxSize, strconv.FormatInt(o.MaxSize, 10))
	q.Set(keyMaxFile, strconv.Itoa(o.MaxFiles))
	if o.AttachSocket != "" {
		q.Set(keyAttach, o.AttachSocket)
	}
	if o.Stdin {
		q.Set(keyStdin, "1")
	}
	if o.NoLog {
		q.Set(keyNoLog, "1")
	}
	u := url.URL{Scheme: "binary", Path: binaryPath, RawQuery: q.Encode()}
	return u.String()
}

// IsBerthLogger reports whether u is a binary log URI naming berth-logger
// (scheme "binary", or "binary-v2": containerd's variant with a strict
// readiness check, which berth-logger also satisfies).
func IsBerthLogger(u *url.URL) bool {
	return u != nil && (u.Scheme == "binary" || u.Scheme == "binary-v2") && path.Base(u.Path) == LoggerName
}

// ParseLoggerURI returns the Options encoded in a URI made by LoggerURI.
func ParseLoggerURI(u *url.URL) (Options, error) {
	if !IsBerthLogger(u) {
		return Options{}, fmt.Errorf("containerio: %q is not a %s URI", u.String(), LoggerName)
	}
	return parseValues(u.Query())
}

// ParseLoggerArgs parses berth-logger's arguments: the URI's query as
// key value pairs, in any order (containerd iterates a map to build them).
func ParseLoggerArgs(args []string) (Options, error) {
	if len(args)%2 != 0 {
		return Options{}, fmt.Errorf("containerio: arguments must be key value pairs, got %q", args)
	}
	q := url.Values{}
	for i := 0; i < len(args); i += 2 {
		q.Set(args[i], args[i+1])
	}
	return parseValues(q)
}

func parseValues(q url.Values) (Options, error) {
	o := Options{
		LogPath:      q.Get(keyPath),
		MaxSize:      DefaultMaxSize,
		MaxFiles:     DefaultMaxFiles,
		AttachSocket: q.Get(keyAttach),
		NoLog:        q.Get(keyNoLog) == "1",
	}
	if o.LogPath == "" {
		return o, fmt.Errorf("containerio: missing %s", keyPath)
	}
	if v := q.Get(keyMaxSize); v != "" {
		n, err := ParseSize(v)
		if err != nil {
			return o, fmt.Errorf("containerio: %s: %w", keyMaxSize, err)
		}
		o.MaxSize = n
	}
	if v := q.Get(keyMaxFile); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("containerio: %s: invalid count %q", keyMaxFile, v)
		}
		o.MaxFiles = n
	}
	switch v := q.Get(keyStdin); v {
	case "", "0", "false":
	case "1", "true":
		o.Stdin = true
	default:
		return o, fmt.Errorf("containerio: %s: invalid value %q", keyStdin, v)
	}
	return o, nil
}

// ParseSize parses a byte count: a plain integer or one with a k, m or g
// suffix (powers of 1024, as Docker's max-size), e.g. "10m". "-1" (any
// value <= 0) means unlimited.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	if n <= 0 {
		return -1, nil
	}
	return n * mult, nil
}
