package apiserver_test

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/cmd/berthd/internal/apiserver"
	"github.com/berthproject/berth/engine/network"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/filters"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// fakeNetworks is an in-memory network manager with the manager's error
// classes.
type fakeNetworks struct {
	mu       sync.Mutex
	nets     map[string]*networktypes.Network
	connects []string
	events   []events.Message
}

func (f *fakeNetworks) Create(_ context.Context, o networktypes.CreateOptions) (*networktypes.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.nets[o.Name]; ok {
		return nil, fmt.Errorf("network with name %s already exists: %w", o.Name, errdefs.ErrAlreadyExists)
	}
	n := &networktypes.Network{ID: fmt.Sprintf("%064d", len(f.nets)+1), Name: o.Name, Driver: o.Driver, Subnet: o.Subnet,
		Gateway: o.Gateway, IPRange: o.IPRange, Internal: o.Internal, Options: o.Options, Labels: o.Labels,
		Created: time.Unix(1700000000, 5).UTC(), Interface: "br-" + o.Name, DNS: true}
	f.nets[o.Name] = n
	return n, nil
}

func (f *fakeNetworks) List(context.Context) ([]*networktypes.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*networktypes.Network
	for _, n := range f.nets {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeNetworks) Inspect(_ context.Context, ref string) (*networktypes.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nets {
		if n.Name == ref || n.ID == ref {
			return n, nil
		}
	}
	return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
}

func (f *fakeNetworks) Remove(ctx context.Context, ref string) error {
	n, err := f.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(n.Endpoints) > 0 {
		return fmt.Errorf("network %s has active endpoints (containers %s): %w", n.Name, n.Endpoints[0].ContainerID[:12], errdefs.ErrFailedPrecondition)
	}
	delete(f.nets, n.Name)
	return nil
}

// Prune removes the unused user networks with all of labels (an empty
// value matches any), as cni.Manager.Prune does.
func (f *fakeNetworks) Prune(_ context.Context, labels, notLabels []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var removed []string
	for name, n := range f.nets {
		match := !n.Default && len(n.Endpoints) == 0 && filters.Labels(n.Labels, labels, notLabels)
		if match {
			delete(f.nets, name)
			removed = append(removed, name)
		}
	}
	sort.Strings(removed)
	return removed, nil
}

func (f *fakeNetworks) Connect(_ context.Context, ref string, att containertypes.NetworkAttachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects = append(f.connects, fmt.Sprintf("connect %s %s %s %v %s", ref, att.Network, att.IPv4, att.Aliases, att.MAC))
	return nil
}

func (f *fakeNetworks) Disconnect(_ context.Context, ref, network string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects = append(f.connects, fmt.Sprintf("disconnect %s %s %v", ref, network, force))
	return nil
}

func (f *fakeNetworks) Publish(m events.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, m)
}

