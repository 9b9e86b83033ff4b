package term

import (
	"bytes"
	"os"
	"testing"
)

func TestNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, f := range []any{r, &bytes.Buffer{}} {
		if IsTerminal(f) {
			t.Errorf("%T reported as a terminal", f)
		}
		if _, ok := GetSize(f); ok {
			t.Errorf("%T has a size", f)
		}
		restore, err := MakeRaw(f)
		if err != nil {
			t.Fatal(err)
		}
		restore()
	}
}
