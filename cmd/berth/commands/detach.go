package commands

import (
	"errors"
	"io"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/opts"
)

func detachKeysFlag() cli.Flag {
	return &cli.StringFlag{Name: "detach-keys", Value: opts.DefaultDetachKeys, Usage: "key sequence that detaches from the container and leaves it running"}
}

// errDetached ends the stdin pump once the user typed the detach keys.
var errDetached = errors.New("detached from the container")

// detachReader passes input through and watches it for the detach key
// sequence. A partial match is held back until it either completes (then
// nothing of it reaches the container) or breaks (then it is passed on).
// On a full match it calls detach and, so that the container's stdin is
// not closed by an EOF, blocks until the attachment is torn down (done).
type detachReader struct {
	r      io.Reader
	keys   []byte
	detach func()
	done   <-chan struct{}

	held    []byte
	pending []byte
	err     error
	once    sync.Once
}

func (d *detachReader) Read(p []byte) (int, error) {
	if len(d.pending) == 0 && d.err == nil {
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		d.scan(buf[:n])
		if err != nil && d.err == nil {
			d.pending = append(d.pending, d.held...)
			d.held = nil
			d.err = err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	if n > 0 || d.err == nil {
		return n, nil
	}
	if d.err == errDetached {
		// Input typed before the keys went out with the previous Read.
		d.once.Do(d.detach)
		<-d.done
	}
	return 0, d.err
}

// scan moves input to pending, holding back a partial key sequence; a full
// one ends the input with errDetached (what followed it is dropped).
func (d *detachReader) scan(in []byte) {
	for _, b := range in {
		if b == d.keys[len(d.held)] {
			d.held = append(d.held, b)
			if len(d.held) == len(d.keys) {
				d.held = nil
				d.err = errDetached
				return
			}
			continue
		}
		d.pending = append(d.pending, d.held...)
		d.held = d.held[:0]
		if b == d.keys[0] {
			d.held = append(d.held, b)
			continue
		}
		d.pending = append(d.pending, b)
	}
}
