package service

import (
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	stypes "github.com/berthproject/berth/pkg/types/service"
)

// Docker's service templates ({{.Service.Name}}-{{.Task.Slot}} in a task's
// hostname, env values and mounts) are evaluated here over
// text/template/parse's tree, not with text/template's Execute: the
// executor calls reflect.Value.MethodByName with a name known only at run
// time, and a binary that can reach such a call keeps every exported method
// of every type (the Go linker cannot prune them), which costs berthd about
// 4 MB of code and of idle memory (docs/performance.md). The context is
// swarmkit's (template/context.go): nothing in it has methods, so no
// template can tell the difference.

// tmplObject is a struct of the context: its fields, by name, in order.
type tmplObject struct {
	path   string // ".Service", for errors
	names  []string
	fields map[string]any
}

func newTmplObject(path string, kv ...any) *tmplObject {
	o := &tmplObject{path: path, fields: map[string]any{}}
	for i := 0; i < len(kv); i += 2 {
		name := kv[i].(string)
		o.names = append(o.names, name)
		o.fields[name] = kv[i+1]
	}
	return o
}

// Format prints it as fmt prints a struct: {field values}, with the
// field names for %+v.
func (o *tmplObject) Format(f fmt.State, verb rune) {
	format := fmt.FormatString(f, verb)
	fmt.Fprint(f, "{")
	for i, n := range o.names {
		if i > 0 {
			fmt.Fprint(f, " ")
		}
		if verb == 'v' && f.Flag('+') {
			fmt.Fprint(f, n+":")
		}
		fmt.Fprintf(f, format, o.fields[n])
	}
	fmt.Fprint(f, "}")
}

// taskTemplate is the context of one task's templates.
func taskTemplate(svc *stypes.Service, t *stypes.Task, nodeID, host string) *tmplObject {
	slot := strconv.Itoa(t.Slot)
	if t.Slot == 0 {
		slot = t.NodeID // swarmkit: a global task's slot is its node
	}
	labels := svc.Spec.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return newTmplObject("",
		"Service", newTmplObject(".Service", "ID", svc.ID, "Name", svc.Spec.Name, "Labels", labels),
		"Node", newTmplObject(".Node", "ID", nodeID, "Hostname", host,
			"Platform", newTmplObject(".Node.Platform", "Architecture", unameArch(runtime.GOARCH), "OS", runtime.GOOS)),
		"Task", newTmplObject(".Task", "ID", t.ID, "Name", ContainerName(t), "Slot", slot))
}

// unameArch is the architecture as Docker reports a node's (uname -m).
func unameArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goarch
}

// expandTemplate applies a service template to data, as swarmkit's
// Context.Expand does (missingkey=error, text/template's functions and
// swarmkit's join).
func expandTemplate(s string, data *tmplObject) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	trees, err := parse.Parse("expansion", s, "", "", tmplFuncNames)
	if err != nil {
		return "", err
	}
	e := &tmplExec{vars: []tmplVar{{"$", data}}}
	if err := e.walk(data, trees["expansion"].Root); err != nil {
		return "", err
	}
	return e.out.String(), nil
}

// tmplFuncNames are the functions a template may call: text/template's
// builtins and swarmkit's join. call is parsed but fails: nothing in the
// context is a function.
var tmplFuncNames = func() map[string]any {
	m := map[string]any{}
	for _, f := range []string{"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "index", "len", "slice",
		"print", "printf", "println", "html", "js", "urlquery", "call", "join"} {
		m[f] = true // the parser wants a non-nil value
	}
	return m
}()

type tmplVar struct {
	name string
	val  any
}

type tmplExec struct {
	out  strings.Builder
	vars []tmplVar
	node parse.Node // for errors
}

var (
	errTmplBreak    = errors.New("break")
	errTmplContinue = errors.New("continue")
)

func (e *tmplExec) errorf(format string, args ...any) error {
	if e.node != nil {
		return fmt.Errorf("at <%s>: %s", e.node, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf(format, args...)
}

func (e *tmplExec) walk(dot any, n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := e.walk(dot, c); err != nil {
				return err
			}
		}
	case *parse.TextNode:
		e.out.Write(n.Text)
	case *parse.CommentNode:
	case *parse.ActionNode:
		v, err := e.pipe(dot, n.Pipe)
		if err != nil || len(n.Pipe.Decl) > 0 {
			return err
		}
		e.out.WriteString(tmplPrint(v))
	case *parse.IfNode:
		return e.branch(dot, &n.BranchNode, false)
	case *parse.WithNode:
		return e.branch(dot, &n.BranchNode, true)
	case *parse.RangeNode:
		return e.rangeOver(dot, n)
	case *parse.BreakNode:
		return errTmplBreak
	case *parse.ContinueNode:
		return errTmplContinue
	default:
		e.node = n
		return e.errorf("not supported in a service template")
	}
	return nil
}

