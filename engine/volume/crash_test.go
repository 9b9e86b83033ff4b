package volume

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	volumetypes "github.com/berthproject/berth/pkg/types/volume"
)

const envCrashChild = "BERTH_VOLUME_CRASH_CHILD"

// TestCrashDuringWrites kills (SIGKILL) a process that creates, fills and
// removes volumes in a loop, at a different point of the loop each time,
// and checks after each kill that the next service loads every volume
// whole (metadata and data directory), removes what an interrupted create
// or remove left, and works.
func TestCrashDuringWrites(t *testing.T) {
	if root := os.Getenv(envCrashChild); root != "" {
		crashChild(root)
		return
	}
	root := t.TempDir()
	ctx := context.Background()
	for round := range 12 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringWrites$")
		cmd.Env = append(os.Environ(), envCrashChild+"="+root)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a number of steps that differs from round to round,
		// so the kill lands in different places of create and remove.
		sc := bufio.NewScanner(out)
		for steps := 0; steps < 3+round*7 && sc.Scan(); steps++ {
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		s, err := New(Options{Root: root})
		if err != nil {
			t.Fatalf("round %d: the service does not load after a kill: %v", round, err)
		}
		vs, err := s.List(ctx, nil)
		if err != nil {
			t.Fatalf("round %d: list: %v", round, err)
		}
		for _, v := range vs {
			if _, err := os.Stat(filepath.Join(v.Mountpoint, "f")); err != nil && !os.IsNotExist(err) {
				t.Errorf("round %d: volume %s: %v", round, v.Name, err)
			}
			if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
				t.Errorf("round %d: volume %s has no data directory: %v", round, v.Name, err)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(root, "volumes"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("round %d: %s left after the restart", round, e.Name())
			} else if _, err := os.Stat(filepath.Join(root, "volumes", e.Name(), "meta.json")); err != nil {
				t.Errorf("round %d: volume directory %s without metadata: %v", round, e.Name(), err)
			}
		}
		if _, err := s.Create(ctx, volumetypes.CreateOptions{Name: fmt.Sprintf("after-%d", round)}); err != nil {
			t.Fatalf("round %d: create after the kill: %v", round, err)
		}
	}
}

// crashChild creates, fills and removes volumes until it is killed,
// printing a line after each step.
func crashChild(root string) {
	s, err := New(Options{Root: root})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		name := fmt.Sprintf("v%d", i)
		v, err := s.Create(ctx, volumetypes.CreateOptions{Name: name, Labels: map[string]string{"i": name}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("created", name)
		_ = os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte(strings.Repeat("x", 4096)), 0o600)
		fmt.Println("filled", name)
		if i%2 == 0 {
			if err := s.Remove(ctx, name, false); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println("removed", name)
		}
	}
}
