//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// snapshotterBin is the berth-snapshotter binary TestMain builds (root only).
var snapshotterBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Getuid() == 0 {
		dir, err := os.MkdirTemp("", "berth-snapshotter-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		snapshotterBin = filepath.Join(dir, "berth-snapshotter")
		cmd := exec.Command("go", "build", "-o", snapshotterBin, "github.com/berthproject/berth/cmd/berth-snapshotter")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build berth-snapshotter:", err)
			return 1
		}
	}
	return m.Run()
}

// proc is a running berth-snapshotter and a proxy client connected to it.
type proc struct {
	cmd    *exec.Cmd
	client snapshots.Snapshotter
	close  func()
}

func startProc(t *testing.T, root, sock string) *proc {
	t.Helper()
	cmd := exec.Command(snapshotterBin, "--root", root, "--address", sock)
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(sock), "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	// Ready once the socket accepts: it is made after recovery. (A stale
	// socket file of a killed process refuses connections.)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(filepath.Dir(sock), "log"))
			t.Fatalf("berth-snapshotter not ready: %v\n%s", err, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	client, conn, err := dialProxy(sock)
	if err != nil {
		t.Fatal(err)
	}
	p.client, p.close = client, func() { conn.Close() }
	return p
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.close()
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.close()
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("berth-snapshotter did not exit cleanly on SIGTERM: %v", err)
	}
}

// model is what the driver knows was acknowledged: name → kind, parent.
type model map[string]snapshots.Info

func walkModel(ctx context.Context, sn snapshots.Snapshotter) (model, error) {
	m := model{}
	err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		m[info.Name] = snapshots.Info{Name: info.Name, Kind: info.Kind, Parent: info.Parent}
		return nil
	})
	return m, err
}

// op is one operation of the driver; pending holds the one in flight.
type op struct {
	kind      string // prepare, commit, remove
	key, name string
	parent    string
}

// driver runs random prepare/commit/remove operations until one fails. It
// returns the operation that was in flight when it failed.
func driver(ctx context.Context, sn snapshots.Snapshotter, m model, rng *rand.Rand, started chan<- struct{}, seq *int) (op, error) {
	first := true
	for {
		var actives, committed, leaves []string
		children := map[string]int{}
		for _, info := range m {
			children[info.Parent]++
		}
		for name, info := range m {
			if info.Kind == snapshots.KindActive {
				actives = append(actives, name)
			} else {
				committed = append(committed, name)
			}
			if children[name] == 0 {
				leaves = append(leaves, name)
			}
		}
		sort.Strings(actives)
		sort.Strings(committed)
		sort.Strings(leaves)
		*seq++
		var o op
		switch r := rng.IntN(10); {
		case len(m) > 40 || (r < 3 && len(leaves) > 0):
			o = op{kind: "remove", key: leaves[rng.IntN(len(leaves))]}
		case r < 6 && len(actives) > 0:
			o = op{kind: "commit", key: actives[rng.IntN(len(actives))], name: fmt.Sprintf("c%d", *seq)}
		default:
			o = op{kind: "prepare", key: fmt.Sprintf("a%d", *seq)}
			if len(committed) > 0 && rng.IntN(4) != 0 {
				o.parent = committed[rng.IntN(len(committed))]
			}
		}
		var err error
		switch o.kind {
		case "prepare":
			var mounts []mount.Mount
			mounts, err = sn.Prepare(ctx, o.key, o.parent)
			if err == nil && mounts[0].Type == "bind" {
				// Some content, so that commit has a layer to measure.
				for i := range 20 {
					_ = os.WriteFile(filepath.Join(mounts[0].Source, fmt.Sprintf("f%d", i)), make([]byte, 3000), 0o644)
				}
			}
			if err == nil {
				m[o.key] = snapshots.Info{Name: o.key, Kind: snapshots.KindActive, Parent: o.parent}
			}
		case "commit":
			err = sn.Commit(ctx, o.name, o.key)
			if err == nil {
				info := m[o.key]
				delete(m, o.key)
				m[o.name] = snapshots.Info{Name: o.name, Kind: snapshots.KindCommitted, Parent: info.Parent}
			}
		case "remove":
			err = sn.Remove(ctx, o.key)
			if err == nil {
				delete(m, o.key)
			}
		}
		if err != nil {
			return o, err
		}
		if first {
			close(started)
			first = false
		}
	}
}

