package service

import (
	"errors"
	"strings"
	"testing"
	"text/template"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/types/container"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

func testTemplateData() (*stypes.Service, *stypes.Task) {
	svc := &stypes.Service{ID: "svc1d"}
	svc.Spec.Name = "web"
	svc.Spec.Labels = map[string]string{"env": "prod", "com.example.team": "blue"}
	t := &stypes.Task{ID: "task1d", ServiceID: "svc1d", ServiceName: "web", NodeID: "node1d", Slot: 3}
	return svc, t
}

// The expected strings are what Docker's templates (swarmkit's
// template.Context with text/template, missingkey=error) give for the same
// task; TestServiceTemplatesAsTextTemplate checks them against text/template.
var serviceTemplateCases = []struct{ tmpl, want string }{
	{"plain", "plain"},
	{"{{.Service.Name}}-{{.Task.Slot}}", "web-3"},
	{"{{.Node.Hostname}}.{{.Node.ID}}", "h1.node1d"},
	{"{{.Task.Name}} {{.Task.ID}} {{.Service.ID}}", "web.3.task1d task1d svc1d"},
	{"{{.Node.Platform.OS}}", "linux"},
	{"{{.Service.Labels.env}}", "prod"},
	{`{{index .Service.Labels "com.example.team"}}`, "blue"},
	{`{{index .Service.Labels "absent"}}x`, "x"},
	{"{{.Service.Labels}}", "map[com.example.team:blue env:prod]"},
	{`{{range $k, $v := .Service.Labels}}{{$k}}={{$v}};{{end}}`, "com.example.team=blue;env=prod;"},
	{`{{range .Service.Labels}}[{{.}}]{{else}}none{{end}}`, "[blue][prod]"},
	{`{{if eq .Task.Slot "3"}}three{{else}}other{{end}}`, "three"},
	{`{{if and .Service.Name (ne .Node.ID "x")}}y{{end}}`, "y"},
	{`{{or "" .Service.Name}}`, "web"},
	{`{{with .Service}}{{.Name}}@{{$.Node.Hostname}}{{end}}`, "web@h1"},
	{`{{$n := .Service.Name}}{{$n}}{{$n = "x"}}{{$n}}`, "webx"},
	{`{{.Service.Name | printf "%s-%05s" .Task.Slot}}`, "3-00web"},
	{`{{printf "%d-%v" 7 true}}`, "7-true"},
	{`{{len .Service.Name}} {{len .Service.Labels}}`, "3 2"},
	{`{{join "-" .Service.Name .Task.Slot "x"}}`, "web-3-x"},
	{`{{slice .Service.ID 1 3}}`, "vc"},
	{`{{print .Service.Name 1 2 "z"}}|{{println "a"}}`, "web1 2z|a\n"},
	{`{{html "<a href='x'>&"}} {{js "it's <x>"}} {{urlquery "a b&c"}}`, "&lt;a href=&#39;x&#39;&gt;&amp; it\\'s \\u003Cx\\u003E a+b%26c"},
	{`{{not .Service.Name}} {{lt 1 2}} {{ge "a" "b"}}`, "false true false"},
	{`{{- .Service.Name -}} {{/* comment */}}`, "web"},
	{`{{.Node.Platform}}`, "{x86_64 linux}"},
	{`{{range $i, $v := .Service.Labels}}{{if eq $v "blue"}}{{continue}}{{end}}{{$v}}{{break}}{{end}}`, "prod"},
	{`{{printf "%.1f %T %T %v" 1.0 2e0 0x10 'a'}}`, "1.0 float64 int 97"},
	{`{{printf "%+v" .Node.Platform}} {{printf "%q" .Service}}`, `{Architecture:x86_64 OS:linux} {"svc1d" "web" map["com.example.team":"blue" "env":"prod"]}`},
	{`{{print nil}} {{printf "%v" nil}}`, "<nil> <nil>"},
	{`{{js "a\x7fb\x01"}}`, "a\x7fb\\u0001"},
}

func TestServiceTemplates(t *testing.T) {
	svc, task := testTemplateData()
	data := taskTemplate(svc, task, "node1d", "h1")
	data.fields["Node"].(*tmplObject).fields["Platform"].(*tmplObject).fields["Architecture"] = "x86_64"
	for _, c := range serviceTemplateCases {
		got, err := expandTemplate(c.tmpl, data)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.tmpl, got, err, c.want)
		}
	}
}

