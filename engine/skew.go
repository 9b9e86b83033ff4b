package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// TestedContainerd is the containerd release berth's shim and engine are
// tested against: the one `make deps` builds (the Makefile's
// CONTAINERD_VERSION; TestTestedContainerd keeps the two equal). The shim
// speaks containerd's task API through a hand-written wire format, so a
// containerd of another minor version may send what it does not know.
const TestedContainerd = "v2.3.7"

// warnVersionSkew logs a warning when the containerd berth talks to is
// another minor version than TestedContainerd (an external containerd,
// containerd_address in berthd.toml).
func warnVersionSkew(ctx context.Context, cl *client.Client, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := cl.Version(ctx)
	if err != nil {
		log.Warn("cannot read containerd's version", "err", err)
		return
	}
	if msg := versionSkew(v.Version, TestedContainerd); msg != "" {
		log.Warn(msg, "containerd", v.Version, "tested", TestedContainerd)
	}
}

// versionSkew says what is at stake when containerd's version got is
// another minor version than tested ("" when it is the same).
func versionSkew(got, tested string) string {
	if minorOf(got) == minorOf(tested) && minorOf(got) != "" {
		return ""
	}
	return fmt.Sprintf("containerd %s is not the minor version berth's shim was tested against (%s): "+
		"task API fields or methods it adds are ignored by the shim (its debug log names them); "+
		"use the containerd that `make deps` builds, or test berth against this one", got, tested)
}

// minorOf returns "major.minor" of a version like v2.3.7, 2.3.0-rc.1 or
// 2.3.7+unknown ("" if it has no minor).
func minorOf(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	major, rest, ok := strings.Cut(v, ".")
	if !ok || major == "" {
		return ""
	}
	minor, _, _ := strings.Cut(rest, ".")
	minor, _, _ = strings.Cut(minor, "-")
	minor, _, _ = strings.Cut(minor, "+")
	if minor == "" {
		return ""
	}
	return major + "." + minor
}
