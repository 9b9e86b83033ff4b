module github.com/containerd/cgroups/v3

go 1.26.8

require (
	github.com/opencontainers/runtime-spec v1.3.0
	golang.org/x/sys v0.47.0
)
