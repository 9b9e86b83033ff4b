// Package cmdline is berthd's command line: flags with aliases, defaults,
// environment variables and repeatable string lists, parsed by the
// standard library's flag package, and a help table.
//
// berthd used urfave/cli, whose help printer runs text/template: its
// executor calls reflect.Value.MethodByName with a name known only at run
// time, and a binary that can reach that keeps every exported method of
// every type (the linker cannot prune them), about 4 MB of berthd's code
// and idle memory (docs/performance.md). The syntax is urfave's (which is
// the flag package's): -name or --name, --name=value or --name value,
// --bool or --bool=false, and a list flag splits its values at commas.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Flag is one flag of a Command.
type Flag struct {
	Name    string
	Aliases []string
	Usage   string
	// EnvVar, when set in the environment and the flag is not given,
	// gives the flag's value.
	EnvVar string
	value  value
}

type value interface {
	flag.Value
	// def is the default as help shows it ("" when there is none).
	def() string
}

// String is a string flag.
func String(name, def, usage string) *Flag {
	return &Flag{Name: name, Usage: usage, value: &stringValue{def}}
}

// Bool is a boolean flag: --name, --name=true or --name=false.
func Bool(name string, def bool, usage string) *Flag {
	return &Flag{Name: name, Usage: usage, value: &boolValue{def}}
}

// Int is an integer flag (decimal, or 0x... 0o... as Go reads them).
func Int(name string, def int, usage string) *Flag {
	return &Flag{Name: name, Usage: usage, value: &intValue{def}}
}

// Strings is a repeatable flag: each value adds to the list, split at
// commas (--x a --x b,c gives a, b, c); the first one replaces the
// default.
func Strings(name string, def []string, usage string) *Flag {
	return &Flag{Name: name, Usage: usage, value: &stringsValue{v: def}}
}

// WithAliases adds names the flag also answers to.
func (f *Flag) WithAliases(a ...string) *Flag {
	f.Aliases = append(f.Aliases, a...)
	return f
}

// WithEnv names the environment variable that sets the flag.
func (f *Flag) WithEnv(name string) *Flag {
	f.EnvVar = name
	return f
}

type stringValue struct{ v string }

func (s *stringValue) Set(v string) error { s.v = v; return nil }
func (s *stringValue) String() string     { return s.v }
func (s *stringValue) def() string {
	if s.v == "" {
		return ""
	}
	return strconv.Quote(s.v)
}

type boolValue struct{ v bool }

func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("not true or false")
	}
	b.v = x
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(b.v) }
func (b *boolValue) IsBoolFlag() bool { return true }
func (b *boolValue) def() string      { return strconv.FormatBool(b.v) }

type intValue struct{ v int }

func (n *intValue) Set(v string) error {
	x, err := strconv.ParseInt(v, 0, strconv.IntSize)
	if err != nil {
		return errors.New("not an integer")
	}
	n.v = int(x)
	return nil
}
func (n *intValue) String() string { return strconv.Itoa(n.v) }
func (n *intValue) def() string    { return strconv.Itoa(n.v) }

type stringsValue struct {
	v   []string
	set bool
}

