package container

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
)

// cgroupOOMKilledByID is cgroupOOMKilled of the container id.
func (s *Service) cgroupOOMKilledByID(ctx context.Context, id string) bool {
	c, err := s.containerStore().Get(ctx, id)
	return err == nil && cgroupOOMKilled(c)
}

// cgroupOOMKilled reports whether the kernel's OOM killer killed a process
// of the container's cgroup (memory.oom_control's oom_kill on cgroup v1,
// memory.events' oom_kill on v2).
func cgroupOOMKilled(c containers.Container) bool {
	if c.Spec == nil {
		return false
	}
	v, err := typeurl.UnmarshalAny(c.Spec)
	if err != nil {
		return false
	}
	spec, ok := v.(*oci.Spec)
	if !ok || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return false
	}
	path := cgroupRelPath(spec.Linux.CgroupsPath)
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control"), // v1
		filepath.Join("/sys/fs/cgroup", path, "memory.events"),             // v2
	} {
		if n, ok := readCounter(f, "oom_kill"); ok {
			return n > 0
		}
	}
	return false
}

// readCounter reads "key N" from a cgroup file.
func readCounter(file, key string) (int64, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
