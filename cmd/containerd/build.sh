#!/bin/sh
# build.sh builds berth's containerd: `go build` of this directory with the
# arguments given (-tags, -ldflags, and -o with an absolute path), where
# containerd's core/mount/manager/format.go is mountformat/format.go.
# containerd's own would link text/template's executor (mountformat says
# why). containerd's pkg/tracing is notracing/tracing.go: the same API
# without OpenTelemetry, whose spans are no-ops in this containerd
# (notracing says why). The build is of a copy of this module with its dependencies
# vendored (`go mod vendor`: go.mod's and go.sum's versions, which the
# binary's build info names as without a vendor dir); go build's -overlay
# may not replace files in the module cache. `make containerd` and
# main_test.go build with it. $GO names the go tool.
set -eu
cd "$(dirname "$0")"
go=${GO:-go}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R go.mod go.sum goresctrl cgroups metrics tracing "$tmp/"
for f in *.go; do
	case $f in
	*_test.go) ;;
	*) cp "$f" "$tmp/" ;;
	esac
done
cd "$tmp"
GOFLAGS=-mod=readonly $go mod vendor
cp "$OLDPWD/mountformat/format.go" vendor/github.com/containerd/containerd/v2/core/mount/manager/format.go
rm vendor/github.com/containerd/containerd/v2/pkg/tracing/*.go
cp "$OLDPWD/notracing/tracing.go" vendor/github.com/containerd/containerd/v2/pkg/tracing/tracing.go
CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=vendor" $go build -trimpath "$@" .
