package network_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/engine/network"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/filters"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// plumbing is an in-memory network.Manager with cni.Manager's prune rule.
type plumbing struct {
	nets map[string]*networktypes.Network
}

func (p *plumbing) Create(_ context.Context, o networktypes.CreateOptions) (*networktypes.Network, error) {
	n := &networktypes.Network{ID: fmt.Sprintf("%064d", len(p.nets)+1), Name: o.Name, Driver: "bridge", Labels: o.Labels}
	p.nets[o.Name] = n
	return n, nil
}

func (p *plumbing) Inspect(_ context.Context, ref string) (*networktypes.Network, error) {
	for _, n := range p.nets {
		if n.Name == ref || n.ID == ref {
			return n, nil
		}
	}
	return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
}

func (p *plumbing) List(context.Context) ([]*networktypes.Network, error) {
	var out []*networktypes.Network
	for _, n := range p.nets {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (p *plumbing) Remove(ctx context.Context, ref string) error {
	n, err := p.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	delete(p.nets, n.Name)
	return nil
}

func (p *plumbing) Prune(_ context.Context, labels, notLabels []string) ([]string, error) {
	var out []string
	for name, n := range p.nets {
		match := !n.Default && len(n.Endpoints) == 0 && filters.Labels(n.Labels, labels, notLabels)
		if match {
			delete(p.nets, name)
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

type recorder struct {
	events []string
	calls  []string
}

func (r *recorder) Publish(m events.Message) {
	r.events = append(r.events, m.Type+" "+m.Action+" "+m.Actor.Attributes["name"])
}

func (r *recorder) Connect(_ context.Context, ref string, att containertypes.NetworkAttachment) error {
	r.calls = append(r.calls, "connect "+ref+" "+att.Network)
	return nil
}

func (r *recorder) Disconnect(_ context.Context, ref, network string, force bool) error {
	r.calls = append(r.calls, fmt.Sprintf("disconnect %s %s %v", ref, network, force))
	return nil
}

func names(ns []*networktypes.Network) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

func TestService(t *testing.T) {
	ctx := context.Background()
	p := &plumbing{nets: map[string]*networktypes.Network{
		"bridge": {ID: "b", Name: "bridge", Driver: "bridge", Default: true},
		"used":   {ID: "u", Name: "used", Driver: "bridge", Endpoints: []networktypes.EndpointRef{{ContainerID: "c1"}}},
	}}
	r := &recorder{}
	s := network.New(network.Options{Manager: p, Containers: r, Events: r})

	for _, o := range []networktypes.CreateOptions{{Name: "ci", Labels: map[string]string{"env": "ci"}}, {Name: "prod", Labels: map[string]string{"env": "prod"}}, {Name: "bare"}} {
		if _, err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		filters map[string][]string
		want    []string
	}{
		{nil, []string{"bare", "bridge", "ci", "prod", "used"}},
		{map[string][]string{"type": {"builtin"}}, []string{"bridge"}},
		{map[string][]string{"dangling": {"true"}}, []string{"bare", "ci", "prod"}},
		{map[string][]string{"label": {"env"}}, []string{"ci", "prod"}},
		{map[string][]string{"label": {"env=ci"}, "name": {"c"}}, []string{"ci"}},
		// every label filter must hold (compose: project and network)
		{map[string][]string{"label": {"env", "env=prod"}}, []string{"prod"}},
		{map[string][]string{"label": {"env=ci", "env=prod"}}, []string{}},
	} {
		got, err := s.List(ctx, tc.filters)
		if err != nil || !reflect.DeepEqual(names(got), tc.want) {
			t.Errorf("List(%v) = %v, %v; want %v", tc.filters, names(got), err, tc.want)
		}
	}
	if _, err := s.List(ctx, map[string][]string{"color": {"red"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("List with an unknown filter: %v, want InvalidArgument", err)
	}
	if _, err := s.Prune(ctx, map[string][]string{"until": {"1h"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Prune with an unknown filter: %v, want InvalidArgument", err)
	}

	// A bare label key matches any value; the default and used networks stay.
	deleted, err := s.Prune(ctx, map[string][]string{"label": {"env"}})
	if err != nil || !reflect.DeepEqual(deleted, []string{"ci", "prod"}) {
		t.Errorf("prune label=env: %v, %v; want [ci prod]", deleted, err)
	}
	if err := s.Remove(ctx, "bare"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inspect(ctx, ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Inspect of no network: %v, want InvalidArgument", err)
	}
	if w := []string{"network create ci", "network create prod", "network create bare", "network destroy ci", "network destroy prod", "network destroy bare"}; !reflect.DeepEqual(r.events, w) {
		t.Errorf("events %q, want %q", r.events, w)
	}

	// Connect and Disconnect go to the container service, in its argument order.
	if err := s.Connect(ctx, "web", containertypes.NetworkAttachment{Network: "used"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Disconnect(ctx, "used", "web", true); err != nil {
		t.Fatal(err)
	}
	if w := []string{"connect web used", "disconnect web used true"}; !reflect.DeepEqual(r.calls, w) {
		t.Errorf("container calls %q, want %q", r.calls, w)
	}
	bare := network.New(network.Options{Manager: p})
	if err := bare.Connect(ctx, "web", containertypes.NetworkAttachment{Network: "used"}); !errdefs.IsNotImplemented(err) {
		t.Errorf("Connect without a container service: %v, want NotImplemented", err)
	}
}
