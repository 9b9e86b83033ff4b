package commands

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAllDetach(input string, oneByte bool) (string, bool, error) {
	var r io.Reader = strings.NewReader(input)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	done := make(chan struct{})
	detached := false
	d := &detachReader{r: r, keys: []byte{16, 17}, done: done, detach: func() { detached = true; close(done) }}
	out, err := io.ReadAll(d)
	return string(out), detached, err
}

func TestDetachReader(t *testing.T) {
	for _, oneByte := range []bool{false, true} {
		// ctrl-p alone, and ctrl-p followed by something else, pass through.
		out, detached, err := readAllDetach("ab\x10x\x10\x10y", oneByte)
		if out != "ab\x10x\x10\x10y" || detached || err != nil {
			t.Errorf("oneByte=%v: %q %v %v", oneByte, out, detached, err)
		}
		// ctrl-p ctrl-q detaches; nothing of the sequence or after it is sent.
		out, detached, err = readAllDetach("ls\r\x10\x11rm -rf\r", oneByte)
		if out != "ls\r" || !detached || !errors.Is(err, errDetached) {
			t.Errorf("oneByte=%v: %q %v %v", oneByte, out, detached, err)
		}
		// A held ctrl-p at the end of input is still delivered.
		out, detached, err = readAllDetach("q\x10", oneByte)
		if out != "q\x10" || detached || err != nil {
			t.Errorf("oneByte=%v: %q %v %v", oneByte, out, detached, err)
		}
	}
}
