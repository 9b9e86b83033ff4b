// Package manager is one file of containerd's core/mount/manager: its
// format.go, which `make containerd` builds in place of containerd's own
// (go build -overlay, cmd/containerd/build.sh).
//
// containerd's formats a mount's source, target and options, such as
// "lowerdir={{ overlay 0 3 }}", with text/template. text/template's
// executor looks methods up by name (reflect.Value.MethodByName), and a
// binary that may do so keeps every exported method of every type put in
// an interface: containerd's binary is 3.7 MB larger for it, and a Go
// daemon's idle memory follows its binary's size (docs/performance.md,
// "Idle daemons"). This file parses the same templates with
// text/template/parse and evaluates what mount formats are made of: text
// and actions calling source, target, mount or overlay with integer
// arguments, the forms containerd's snapshotters write (erofs). Anything
// else in an action is an error naming the template.
//
// Written against containerd v2.3.7's format.go (TestUpstreamUnchanged
// checks that the one it stands in for is still that one).
package manager

import (
	"context"
	"fmt"
	"strings"
	"text/template/parse"

	"github.com/containerd/containerd/v2/core/mount"
)

const formatCheck = "{{"

type mountFormatter struct{}

func (mountFormatter) Transform(_ context.Context, m mount.Mount, a []mount.ActiveMount) (mount.Mount, error) {
	if sc := formatString(m.Source); sc != nil {
		f, err := sc(a)
		if err != nil {
			return m, err
		}
		m.Source = f
	}

	if tc := formatString(m.Target); tc != nil {
		f, err := tc(a)
		if err != nil {
			return m, err
		}
		m.Target = f
	}

	var o []string
	for i := range m.Options {
		if oc := formatString(m.Options[i]); oc != nil {
			f, err := oc(a)
			if err != nil {
				return m, err
			}
			if o == nil {
				o = make([]string, len(m.Options))
				copy(o, m.Options)
			}
			o[i] = f
		}
	}
	if o != nil {
		m.Options = o
	}
	return m, nil
}

func formatString(s string) func([]mount.ActiveMount) (string, error) {
	if !strings.Contains(s, formatCheck) {
		return nil
	}

	return func(a []mount.ActiveMount) (string, error) {
		inRange := func(i int) error {
			if i < 0 || i >= len(a) {
				return fmt.Errorf("index out of bounds: %d, has %d active mounts", i, len(a))
			}
			return nil
		}
		one := func(get func(mount.ActiveMount) string) func(...int) (string, error) {
			return func(args ...int) (string, error) {
				if len(args) != 1 {
					return "", fmt.Errorf("wrong number of args: want 1 got %d", len(args))
				}
				if err := inRange(args[0]); err != nil {
					return "", err
				}
				return get(a[args[0]]), nil
			}
		}
		fm := map[string]func(...int) (string, error){
			"source": one(func(m mount.ActiveMount) string { return m.Source }),
			"target": one(func(m mount.ActiveMount) string { return m.Target }),
			"mount":  one(func(m mount.ActiveMount) string { return m.MountPoint }),
			"overlay": func(args ...int) (string, error) {
				if len(args) != 2 {
					return "", fmt.Errorf("wrong number of args: want 2 got %d", len(args))
				}
				start, end := args[0], args[1]
				var dirs []string
				if start > end {
					if start >= len(a) || end < 0 {
						return "", fmt.Errorf("invalid range: %d-%d, has %d active mounts", start, end, len(a))
					}
					for i := start; i >= end; i-- {
						dirs = append(dirs, a[i].MountPoint)
					}
				} else {
					if start < 0 || end >= len(a) {
						return "", fmt.Errorf("invalid range: %d-%d, has %d active mounts", start, end, len(a))
					}
					for i := start; i <= end; i++ {
						dirs = append(dirs, a[i].MountPoint)
					}
				}
				return strings.Join(dirs, ":"), nil
			},
		}
		// The parser only checks that a called function exists.
		names := make(map[string]any, len(fm))
		for n, f := range fm {
			names[n] = f
		}
		trees, err := parse.Parse("", s, "", "", names)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if t := trees[""]; t != nil && t.Root != nil {
			for _, n := range t.Root.Nodes {
				if err := eval(&b, n, fm); err != nil {
					return "", fmt.Errorf("mount format %q: %w", s, err)
				}
			}
		}
		return b.String(), nil
	}
}

// eval writes what node n of a mount format stands for.
func eval(b *strings.Builder, n parse.Node, fm map[string]func(...int) (string, error)) error {
	switch n := n.(type) {
	case *parse.TextNode:
		b.Write(n.Text)
		return nil
	case *parse.CommentNode:
		return nil
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 && len(n.Pipe.Cmds) == 1 {
			cmd := n.Pipe.Cmds[0]
			if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok && fm[id.Ident] != nil {
				args := make([]int, 0, len(cmd.Args)-1)
				for _, arg := range cmd.Args[1:] {
					num, ok := arg.(*parse.NumberNode)
					if !ok || !num.IsInt {
						return fmt.Errorf("%s: argument %s is not an integer", n, arg)
					}
					args = append(args, int(num.Int64))
				}
				s, err := fm[id.Ident](args...)
				if err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
				b.WriteString(s)
				return nil
			}
		}
	}
	return fmt.Errorf("%s: not a call of source, target, mount or overlay", n)
}