func (e *tmplExec) branch(dot any, b *parse.BranchNode, with bool) error {
	mark := len(e.vars)
	defer func() { e.vars = e.vars[:mark] }()
	v, err := e.pipe(dot, b.Pipe)
	if err != nil {
		return err
	}
	if !tmplTruth(v) {
		return e.walk(dot, b.ElseList)
	}
	if with {
		dot = v
	}
	return e.walk(dot, b.List)
}

func (e *tmplExec) rangeOver(dot any, r *parse.RangeNode) error {
	mark := len(e.vars)
	defer func() { e.vars = e.vars[:mark] }()
	v, err := e.pipe(dot, r.Pipe)
	if err != nil {
		return err
	}
	var keys []any
	var vals []any
	switch v := v.(type) {
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			keys, vals = append(keys, k), append(vals, v[k])
		}
	case int:
		if len(r.Pipe.Decl) > 1 {
			e.node = r
			return e.errorf("can't use %d to iterate over more than one variable", v)
		}
		for i := range v {
			keys, vals = append(keys, i), append(vals, i)
		}
	case nil:
	default:
		e.node = r
		return e.errorf("range can't iterate over %s", tmplPrint(v))
	}
	if len(vals) == 0 {
		return e.walk(dot, r.ElseList)
	}
	for i := range vals {
		if err := e.rangeVars(r.Pipe, keys[i], vals[i]); err != nil {
			return err
		}
		inner := len(e.vars)
		err := e.walk(vals[i], r.List)
		e.vars = e.vars[:inner]
		if errors.Is(err, errTmplBreak) {
			break
		}
		if err != nil && !errors.Is(err, errTmplContinue) {
			return err
		}
	}
	return nil
}

// rangeVars sets a range's variables: $v, or $k, $v.
func (e *tmplExec) rangeVars(p *parse.PipeNode, key, val any) error {
	set := func(d *parse.VariableNode, top int, v any) error {
		if p.IsAssign {
			return e.setVar(d.Ident[0], v)
		}
		e.vars[len(e.vars)-top].val = v
		return nil
	}
	switch len(p.Decl) {
	case 1:
		return set(p.Decl[0], 1, val)
	case 2:
		if err := set(p.Decl[0], 2, key); err != nil {
			return err
		}
		return set(p.Decl[1], 1, val)
	}
	return nil
}

// pipe evaluates a pipeline: each command's value is the last argument of
// the next; declared variables take the result.
func (e *tmplExec) pipe(dot any, p *parse.PipeNode) (any, error) {
	if p == nil {
		return nil, nil
	}
	var v any
	for i, c := range p.Cmds {
		var final []any
		if i > 0 {
			final = []any{v}
		}
		var err error
		if v, err = e.command(dot, c, final); err != nil {
			return nil, err
		}
	}
	for _, d := range p.Decl {
		if p.IsAssign {
			if err := e.setVar(d.Ident[0], v); err != nil {
				return nil, err
			}
		} else {
			e.vars = append(e.vars, tmplVar{d.Ident[0], v})
		}
	}
	return v, nil
}

func (e *tmplExec) setVar(name string, v any) error {
	for i := len(e.vars) - 1; i >= 0; i-- {
		if e.vars[i].name == name {
			e.vars[i].val = v
			return nil
		}
	}
	return e.errorf("undefined variable: %s", name)
}

func (e *tmplExec) command(dot any, c *parse.CommandNode, final []any) (any, error) {
	e.node = c
	if id, ok := c.Args[0].(*parse.IdentifierNode); ok {
		return e.call(dot, id.Ident, c.Args[1:], final)
	}
	if len(c.Args) > 1 || final != nil {
		return nil, e.errorf("can't give argument to non-function %s", c.Args[0])
	}
	if _, ok := c.Args[0].(*parse.NilNode); ok {
		return nil, e.errorf("nil is not a command")
	}
	return e.arg(dot, c.Args[0])
}