func (s *stringsValue) Set(v string) error {
	if !s.set {
		s.v, s.set = []string{}, true
	}
	for _, p := range strings.Split(v, ",") {
		s.v = append(s.v, strings.TrimSpace(p))
	}
	return nil
}
func (s *stringsValue) String() string { return strings.Join(s.v, ",") }
func (s *stringsValue) def() string {
	q := make([]string, len(s.v))
	for i, v := range s.v {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// Command is a program's flags and what its help says.
type Command struct {
	Name      string
	Usage     string // one line: what it is
	UsageText string // how to call it, and more
	Version   string
	Flags     []*Flag

	byName map[string]*Flag
	set    map[string]bool // by Flag.Name
}

// Parse reads args (without the program's name). --help and --version
// print to out and give exit true. A flag it does not know, a value it
// cannot read or an argument that is not a flag is an error naming it.
func (c *Command) Parse(args []string, out io.Writer) (exit bool, err error) {
	help := Bool("help", false, "show help").WithAliases("h")
	version := Bool("version", false, "print the version").WithAliases("v")
	all := append(append([]*Flag{}, c.Flags...), help, version)
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c.byName, c.set = map[string]*Flag{}, map[string]bool{}
	for _, f := range all {
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			if c.byName[n] != nil {
				return false, fmt.Errorf("cmdline: flag %s defined twice", n)
			}
			c.byName[n] = f
			fs.Var(f.value, n, f.Usage)
		}
	}
	if err := fs.Parse(args); err != nil {
		return false, c.parseError(err)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected argument %q: %s takes flags only (%s --help lists them)", fs.Arg(0), c.Name, c.Name)
	}
	fs.Visit(func(fl *flag.Flag) { c.set[c.byName[fl.Name].Name] = true })
	for _, f := range c.Flags {
		if f.EnvVar == "" || c.set[f.Name] {
			continue
		}
		if v, ok := os.LookupEnv(f.EnvVar); ok {
			if err := f.value.Set(v); err != nil {
				return false, fmt.Errorf("$%s: %v", f.EnvVar, err)
			}
			c.set[f.Name] = true
		}
	}
	switch {
	case help.value.(*boolValue).v:
		return true, c.PrintHelp(out)
	case version.value.(*boolValue).v:
		_, err := fmt.Fprintf(out, "%s version %s\n", c.Name, c.Version)
		return true, err
	}
	return false, nil
}

// parseError says what the flag package found wrong in berth's words.
func (c *Command) parseError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown flag --%s (%s --help lists them)", name, c.Name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("flag --%s needs a value", name)
	}
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	// invalid [boolean ]value "x" for [flag ]-name: <the Value's error>
	msg = strings.Replace(msg, " for flag -", " for -", 1)
	return errors.New(strings.Replace(msg, " for -", " for --", 1))
}

func (c *Command) flag(name string) *Flag {
	f := c.byName[name]
	if f == nil {
		panic("cmdline: no flag " + name)
	}
	return f
}

// IsSet reports whether the flag (by any of its names) was given, or its
// environment variable set.
func (c *Command) IsSet(name string) bool { return c.set[c.flag(name).Name] }

// String is a string flag's value.
func (c *Command) String(name string) string { return c.flag(name).value.(*stringValue).v }

// Bool is a boolean flag's value.
func (c *Command) Bool(name string) bool { return c.flag(name).value.(*boolValue).v }

// Int is an integer flag's value.
func (c *Command) Int(name string) int { return c.flag(name).value.(*intValue).v }

// Strings is a list flag's values.
func (c *Command) Strings(name string) []string { return c.flag(name).value.(*stringsValue).v }

// PrintHelp writes what the program is, how to call it and a table of
// its flags.
func (c *Command) PrintHelp(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "NAME:\n   %s - %s\n\nUSAGE:\n", c.Name, c.Usage)
	for _, l := range strings.Split(c.UsageText, "\n") {
		if l != "" {
			b.WriteString("   " + l)
		}
		b.WriteString("\n")
	}
	if c.Version != "" {
		fmt.Fprintf(&b, "\nVERSION:\n   %s\n", c.Version)
	}
	b.WriteString("\nOPTIONS:\n")
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, f := range c.Flags {
		fmt.Fprintf(tw, "   %s\t%s\n", flagNames(f), flagUsage(f))
	}
	fmt.Fprintf(tw, "   --help, -h\tshow help\n")
	fmt.Fprintf(tw, "   --version, -v\tprint the version\n")
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func flagNames(f *Flag) string {
	_, isBool := f.value.(*boolValue)
	var names []string
	for _, n := range append([]string{f.Name}, f.Aliases...) {
		dash := "--"
		if len(n) == 1 {
			dash = "-"
		}
		if !isBool {
			n += " value"
		}
		names = append(names, dash+n)
	}
	return strings.Join(names, ", ")
}

func flagUsage(f *Flag) string {
	u := f.Usage
	if d := f.value.def(); d != "" {
		u += " (default: " + d + ")"
	}
	if f.EnvVar != "" {
		u += " [$" + f.EnvVar + "]"
	}
	return u
}
