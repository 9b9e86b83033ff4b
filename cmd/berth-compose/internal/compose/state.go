package compose

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthproject/berth/pkg/types/container"
)

// containers lists a project's containers (stopped ones too), in service
// then number order. oneoff selects the one-off containers of `run` too.
func (a *app) containers(ctx context.Context, project string, oneoff bool, services ...string) ([]container.Summary, error) {
	cl, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	f := projectFilter(project)
	if !oneoff {
		f["label"] = append(f["label"], labelOneoff+"=False")
	}
	list, err := cl.List(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, err
	}
	if len(services) > 0 {
		keep := list[:0]
		for _, c := range list {
			for _, s := range services {
				if c.Labels[labelService] == s {
					keep = append(keep, c)
					break
				}
			}
		}
		list = keep
	}
	sort.Slice(list, func(i, j int) bool {
		si, sj := list[i].Labels[labelService], list[j].Labels[labelService]
		if si != sj {
			return si < sj
		}
		return number(list[i]) < number(list[j])
	})
	return list, nil
}

func number(c container.Summary) int {
	n, _ := strconv.Atoi(c.Labels[labelNumber])
	return n
}

// name is a container's name without the leading slash.
func name(c container.Summary) string {
	if len(c.Names) == 0 {
		return c.ID[:12]
	}
	return strings.TrimPrefix(c.Names[0], "/")
}

// byService groups containers by their service label.
func byService(list []container.Summary) map[string][]container.Summary {
	m := map[string][]container.Summary{}
	for _, c := range list {
		m[c.Labels[labelService]] = append(m[c.Labels[labelService]], c)
	}
	return m
}

// orphans are the containers of services the project no longer has.
func orphans(p *types.Project, list []container.Summary) []container.Summary {
	var out []container.Summary
	for _, c := range list {
		s := c.Labels[labelService]
		if _, ok := p.Services[s]; ok {
			continue
		}
		if _, ok := p.DisabledServices[s]; ok {
			continue
		}
		out = append(out, c)
	}
	return out
}

// serviceNames are the project's services, or those named (which must
// exist).
func serviceNames(p *types.Project, args []string) ([]string, error) {
	if len(args) == 0 {
		return p.ServiceNames(), nil
	}
	for _, s := range args {
		if _, err := p.GetService(s); err != nil {
			if _, ok := p.DisabledServices[s]; ok {
				continue
			}
			if len(p.Services) == 0 {
				continue // a project known by name only
			}
			return nil, usage("no such service: %s", s)
		}
	}
	return args, nil
}
