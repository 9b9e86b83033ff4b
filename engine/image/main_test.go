package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/berthproject/berth/test/harness"
	"github.com/berthproject/berth/test/images/imagegen"
)

const containerdBin = "/usr/local/lib/berth/containerd"

var (
	testClient *client.Client
	testSocket string
	// busyboxTar is the busybox test image as an OCI archive; busyboxInfo
	// describes it.
	busyboxTar  []byte
	busyboxInfo imagegen.ImageInfo
)

// TestMain starts a private containerd (own root, state and socket under a
// short temp dir, CRI and NRI off) for the package's tests and stops it by
// PID afterwards.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getuid() != 0 {
		fmt.Println("engine/image: tests need root (they run a private containerd); skipping")
		return 0
	}
	if _, err := os.Stat(containerdBin); err != nil {
		fmt.Println("engine/image: tests need", containerdBin, "(make deps); skipping")
		return 0
	}
	if _, err := os.Stat(imagegen.DefaultBusybox); err != nil {
		fmt.Println("engine/image: tests need busybox-static; skipping")
		return 0
	}
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	var buf bytes.Buffer
	if busyboxInfo, err = imagegen.WriteOCIArchive(&buf, spec); err != nil {
		fmt.Println(err)
		return 1
	}
	busyboxTar = buf.Bytes()

	dir, err := os.MkdirTemp("/tmp", "bti")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	stop, c, err := startContainerd(dir)
	if err != nil {
		fmt.Println("start containerd:", err)
		if stop != nil {
			stop()
		}
		return 1
	}
	defer stop()
	testClient = c
	testSocket = filepath.Join(dir, "c.sock")
	return m.Run()
}

func startContainerd(dir string) (stop func(), c *client.Client, err error) {
	sock := filepath.Join(dir, "c.sock")
	cfg := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.nri.v1.nri"]
[grpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(containerdBin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := harness.StartTied(cmd); err != nil {
		logf.Close()
		return nil, nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = func() {
		if c != nil {
			c.Close()
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		unmountUnder(dir)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(logf.Name())
			return stop, nil, fmt.Errorf("containerd exited: %s", tail(log))
		default:
		}
		if _, err := os.Stat(sock); err == nil {
			c, err = client.New(sock, client.WithTimeout(5*time.Second))
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				ok, serr := c.IsServing(ctx)
				cancel()
				if serr == nil && ok {
					return stop, c, nil
				}
				c.Close()
				c = nil
			}
		}
		if time.Now().After(deadline) {
			return stop, nil, fmt.Errorf("containerd not serving on %s after 30s", sock)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unmountUnder lazily unmounts anything left mounted below dir, deepest first.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mps = append(mps, f[4])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mps[i], syscall.MNT_DETACH)
	}
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
