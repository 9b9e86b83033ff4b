package commands

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// berth compose without berth-compose (or without a way to run it) says
// so and exits 1; its help still works.
func TestComposeMissing(t *testing.T) {
	var out bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out}
	app := NewApp(env, Compose(env))
	if code := Main(context.Background(), app, []string{"berth", "compose", "ps"}); code != 1 || !strings.Contains(out.String(), "berth compose") {
		t.Errorf("berth compose ps without berth-compose: exit %d\n%s", code, out.String())
	}
	out.Reset()
	app = NewApp(env, Compose(env))
	if code := Main(context.Background(), app, []string{"berth", "compose", "--help"}); code != 0 || !strings.Contains(out.String(), "berth compose up -d") {
		t.Errorf("berth compose --help: exit %d\n%s", code, out.String())
	}
}
