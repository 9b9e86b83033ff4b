package ui

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/websocket"

	"github.com/berthproject/berth/pkg/types/container"
)

// execConsole runs a process with a tty in the container and carries its
// terminal over a WebSocket: the browser sends "i<input>" and
// "r<cols>,<rows>" text messages, the server sends the output as binary
// messages and closes when the process exits. ServeHTTP has checked the
// cookie and the Origin (a browser sends its page's on the handshake).
func (s *Server) execConsole(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	q := r.URL.Query()
	if err := s.checkCSRF(r); err != nil {
		return fmt.Errorf("%s: %w", err, errInvalid)
	}
	cmd := strings.Fields(q.Get("cmd"))
	if len(cmd) == 0 {
		cmd = []string{"/bin/sh"}
	}
	cols, _ := strconv.Atoi(q.Get("cols"))
	rows, _ := strconv.Atoi(q.Get("rows"))
	size := container.WindowSize{Width: uint16(max(cols, 20)), Height: uint16(max(rows, 5))}
	execID, err := s.b.Containers.ExecCreate(ctx, id, container.ExecConfig{
		Cmd: cmd, Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true, ConsoleSize: size,
		Env: []string{"TERM=xterm-256color"},
	})
	if err != nil {
		return err
	}
	websocket.Server{
		// The Origin was checked with the cookie in ServeHTTP.
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		Handler: func(ws *websocket.Conn) {
			defer func() { _ = ws.Close() }()
			ws.PayloadType = websocket.BinaryFrame
			stdin, stdinW := io.Pipe()
			resize := make(chan container.WindowSize, 4)
			var once sync.Once
			closeIn := func() { once.Do(func() { stdinW.Close(); close(resize) }) }
			defer closeIn()
			go func() {
				defer closeIn()
				for {
					var msg string
					if err := websocket.Message.Receive(ws, &msg); err != nil || msg == "" {
						return
					}
					switch msg[0] {
					case 'i':
						if _, err := io.WriteString(stdinW, msg[1:]); err != nil {
							return
						}
					case 'r':
						c, r, _ := strings.Cut(msg[1:], ",")
						cw, _ := strconv.Atoi(c)
						rh, _ := strconv.Atoi(r)
						if cw > 0 && rh > 0 {
							select {
							case resize <- container.WindowSize{Width: uint16(cw), Height: uint16(rh)}:
							default:
							}
						}
					}
				}
			}()
			out := &wsWriter{ws: ws}
			code, err := s.b.Containers.ExecStart(ctx, execID, container.Streams{Stdin: stdin, Stdout: out, Stderr: out, Resize: resize})
			if err != nil {
				fmt.Fprintf(out, "\r\n[berth: %v]\r\n", err)
				return
			}
			fmt.Fprintf(out, "\r\n[process exited with code %d]\r\n", code)
		},
	}.ServeHTTP(w, r)
	return nil
}

type wsWriter struct {
	mu sync.Mutex
	ws *websocket.Conn
}

func (w *wsWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ws.Write(p)
}