func TestNetworks(t *testing.T) {
	f := &fakeNetworks{nets: map[string]*networktypes.Network{
		"bridge": {ID: "b" + fmt.Sprintf("%063d", 0), Name: "bridge", Driver: "bridge", Default: true,
			Subnet: netip.MustParsePrefix("172.17.0.0/16"), Gateway: netip.MustParseAddr("172.17.0.1")},
	}}
	c := serve(t, apiserver.Backend{Networks: network.New(network.Options{Manager: f, Containers: f, Events: f})})
	ctx := testCtx(t)

	opts := networktypes.CreateOptions{Name: "app", Driver: "bridge", Subnet: netip.MustParsePrefix("10.30.0.0/24"),
		Gateway: netip.MustParseAddr("10.30.0.254"), IPRange: netip.MustParsePrefix("10.30.0.128/25"), Internal: true,
		Options: map[string]string{"mtu": "1400"}, Labels: map[string]string{"team": "x"}}
	n, err := c.Networks().Create(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.Inspect(ctx, "app")
	if !reflect.DeepEqual(n, want) {
		t.Errorf("NetworkCreate returned\n %+v\nwant\n %+v", n, want)
	}
	if _, err := c.Networks().Create(ctx, opts); !errdefs.IsAlreadyExists(err) {
		t.Errorf("creating twice: %v, want AlreadyExists", err)
	}
	// Endpoints travel too.
	f.mu.Lock()
	f.nets["app"].Endpoints = []networktypes.EndpointRef{{ContainerID: fmt.Sprintf("%064d", 42), Name: "web", IfName: "eth0",
		IPv4: netip.MustParsePrefix("10.30.0.130/24"), MAC: "92:d0:c6:0a:29:33"}}
	f.mu.Unlock()
	got, err := c.Networks().Inspect(ctx, "app")
	if err != nil || !reflect.DeepEqual(got, f.nets["app"]) {
		t.Errorf("NetworkInspect = %+v, %v; want %+v", got, err, f.nets["app"])
	}
	if _, err := c.Networks().Inspect(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("inspect of a missing network: %v", err)
	}

	for filter, names := range map[string][]string{
		"type=custom": {"app"}, "type=builtin": {"bridge"}, "label=team": {"app"}, "label=team=y": nil,
		"name=ap": {"app"}, "driver=bridge": {"app", "bridge"}, "dangling=true": nil, "id=b0": {"bridge"},
	} {
		k, v, _ := cut(filter)
		list, err := c.Networks().List(ctx, map[string][]string{k: {v}})
		if err != nil {
			t.Fatalf("list %s: %v", filter, err)
		}
		var gotNames []string
		for _, n := range list {
			gotNames = append(gotNames, n.Name)
		}
		if !reflect.DeepEqual(gotNames, names) {
			t.Errorf("list --filter %s: %v, want %v", filter, gotNames, names)
		}
	}
	if _, err := c.Networks().List(ctx, map[string][]string{"color": {"red"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unknown filter: %v, want InvalidArgument", err)
	}

	err = c.Networks().Remove(ctx, "app")
	if !errdefs.IsFailedPrecondition(err) || err.Error() != "network app has active endpoints (containers 000000000000): failed precondition" {
		t.Errorf("removing a network in use: %v", err)
	}

	if err := c.Networks().Connect(ctx, "web", containertypes.NetworkAttachment{Network: "app", IPv4: "10.30.0.140", Aliases: []string{"www"}, MAC: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Networks().Disconnect(ctx, "app", "web", true); err != nil {
		t.Fatal(err)
	}
	if w := []string{"connect web app 10.30.0.140 [www] m", "disconnect web app true"}; !reflect.DeepEqual(f.connects, w) {
		t.Errorf("connector calls %q, want %q", f.connects, w)
	}

	// Prune: only unused user networks matching the labels.
	for _, o := range []networktypes.CreateOptions{{Name: "p1", Labels: map[string]string{"env": "ci"}}, {Name: "p2"}} {
		if _, err := c.Networks().Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	deleted, err := c.Networks().Prune(ctx, map[string][]string{"label": {"env"}})
	if err != nil || !reflect.DeepEqual(deleted, []string{"p1"}) {
		t.Errorf("prune label=env: %v, %v; want [p1]", deleted, err)
	}
	deleted, err = c.Networks().Prune(ctx, nil)
	if err != nil || !reflect.DeepEqual(deleted, []string{"p2"}) {
		t.Errorf("prune: %v, %v; want [p2] (app is in use, bridge is the default)", deleted, err)
	}
	var actions []string
	for _, e := range f.events {
		actions = append(actions, e.Type+" "+e.Action+" "+e.Actor.Attributes["name"])
	}
	if w := []string{"network create app", "network create p1", "network create p2", "network destroy p1", "network destroy p2"}; !reflect.DeepEqual(actions, w) {
		t.Errorf("events %q, want %q", actions, w)
	}
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
