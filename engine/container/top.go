package container

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Top lists the container's processes with ps (psArgs default "-ef"), as
// Docker does: run ps on the host and keep the rows of the container's PIDs.
func (s *Service) Top(ctx context.Context, ref, psArgs string) (*containertypes.TopResult, error) {
	r, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	resp, err := s.taskClient().ListPids(s.ctx(ctx), &tasks.ListPidsRequest{ContainerID: r.id})
	if err != nil {
		err = errgrpc.ToNative(err)
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %s is not running: %w", r.name, errdefs.ErrConflict)
		}
		return nil, err
	}
	pids := make(map[int]bool, len(resp.Processes))
	for _, p := range resp.Processes {
		pids[int(p.Pid)] = true
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return nil, fmt.Errorf("running ps %s: %v: %w", psArgs, err, errdefs.ErrInvalidArgument)
	}
	return parsePS(string(out), pids)
}

func parsePS(out string, pids map[int]bool) (*containertypes.TopResult, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return nil, fmt.Errorf("ps printed nothing")
	}
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return nil, fmt.Errorf("ps output has no PID column: use ps options that print it: %w", errdefs.ErrInvalidArgument)
	}
	res := &containertypes.TopResult{Titles: titles}
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(fields[pidCol])
		if err != nil || !pids[pid] {
			continue
		}
		// The last column (the command) may contain spaces.
		if len(fields) > len(titles) {
			fields = append(fields[:len(titles)-1], strings.Join(fields[len(titles)-1:], " "))
		}
		res.Processes = append(res.Processes, fields)
	}
	return res, nil
}