func (e *tmplExec) arg(dot any, n parse.Node) (any, error) {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot, nil
	case *parse.FieldNode:
		return e.fields(dot, n.Ident)
	case *parse.VariableNode:
		v, err := e.variable(n.Ident[0])
		if err != nil {
			return nil, err
		}
		return e.fields(v, n.Ident[1:])
	case *parse.ChainNode:
		v, err := e.arg(dot, n.Node)
		if err != nil {
			return nil, err
		}
		return e.fields(v, n.Field)
	case *parse.PipeNode:
		return e.pipe(dot, n)
	case *parse.StringNode:
		return n.Text, nil
	case *parse.BoolNode:
		return n.True, nil
	case *parse.NumberNode:
		// text/template's idealConstant: written as a float (1.0, 1e3,
		// 0x1p4; not 0x1E, nor a rune), a float, else an int.
		hexInt := strings.HasPrefix(strings.ToLower(n.Text), "0x") && !strings.ContainsAny(n.Text, "pP")
		isRune := n.Text[0] == '\''
		switch {
		case n.IsFloat && !hexInt && !isRune && strings.ContainsAny(n.Text, ".eEpP"):
			return n.Float64, nil
		case n.IsInt:
			return int(n.Int64), nil
		case n.IsFloat:
			return n.Float64, nil
		}
	case *parse.NilNode:
		return nil, nil // an argument: print nil gives <nil>
	case *parse.IdentifierNode:
		return e.call(dot, n.Ident, nil, nil)
	}
	return nil, e.errorf("can't handle %s", n)
}

func (e *tmplExec) variable(name string) (any, error) {
	for i := len(e.vars) - 1; i >= 0; i-- {
		if e.vars[i].name == name {
			return e.vars[i].val, nil
		}
	}
	return nil, e.errorf("undefined variable: %s", name)
}

// fields follows .A.B.C from v: a struct of the context, then a map's
// keys (an absent key is an error, as swarmkit's missingkey=error).
func (e *tmplExec) fields(v any, names []string) (any, error) {
	for _, name := range names {
		switch o := v.(type) {
		case *tmplObject:
			f, ok := o.fields[name]
			if !ok {
				return nil, e.errorf("%s.%s is not a field of a service template (%s has %s)", o.path, name, tmplName(o.path), fieldList(o))
			}
			v = f
		case map[string]string:
			s, ok := o[name]
			if !ok {
				return nil, e.errorf("map has no entry for key %q", name)
			}
			v = s
		default:
			return nil, e.errorf("can't evaluate field %s in %s", name, tmplType(v))
		}
	}
	return v, nil
}

func tmplName(path string) string {
	if path == "" {
		return "the template"
	}
	return path
}

func fieldList(o *tmplObject) string {
	var names []string
	for _, n := range o.names {
		names = append(names, o.path+"."+n)
	}
	return strings.Join(names, ", ")
}

func tmplType(v any) string {
	switch v.(type) {
	case string:
		return "type string"
	case int:
		return "type int"
	case float64:
		return "type float64"
	case bool:
		return "type bool"
	case nil:
		return "nil"
	case map[string]string:
		return "type map[string]string"
	}
	return fmt.Sprintf("type %T", v)
}

