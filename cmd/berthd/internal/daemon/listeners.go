package daemon

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
)

// ListenUnix opens another API socket the way berth.sock is opened: a
// stale socket is replaced, one another process answers on is refused, and
// the new one gets mode 0660 and group socketGroup (when it exists). For
// the services a RegisterFunc serves beside the gRPC API (the Docker API).
func ListenUnix(path, socketGroup string, log *slog.Logger) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another process (a Docker daemon, another berthd?) answers on %s: stop it or choose another socket", path)
	}
	if err := claimSocket(path); err != nil {
		return nil, err
	}
	return listen(path, socketGroup, log)
}

// ListenMutualTLS opens addr with the TCP API's mutual TLS (the same
// certificates and client CA), for HTTP/1.1 clients.
func ListenMutualTLS(cfg *config.Config, addr string) (net.Listener, error) {
	c := *cfg
	c.TCPAddress = addr
	tc, err := serverTLSConfig(&c)
	if err != nil {
		return nil, err
	}
	tc.NextProtos = []string{"http/1.1"}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(l, tc), nil
}
