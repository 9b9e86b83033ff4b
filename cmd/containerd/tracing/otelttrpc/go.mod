module github.com/containerd/otelttrpc

go 1.26.8

require github.com/containerd/ttrpc v1.2.8
