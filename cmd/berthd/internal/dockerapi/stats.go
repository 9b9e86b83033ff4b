package dockerapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	dcontainer "github.com/moby/moby/api/types/container"

	"github.com/berthproject/berth/pkg/types/container"
)

// statsInterval is how often a stats stream samples, as dockerd.
const statsInterval = time.Second

func statsResponse(st *container.Stats, pre *container.Stats) dcontainer.StatsResponse {
	out := dcontainer.StatsResponse{
		ID:     st.ID,
		Name:   "/" + trimSlash(st.Name),
		OSType: "linux",
		Read:   st.Read,
		CPUStats: dcontainer.CPUStats{
			CPUUsage:    dcontainer.CPUUsage{TotalUsage: st.CPUUsage},
			SystemUsage: st.SystemCPUUsage,
			OnlineCPUs:  st.OnlineCPUs,
		},
		MemoryStats: dcontainer.MemoryStats{Usage: st.MemoryUsage, Limit: st.MemoryLimit, Stats: map[string]uint64{}},
		Networks: map[string]dcontainer.NetworkStats{
			"eth0": {RxBytes: st.NetRx, TxBytes: st.NetTx},
		},
		PidsStats: dcontainer.PidsStats{Current: st.Pids, Limit: st.PidsLimit},
		BlkioStats: dcontainer.BlkioStats{IoServiceBytesRecursive: []dcontainer.BlkioStatEntry{
			{Op: "read", Value: st.BlockRead}, {Op: "write", Value: st.BlockWrite},
		}},
	}
	if pre != nil {
		out.PreRead = pre.Read
		out.PreCPUStats = dcontainer.CPUStats{
			CPUUsage:    dcontainer.CPUUsage{TotalUsage: pre.CPUUsage},
			SystemUsage: pre.SystemCPUUsage,
			OnlineCPUs:  pre.OnlineCPUs,
		}
	}
	return out
}

// containerStats answers one sample (stream=0; with the sample of a second
// before as precpu unless one-shot=1) or a sample a second until the
// client leaves or the container stops.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	stream := boolValueOr(r, "stream", true)
	oneShot := boolValue(r, "one-shot")
	if oneShot && stream {
		return invalid("cannot have stream=true and one-shot=true")
	}
	ctx := r.Context()
	first, err := s.b.Containers.Stats(ctx, v["name"])
	if err != nil {
		return err
	}
	if !stream {
		if oneShot || !first.Running {
			return writeJSON(w, http.StatusOK, statsResponse(first, nil))
		}
		if !sleep(ctx, statsInterval) {
			return nil
		}
		next, err := s.b.Containers.Stats(ctx, v["name"])
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, statsResponse(next, first))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := newJSONStream(w)
	pre := (*container.Stats)(nil)
	cur := first
	for {
		if err := out.send(statsResponse(cur, pre)); err != nil {
			return nil
		}
		if !cur.Running || !sleep(ctx, statsInterval) {
			return nil
		}
		next, err := s.b.Containers.Stats(ctx, v["name"])
		if err != nil {
			return nil // removed: the stream ends
		}
		pre, cur = cur, next
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pathStatHeader is the X-Docker-Container-Path-Stat header of a path.
func pathStatHeader(st container.PathStat) string {
	b, _ := json.Marshal(dcontainer.PathStat{Name: st.Name, Size: st.Size, Mode: st.Mode, Mtime: st.ModTime, LinkTarget: st.LinkTarget})
	return base64.StdEncoding.EncodeToString(b)
}

func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", invalid("the path parameter is required")
	}
	if !path.IsAbs(p) {
		// Relative paths are relative to the container's root, as dockerd.
		p = "/" + p
	}
	return p, nil
}

func (s *Server) archiveHead(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := s.b.Containers.StatPath(r.Context(), v["name"], p)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", pathStatHeader(st))
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) archiveGet(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := s.b.Containers.StatPath(r.Context(), v["name"], p)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", pathStatHeader(st))
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.b.Containers.CopyFrom(r.Context(), v["name"], p, w); err != nil {
		s.log.Warn("archive GET", "container", v["name"], "path", p, "error", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// archivePut extracts the tar body into a directory of the container. The
// engine keeps every entry inside the container's file system (symlinks
// and ".." resolve within it).
func (s *Server) archivePut(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := s.b.Containers.StatPath(r.Context(), v["name"], p)
	if err != nil {
		return err
	}
	if !st.Mode.IsDir() && st.Mode&os.ModeSymlink == 0 {
		return invalid("extraction point is not a directory: %s", p)
	}
	o := container.CopyToOptions{Path: strings.TrimSuffix(p, "/") + "/", CopyUIDGID: boolValue(r, "copyUIDGID")}
	if err := s.b.Containers.CopyTo(r.Context(), v["name"], o, r.Body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
