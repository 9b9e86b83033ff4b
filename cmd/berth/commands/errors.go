package commands

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/system"
)

// Exit codes berth uses besides a container's own, as Docker does.
const (
	// ExitBerthFailed: berth itself failed (bad flag, daemon error, unknown
	// image for run).
	ExitBerthFailed = 125
	// ExitCannotExecute: the container's command exists but cannot run.
	ExitCannotExecute = 126
	// ExitNotFound: the container's command was not found.
	ExitNotFound = 127
)

// ExitError ends berth with Code, printing Err when it is not nil. A
// container's exit code travels this way with a nil Err.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error from a command to berth's exit code: the code of an
// ExitError, Docker's 126/127 of a *container.StartError, 125 for errors
// that mean berth could not do the job on run/create paths (those are
// wrapped by failed), and 1 for everything else (No such container, ...).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var se *container.StartError
	if errors.As(err, &se) && se.ExitCode != 0 {
		return se.ExitCode
	}
	return 1
}

// failed marks err as berth's own failure (exit 125) unless it already
// carries an exit code (a StartError's 126/127).
func failed(err error) error {
	if err == nil {
		return nil
	}
	var se *container.StartError
	var ee *ExitError
	if errors.As(err, &se) || errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: ExitBerthFailed, Err: err}
}

// report prints err on w as "berth: <message>" and returns the exit code.
func report(w io.Writer, err error, debug bool) int {
	code := ExitCode(err)
	if msg := Message(err); msg != "" {
		fmt.Fprintf(w, "berth: %s\n", msg)
	}
	var bare *ExitError
	if debug && !(errors.As(err, &bare) && bare.Err == nil) {
		for e := err; e != nil; e = errors.Unwrap(e) {
			fmt.Fprintf(w, "  (%T) %v\n", e, e)
		}
	}
	return code
}

// Message is the text berth prints for err ("" for a bare exit code), with
// a hint where one helps.
func Message(err error) string {
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return ""
	}
	msg := trimClass(err)
	var ce *connectError
	var re *registryUnavailable
	var be *system.BackendUnavailableError
	switch {
	case errors.As(err, &be):
		// The daemon berthd named, else the one whose socket the error
		// names (a berthd that did not name it), else containerd.
		backend := be.Backend
		if backend == "" {
			backend = system.BackendNamed(err)
		}
		if backend == "" {
			backend = "containerd"
		}
		msg += "\nberthd is running, but " + backend + " did not answer: berthd restarts it when it stops. Retry in a moment; if this lasts, berthd's log says why."
	case errdefs.IsUnavailable(err) && !errors.As(err, &ce) && !errors.As(err, &re):
		msg += "\nIs berthd running? Start it with `berthd` (or `make up` in a berth checkout), or point --host/BERTH_HOST at its socket."
	}
	var he *hintError
	if errors.As(err, &he) {
		msg += "\n" + he.hint
	}
	var se *container.StartError
	if errors.As(err, &se) && se.ExitCode == ExitNotFound && !strings.Contains(msg, "PATH") {
		msg += "\nCheck the command name, or that it is in the image's PATH."
	}
	return msg
}

// errorClasses are the errdefs classes berthd's errors wrap.
var errorClasses = []error{
	errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrAlreadyExists,
	errdefs.ErrConflict, errdefs.ErrFailedPrecondition, errdefs.ErrUnavailable,
	errdefs.ErrNotImplemented, errdefs.ErrPermissionDenied, errdefs.ErrUnknown,
	errdefs.ErrUnauthenticated, errdefs.ErrDataLoss,
}

// trimClass drops the class name that %w appends to an engine message
// ("No such container: x: not found" → "No such container: x"): the class
// picks the exit code, the user needs only the sentence.
func trimClass(err error) string {
	msg := err.Error()
	for _, c := range errorClasses {
		if errors.Is(err, c) {
			if t, ok := strings.CutSuffix(msg, ": "+c.Error()); ok && t != "" {
				return t
			}
		}
	}
	return msg
}

// hintError adds a line telling the user how to fix err; Message prints it.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// createHint explains a failed create whose image is not here (and could
// not be pulled); any other error speaks for itself.
func createHint(err error) error {
	if isNoSuchImage(err) {
		return &hintError{err, "Pull it (berth pull IMAGE) or load it (berth load -i IMAGE.tar, berth import); berth images lists the local ones."}
	}
	return err
}

// printErr reports one failure of a multi-object command and goes on.
func printErr(c *cli.Context, env *Env, err error) {
	report(env.Stderr, err, c.Bool("debug"))
}