// swarmkitContext is swarmkit's template.Context.
type swarmkitContext struct {
	Service struct {
		ID, Name string
		Labels   map[string]string
	}
	Node struct {
		ID, Hostname string
		Platform     struct{ Architecture, OS string }
	}
	Task struct{ ID, Name, Slot string }
}

// The expected strings above are text/template's.
func TestServiceTemplatesAsTextTemplate(t *testing.T) {
	svc, task := testTemplateData()
	var ctx swarmkitContext
	ctx.Service.ID, ctx.Service.Name, ctx.Service.Labels = svc.ID, svc.Spec.Name, svc.Spec.Labels
	ctx.Node.ID, ctx.Node.Hostname = "node1d", "h1"
	ctx.Node.Platform.Architecture, ctx.Node.Platform.OS = "x86_64", "linux"
	ctx.Task.ID, ctx.Task.Name, ctx.Task.Slot = task.ID, ContainerName(task), "3"
	join := func(s ...string) string { return strings.Join(s[1:], s[0]) }
	for _, c := range serviceTemplateCases {
		tp, err := template.New("expansion").Option("missingkey=error").Funcs(template.FuncMap{"join": join}).Parse(c.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tp.Execute(&b, &ctx); err != nil || b.String() != c.want {
			t.Errorf("%s: text/template gives %q, %v; the case wants %q", c.tmpl, b.String(), err, c.want)
		}
	}
}

func TestServiceTemplateErrors(t *testing.T) {
	svc, task := testTemplateData()
	data := taskTemplate(svc, task, "node1d", "h1")
	for tmpl, want := range map[string]string{
		"{{.Service.Nmae}}":            ".Service.Nmae is not a field of a service template (.Service has .Service.ID, .Service.Name, .Service.Labels)",
		"{{.Slot}}":                    ".Slot is not a field of a service template (the template has .Service, .Node, .Task)",
		"{{.Service.Labels.nope}}":     `map has no entry for key "nope"`,
		"{{.Task.Slot.X}}":             "can't evaluate field X in type string",
		"{{nosuch 1}}":                 `function "nosuch" not defined`,
		"{{.Service.Name":              "unclosed action",
		`{{template "x"}}`:             "not supported in a service template",
		"{{nil}}":                      "nil is not a command",
		"{{range $i, $v := 3}}{{end}}": "can't use 3 to iterate over more than one variable",
	} {
		_, err := expandTemplate(tmpl, data)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", tmpl, err, want)
		}
	}
}

// A global task's slot is its node's ID, as in swarmkit.
func TestServiceTemplateGlobalSlot(t *testing.T) {
	svc, task := testTemplateData()
	task.Slot = 0
	got, err := expandTemplate("{{.Task.Slot}} {{.Task.Name}}", taskTemplate(svc, task, "node1d", "h1"))
	if err != nil || got != "node1d web.node1d.task1d" {
		t.Errorf("got %q, %v", got, err)
	}
}

// A task's hostname, env values, mounts and network aliases are expanded;
// the task's own spec is left as it was.
func TestExpandTaskTemplates(t *testing.T) {
	svc, task := testTemplateData()
	env := []string{"SLOT={{.Task.Slot}}", "PLAIN=a{b}", "NOVALUE"}
	cfg := container.Config{
		Env:      env,
		Mounts:   []container.MountSpec{{Source: "data-{{.Task.Slot}}", Target: "/srv/{{.Service.Name}}"}},
		Networks: []container.NetworkAttachment{{Network: "n", Aliases: []string{"{{.Service.Name}}-{{.Task.Slot}}"}}},
	}
	if err := expandTaskTemplates(&cfg, taskTemplate(svc, task, "node1d", "h1"), "{{.Node.Hostname}}-{{.Task.Slot}}"); err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname != "h1-3" || strings.Join(cfg.Env, " ") != "SLOT=3 PLAIN=a{b} NOVALUE" ||
		cfg.Mounts[0].Source != "data-3" || cfg.Mounts[0].Target != "/srv/web" || cfg.Networks[0].Aliases[0] != "web-3" {
		t.Errorf("not expanded: %+v", cfg)
	}
	if env[0] != "SLOT={{.Task.Slot}}" {
		t.Errorf("the spec's env changed: %q", env)
	}
	err := expandTaskTemplates(&cfg, taskTemplate(svc, task, "node1d", "h1"), "{{.Node.Name}}")
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), `hostname "{{.Node.Name}}"`) {
		t.Errorf("got %v, want an invalid-argument error naming the hostname", err)
	}
}
