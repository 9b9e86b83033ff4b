package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestParity checks berth against what a Docker user expects on day one
// (issue 15): subtests share one stack, each with its own names.
func TestParity(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c cli)
	}{
		{"BinaryStdin", testBinaryStdin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, cli{t: t, s: s})
		})
	}
}

// binaryInput is a few MB of random data with Docker's detach sequence
// (ctrl-p ctrl-q) inside, and its SHA-256 as sha256sum prints it.
func binaryInput(t *testing.T) ([]byte, string) {
	t.Helper()
	data := make([]byte, 3<<20)
	if _, err := cryptoRand(data); err != nil {
		t.Fatal(err)
	}
	copy(data[1000:], "abc\x10\x11def")
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]) + "  -"
}

// testBinaryStdin: without -t, stdin is data, not keys: run -i, exec -i and
// attach pass it byte for byte, detach sequence included (bug 1).
func testBinaryStdin(t *testing.T, c cli) {
	data, want := binaryInput(t)

	r := c.runIn(bytes.NewReader(data), "run", "-i", "--rm", "busybox", "sha256sum")
	if r.code != 0 || r.out() != want {
		t.Errorf("run -i: want %q; got %s", want, r)
	}

	n := c.name("binstdin")
	c.ok("run", "-d", "-i", "--name", n, "busybox", "sleep", "1000")
	r = c.runIn(bytes.NewReader(data), "exec", "-i", n, "sha256sum")
	if r.code != 0 || r.out() != want {
		t.Errorf("exec -i: want %q; got %s", want, r)
	}

	// attach: the container reads exactly len(data) bytes, so the result
	// does not depend on whether attach's EOF closes its stdin.
	a := c.name("binattach")
	c.ok("run", "-d", "-i", "--name", a, "busybox", "sh", "-c", "head -c 3145728 | sha256sum")
	c.waitStatus(a, "running")
	r = c.runIn(bytes.NewReader(data), "attach", a)
	if r.code != 0 || r.out() != want {
		t.Errorf("attach: want %q; got %s", want, r)
	}
	if code := c.ok("wait", a); code != "0" {
		t.Errorf("attached container exited %s", code)
	}
}
