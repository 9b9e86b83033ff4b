package apiserver

import (
	"bytes"
	"testing"
)

type msg struct {
	greeting bool
	data     []byte
}

func TestOutputChunksAndGreetsFirst(t *testing.T) {
	var sent []*msg
	o := &output[msg]{
		send:     func(m *msg) error { sent = append(sent, &msg{m.greeting, bytes.Clone(m.data)}); return nil },
		greeting: &msg{greeting: true},
	}
	w := o.writer(func(p []byte) *msg { return &msg{data: p} })
	data := bytes.Repeat([]byte("0123456789abcdef"), (3*maxChunk+maxChunk/2)/16)
	n, err := w.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if err := o.greet(); err != nil { // a later greet sends nothing more
		t.Fatal(err)
	}
	if len(sent) == 0 || !sent[0].greeting {
		t.Fatal("the greeting was not the first message")
	}
	var got []byte
	for _, m := range sent[1:] {
		if m.greeting {
			t.Fatal("greeting sent twice")
		}
		if len(m.data) > maxChunk {
			t.Errorf("a message carries %d bytes, more than %d", len(m.data), maxChunk)
		}
		got = append(got, m.data...)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("chunks reassemble to %d bytes, want %d", len(got), len(data))
	}
	if len(sent) != 1+4 {
		t.Errorf("%d messages, want a greeting and 4 chunks", len(sent))
	}
}
