package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/berthproject/berth/cmd/berth/commands"
)

// Every command of the real tree answers --help with its usage line and an
// example, and exits 0.
func TestEveryCommandHasHelp(t *testing.T) {
	newEnv := func(out *bytes.Buffer) *commands.Env {
		return &commands.Env{
			Stdin: strings.NewReader(""), Stdout: out, Stderr: out,
			Connect: func(context.Context, string) (commands.Client, error) {
				return nil, errors.New("no daemon in this test")
			},
		}
	}
	var out bytes.Buffer
	app := newApp(newEnv(&out))
	var paths [][]string
	var walk func(prefix []string, cs []*cli.Command)
	walk = func(prefix []string, cs []*cli.Command) {
		for _, c := range cs {
			p := append(append([]string{}, prefix...), c.Name)
			paths = append(paths, p)
			walk(p, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
	if len(paths) < 40 {
		t.Fatalf("only %d commands in the tree", len(paths))
	}
	for _, p := range paths {
		var out bytes.Buffer
		app := newApp(newEnv(&out))
		code := commands.Main(context.Background(), app, append(append([]string{"berth"}, p...), "--help"))
		text := out.String()
		if code != 0 || !strings.Contains(text, "USAGE:") || !strings.Contains(text, "berth ") {
			t.Errorf("berth %s --help: exit %d\n%s", strings.Join(p, " "), code, text)
		}
	}
}
