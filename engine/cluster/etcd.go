package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/pkg/supervisor"
)

// EtcdBinary is the name of the etcd binary berthd runs (cmd/berth-etcd).
const EtcdBinary = "berth-etcd"

// etcdMember is how this node runs its etcd member.
type etcdMember struct {
	binary         string
	dataDir        string
	tlsDir         string
	name           string // the node ID
	addr           string // underlay IP
	clientPort     int
	peerPort       int
	initialCluster string // name=https://ip:peer,...
	initialState   string // "new" or "existing"
	clusterToken   string // the cluster ID
	stateDir       string
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

func (m etcdMember) clientURL() string { return "https://" + hostPort(m.addr, m.clientPort) }
func (m etcdMember) peerURL() string   { return "https://" + hostPort(m.addr, m.peerPort) }

// spec is the supervisor's description of the member. etcd outlives a
// berthd killed with SIGKILL (like containerd): the next berthd adopts it
// through its pid file, the data dir being its identity.
func (m etcdMember) spec() supervisor.Spec {
	ca, cert, key := tlsFiles(m.tlsDir)
	local := "https://" + hostPort("127.0.0.1", m.clientPort)
	args := []string{
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL() + "," + local,
		"--advertise-client-urls", m.clientURL(),
		"--listen-peer-urls", m.peerURL(),
		"--initial-advertise-peer-urls", m.peerURL(),
		"--initial-cluster", m.initialCluster,
		"--initial-cluster-state", m.initialState,
		"--initial-cluster-token", m.clusterToken,
		"--client-cert-auth", "--trusted-ca-file", ca, "--cert-file", cert, "--key-file", key,
		"--peer-client-cert-auth", "--peer-trusted-ca-file", ca, "--peer-cert-file", cert, "--peer-key-file", key,
		"--logger", "zap", "--log-level", "warn",
		// Keep 5 minutes of history: watchers resume within it, and the
		// store does not grow with every revision (docs/cluster.md).
		"--auto-compaction-mode", "periodic", "--auto-compaction-retention", "5m",
	}
	return supervisor.Spec{
		Name:     "etcd",
		Path:     m.binary,
		Args:     args,
		Env:      []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GOMAXPROCS=2"},
		LogFile:  filepath.Join(m.stateDir, "etcd.log"),
		PIDFile:  filepath.Join(m.stateDir, "etcd.pid"),
		Identity: m.dataDir,
		Probe: func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", hostPort("127.0.0.1", m.clientPort))
			if err != nil {
				return err
			}
			return c.Close()
		},
		BeforeStart:  func() error { return os.MkdirAll(m.dataDir, 0o700) },
		ReadyTimeout: 60 * time.Second,
		StopTimeout:  10 * time.Second,
	}
}

func (m etcdMember) start(ctx context.Context, logger *slog.Logger) (*supervisor.Process, error) {
	if err := os.MkdirAll(m.stateDir, 0o700); err != nil {
		return nil, err
	}
	p, err := supervisor.Start(ctx, m.spec(), logger)
	if err != nil {
		return nil, fmt.Errorf("starting the etcd member (log: %s): %w", filepath.Join(m.stateDir, "etcd.log"), err)
	}
	return p, nil
}

// lookBin finds name in dirs, then $PATH.
func lookBin(dirs []string, name string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	for _, d := range strings.Split(os.Getenv("PATH"), ":") {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s or $PATH: run `make install` (berth's etcd member is built with berth)", name, strings.Join(dirs, ", "))
}