func (e *tmplExec) args(dot any, nodes []parse.Node, final []any) ([]any, error) {
	var out []any
	for _, n := range nodes {
		v, err := e.arg(dot, n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return append(out, final...), nil
}

func (e *tmplExec) call(dot any, name string, nodes []parse.Node, final []any) (any, error) {
	node := e.node
	if name == "and" || name == "or" {
		// Short-circuit: the first false (and) or true (or) argument.
		if len(nodes)+len(final) == 0 {
			return nil, e.errorf("wrong number of args for %s: want at least 1 got 0", name)
		}
		var v any
		for i := range len(nodes) + len(final) {
			if i < len(nodes) {
				var err error
				if v, err = e.arg(dot, nodes[i]); err != nil {
					return nil, err
				}
			} else {
				v = final[0]
			}
			if tmplTruth(v) == (name == "or") {
				return v, nil
			}
		}
		return v, nil
	}
	args, err := e.args(dot, nodes, final)
	if err != nil {
		return nil, err
	}
	e.node = node
	return e.builtin(name, args)
}

func (e *tmplExec) builtin(name string, args []any) (any, error) {
	want := func(n int) error {
		if len(args) != n {
			return e.errorf("wrong number of args for %s: want %d got %d", name, n, len(args))
		}
		return nil
	}
	switch name {
	case "not":
		if err := want(1); err != nil {
			return nil, err
		}
		return !tmplTruth(args[0]), nil
	case "eq", "ne", "lt", "le", "gt", "ge":
		return e.compare(name, args)
	case "index":
		return e.index(args)
	case "len":
		if err := want(1); err != nil {
			return nil, err
		}
		switch a := args[0].(type) {
		case string:
			return len(a), nil
		case map[string]string:
			return len(a), nil
		}
		return nil, e.errorf("error calling len: len of %s", tmplType(args[0]))
	case "slice":
		return e.slice(args)
	case "print":
		return fmt.Sprint(args...), nil
	case "println":
		return fmt.Sprintln(args...), nil
	case "printf":
		if len(args) == 0 {
			return nil, e.errorf("wrong number of args for printf: want at least 1 got 0")
		}
		f, ok := args[0].(string)
		if !ok {
			return nil, e.errorf("printf: format is %s, not a string", tmplType(args[0]))
		}
		return fmt.Sprintf(f, args[1:]...), nil
	case "html":
		// text/template's own escapers: plain functions, apart from the
		// executor (TestNoMethodLookupByName in cmd/berthd checks).
		return template.HTMLEscaper(args...), nil
	case "js":
		return template.JSEscaper(args...), nil
	case "urlquery":
		return template.URLQueryEscaper(args...), nil
	case "join":
		// swarmkit's: the separator, then the strings.
		var s []string
		for _, a := range args {
			v, ok := a.(string)
			if !ok {
				return nil, e.errorf("join: argument is %s, not a string", tmplType(a))
			}
			s = append(s, v)
		}
		if len(s) == 0 {
			return nil, e.errorf("join: no separator")
		}
		return strings.Join(s[1:], s[0]), nil
	case "call":
		return nil, e.errorf("call: nothing in a service template is a function")
	}
	return nil, e.errorf("function %q not defined", name)
}

func (e *tmplExec) compare(name string, args []any) (any, error) {
	if len(args) < 2 || name != "eq" && len(args) != 2 {
		return nil, e.errorf("wrong number of args for %s: want 2 got %d", name, len(args))
	}
	cmp := func(a, b any) (int, error) {
		switch a := a.(type) {
		case string:
			if b, ok := b.(string); ok {
				return strings.Compare(a, b), nil
			}
		case int:
			if b, ok := b.(int); ok {
				return a - b, nil
			}
		case float64:
			if b, ok := b.(float64); ok {
				switch {
				case a < b:
					return -1, nil
				case a > b:
					return 1, nil
				}
				return 0, nil
			}
		case bool:
			if b, ok := b.(bool); ok && (name == "eq" || name == "ne") {
				if a == b {
					return 0, nil
				}
				return 1, nil
			}
		}
		return 0, e.errorf("error calling %s: incompatible types for comparison", name)
	}
	if name == "eq" {
		for _, b := range args[1:] {
			c, err := cmp(args[0], b)
			if err != nil || c == 0 {
				return err == nil, err
			}
		}
		return false, nil
	}
	c, err := cmp(args[0], args[1])
	if err != nil {
		return nil, err
	}
	switch name {
	case "ne":
		return c != 0, nil
	case "lt":
		return c < 0, nil
	case "le":
		return c <= 0, nil
	case "gt":
		return c > 0, nil
	}
	return c >= 0, nil
}

// index of a map gives "" for an absent key, as text/template's does.
func (e *tmplExec) index(args []any) (any, error) {
	if len(args) == 0 {
		return nil, e.errorf("wrong number of args for index: want at least 1 got 0")
	}
	v := args[0]
	for _, k := range args[1:] {
		switch m := v.(type) {
		case map[string]string:
			key, ok := k.(string)
			if !ok {
				return nil, e.errorf("error calling index: value has type %s; should be string", tmplType(k))
			}
			v = m[key]
		case string:
			i, ok := k.(int)
			if !ok || i < 0 || i >= len(m) {
				return nil, e.errorf("error calling index: index out of range: %v", k)
			}
			v = int(m[i])
		default:
			return nil, e.errorf("error calling index: can't index item of %s", tmplType(v))
		}
	}
	return v, nil
}

func (e *tmplExec) slice(args []any) (any, error) {
	if len(args) == 0 {
		return nil, e.errorf("wrong number of args for slice: want at least 1 got 0")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, e.errorf("error calling slice: can't slice item of %s", tmplType(args[0]))
	}
	if len(args) > 3 {
		return nil, e.errorf("error calling slice: too many slice indexes: %d", len(args)-1)
	}
	idx := []int{0, len(s)}
	for i, a := range args[1:] {
		n, ok := a.(int)
		if !ok || n < 0 || n > len(s) {
			return nil, e.errorf("error calling slice: index out of range: %v", a)
		}
		idx[i] = n
	}
	if idx[0] > idx[1] {
		return nil, e.errorf("error calling slice: invalid slice index: %d > %d", idx[0], idx[1])
	}
	return s[idx[0]:idx[1]], nil
}

func tmplTruth(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case int:
		return v != 0
	case float64:
		return v != 0
	case bool:
		return v
	case map[string]string:
		return len(v) > 0
	}
	return true
}

// tmplPrint prints a value as text/template does (fmt's %v; a map's keys
// sorted).
func tmplPrint(v any) string {
	if v == nil {
		return "<no value>"
	}
	return fmt.Sprint(v)
}
