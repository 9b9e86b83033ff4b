package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/sirupsen/logrus"
)

// maxPreamble bounds the header line of a session connection.
const maxPreamble = 1 << 20

// serveSessions accepts BuildKit sessions on l: each connection starts with
// one line, a JSON object of the session's headers (as an HTTP client sends
// them with Docker's POST /session: X-Docker-Expose-Session-Uuid, -Name,
// -Sharedkey, -Grpc-Method), then carries HTTP/2 with the client as the
// gRPC server, as the hijacked connection of POST /session does.
func serveSessions(ctx context.Context, l net.Listener, b *builder) error {
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			hdr, err := readPreamble(conn)
			if err != nil {
				logrus.Warnf("session: %v", err)
				conn.Close()
				return
			}
			// HandleConn returns when the session ends; it closes conn.
			if err := b.sessions.HandleConn(ctx, conn, hdr); err != nil {
				logrus.Debugf("session: %v", err)
			}
		}()
	}
}

// readPreamble reads the header line byte by byte, so that nothing of the
// HTTP/2 stream after it is consumed.
func readPreamble(r io.Reader) (map[string][]string, error) {
	var line []byte
	var c [1]byte
	for {
		if _, err := io.ReadFull(r, c[:]); err != nil {
			return nil, fmt.Errorf("read header line: %w", err)
		}
		if c[0] == '\n' {
			break
		}
		if len(line) >= maxPreamble {
			return nil, errors.New("header line too long")
		}
		line = append(line, c[0])
	}
	var hdr map[string][]string
	if err := json.Unmarshal(line, &hdr); err != nil {
		return nil, fmt.Errorf("header line is not a JSON object of headers: %w", err)
	}
	return hdr, nil
}