// agrees checks got (after recovery) against the acknowledged model want,
// allowing either outcome for the operation p that was in flight.
func agrees(want, got model, p op) error {
	touched := map[string]bool{p.key: true, p.name: true}
	for name, info := range want {
		if touched[name] {
			continue
		}
		g, ok := got[name]
		if !ok {
			return fmt.Errorf("acknowledged snapshot %q (%v) is gone", name, info.Kind)
		}
		if g.Kind != info.Kind || g.Parent != info.Parent {
			return fmt.Errorf("snapshot %q is %v on %q, acknowledged as %v on %q", name, g.Kind, g.Parent, info.Kind, info.Parent)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok && !touched[name] {
			return fmt.Errorf("snapshot %q exists but was never acknowledged", name)
		}
	}
	return nil
}

// checkDisk opens the metadata of a stopped snapshotter and checks it
// against the directories: every snapshot has its directory (and an active
// one its workdir), and every directory belongs to a snapshot.
func checkDisk(t *testing.T, root string) {
	t.Helper()
	ms, err := storage.NewMetaStore(filepath.Join(root, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	ctx := context.Background()
	want := map[string]bool{}
	err = ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		var names []string
		if err := storage.WalkInfo(ctx, func(_ context.Context, info snapshots.Info) error {
			names = append(names, info.Name)
			return nil
		}); err != nil {
			return err
		}
		for _, name := range names {
			id, info, _, err := storage.GetInfo(ctx, name)
			if err != nil {
				return err
			}
			want[id] = true
			if _, err := os.Stat(filepath.Join(root, "snapshots", id, "fs")); err != nil {
				return fmt.Errorf("snapshot %q (id %s): %w", name, id, err)
			}
			if info.Kind == snapshots.KindActive {
				if _, err := os.Stat(filepath.Join(root, "snapshots", id, "work")); err != nil {
					return fmt.Errorf("active snapshot %q (id %s): %w", name, id, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Fatalf("directory snapshots/%s has no snapshot after recovery", e.Name())
		}
	}
}

// TestKillRecovery runs the real berth-snapshotter, drives it through the
// ttrpc proxy client, SIGKILLs it at random points of prepare, commit and
// remove, restarts it, and checks that the metadata and the directories
// agree and that every acknowledged operation survived.
func TestKillRecovery(t *testing.T) {
	needRoot(t)
	dir := shortTempDir(t)
	root := filepath.Join(dir, "root")
	sock := filepath.Join(dir, "s.sock")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	ctx := namespaces.WithNamespace(context.Background(), "berth-test")

	const cycles = 60
	inFlight := map[string]int{}
	seq := 0
	for cycle := range cycles {
		p := startProc(t, root, sock)
		m, err := walkModel(ctx, p.client)
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		type result struct {
			pending op
			err     error
		}
		done := make(chan result, 1)
		go func() {
			o, err := driver(ctx, p.client, m, rand.New(rand.NewPCG(seed, uint64(cycle)+2)), started, &seq)
			done <- result{o, err}
		}()
		select {
		case <-started:
		case r := <-done:
			t.Fatalf("cycle %d: driver failed before the kill: %v (%+v)", cycle, r.err, r.pending)
		}
		// The kill point: a random moment while operations are running.
		select {
		case r := <-done:
			t.Fatalf("cycle %d: driver failed before the kill: %v (%+v)", cycle, r.err, r.pending)
		case <-time.After(time.Duration(rng.IntN(40_000)) * time.Microsecond):
		}
		p.kill(t)
		r := <-done
		inFlight[r.pending.kind]++

		// Restart: recovery runs before the socket serves.
		p = startProc(t, root, sock)
		got, err := walkModel(ctx, p.client)
		if err != nil {
			t.Fatal(err)
		}
		if err := agrees(m, got, r.pending); err != nil {
			t.Fatalf("cycle %d, killed during %+v: %v", cycle, r.pending, err)
		}
		p.stop(t)
		checkDisk(t, root)
	}
	t.Logf("kills during: %v", inFlight)

	// And the snapshotter is still usable afterwards.
	p := startProc(t, root, sock)
	if _, err := p.client.Prepare(ctx, "after", ""); err != nil {
		t.Fatal(err)
	}
	if err := p.client.Remove(ctx, "after"); err != nil {
		t.Fatal(err)
	}
	p.stop(t)
	checkDisk(t, root)
}
