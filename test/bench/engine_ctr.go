package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/pkg/ctrdconfig"
)

// newCtr starts berth's own containerd (the binary berthd runs, from
// /usr/local/lib/berth) with a private config, root, state and socket, and
// drives it with ctr: containerd's floor, with no network set-up at all
// (ctr run makes an empty network namespace: the "none" column).
func (b *Bench) newCtr(archive string) (*Engine, error) {
	libexec := os.Getenv("BERTH_LIBEXEC")
	if libexec == "" {
		libexec = "/usr/local/lib/berth"
	}
	containerd, ctr := filepath.Join(libexec, "containerd"), filepath.Join(libexec, "ctr")
	dir, err := os.MkdirTemp("/tmp", "bc")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "c.sock")
	const ns = "bench"
	var cmd *exec.Cmd
	exited := make(chan struct{})
	cli := func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, ctr, append([]string{"--address", sock, "--namespace", ns}, args...)...)
	}
	b.addCleanup("ctr", func() error {
		var errs []error
		if cmd != nil && cmd.Process != nil && !isClosed(exited) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			out, _ := cli(ctx, "containers", "ls", "-q").Output()
			for _, id := range strings.Fields(string(out)) {
				_ = cli(ctx, "tasks", "delete", "--force", id).Run()
			}
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				_ = cli(ctx, append([]string{"containers", "delete"}, ids...)...).Run()
			}
			cancel()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				errs = append(errs, fmt.Errorf("containerd did not stop within 30s; killed"))
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		errs = append(errs, scrubDir(dir))
		return errors.Join(errs...)
	})
	cfg := filepath.Join(dir, "config.toml")
	if err := ctrdconfig.Write(cfg, ctrdconfig.Options{
		Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"),
		Address: sock, ShimSocketDir: filepath.Join(dir, "s"), LogLevel: "warn",
	}); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "containerd.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd = exec.Command(containerd, "--config", cfg)
	cmd.Env = append(os.Environ(), "PATH="+libexec+":/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := waitSocket(sock, exited, 60*time.Second); err != nil {
		return nil, fmt.Errorf("containerd: %v\n%s", err, tailFile(logPath, 2000))
	}
	e := &Engine{
		Name:     "ctr",
		Networks: []string{"none", "host"},
		cli:      cli,
		runRm: func(network, name string) []string {
			args := []string{"run", "--rm"}
			if network == "host" {
				args = append(args, "--net-host")
			}
			return append(args, Image, name, "true")
		},
		runDetached: func(name string) []string {
			return []string{"run", "-d", Image, name, "sleep", "3600"}
		},
		removeAll: func(names []string) [][]string {
			var cmds [][]string
			for _, n := range names {
				cmds = append(cmds, []string{"tasks", "delete", "--force", n})
			}
			return append(cmds, append([]string{"containers", "delete"}, names...))
		},
		daemons:      func() map[string]int { return map[string]int{"containerd": cmd.Process.Pid} },
		perContainer: func() [][]int { return shimsOf(sock) },
	}
	if _, err := e.Exec(b.ctx, "images", "import", archive); err != nil {
		return nil, err
	}
	e.Version = version(containerd, "--version")
	e.Extra = map[string]string{"containerd": e.Version, "runc": version(filepath.Join(libexec, "runc"), "--version")}
	e.Notes = append(e.Notes, "berth's containerd binary with a private config (CRI off, as berthd configures it), root, state and socket; ctr run (no network set-up; `none` is ctr's empty network namespace); rm is `ctr tasks delete --force` per container then one `ctr containers delete`")
	return e, nil
}
