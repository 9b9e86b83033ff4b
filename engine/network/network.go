// Package network is the engine's network service: the network noun of the
// API (pkg/api.Networks) that the gRPC API, the Docker API and an embedder
// of engine.New all call. It creates, inspects, lists (with Docker's
// filters), removes and prunes networks, connects and disconnects
// containers, and publishes the network events (create, destroy).
//
// The plumbing underneath (bridges and macvlan through CNI plugins, IPAM,
// the firewall, DNS, a container's sandbox) is package cni; the container
// side of connect and disconnect (a running container's endpoints and /etc
// files, its stored configuration) is engine/container.
package network

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/cni"
	"github.com/berthproject/berth/pkg/api"
	containertypes "github.com/berthproject/berth/pkg/types/container"
	"github.com/berthproject/berth/pkg/types/events"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

var _ api.Networks = (*Service)(nil)

// Containers is what the service needs of the container service
// (*container.Service) to connect and disconnect containers.
type Containers interface {
	Connect(ctx context.Context, ref string, att containertypes.NetworkAttachment) error
	Disconnect(ctx context.Context, ref, network string, force bool) error
}

// Publisher receives the network events (engine/events.Bus).
type Publisher interface {
	Publish(m events.Message)
}

// Manager is the plumbing the service runs on (*cni.Manager): the
// networks themselves, their bridges, addresses, firewall and DNS.
type Manager interface {
	Create(ctx context.Context, opts networktypes.CreateOptions) (*networktypes.Network, error)
	Inspect(ctx context.Context, ref string) (*networktypes.Network, error)
	List(ctx context.Context) ([]*networktypes.Network, error)
	Remove(ctx context.Context, ref string) error
	Prune(ctx context.Context, labels, notLabels []string) ([]string, error)
}

var _ Manager = (*cni.Manager)(nil)

// Overlay creates and removes the cluster's overlay networks
// (*engine/network/overlay.Service): through the cluster store, then on
// every node.
type Overlay interface {
	Create(ctx context.Context, opts networktypes.CreateOptions) (*networktypes.Network, error)
	Remove(ctx context.Context, name string) error
}

// Options configure a Service.
type Options struct {
	// Manager is the CNI plumbing (required).
	Manager Manager
	// Containers serves Connect and Disconnect; nil: they fail with
	// errdefs.ErrNotImplemented.
	Containers Containers
	// Events gets the create and destroy events; nil: none are published.
	Events Publisher
	// Overlay serves the overlay driver; nil: creating an overlay network
	// fails with the manager's error.
	Overlay Overlay
}

// Service is the network noun. Create one with New.
type Service struct {
	m          Manager
	containers Containers
	events     Publisher
	overlay    Overlay
}

// New returns the network service over opts.Manager.
func New(opts Options) *Service {
	return &Service{m: opts.Manager, containers: opts.Containers, events: opts.Events, overlay: opts.Overlay}
}

func (s *Service) publish(n *networktypes.Network, action string) {
	if s.events == nil || n == nil {
		return
	}
	s.events.Publish(events.Message{
		Type: events.TypeNetwork, Action: action,
		Actor: events.Actor{ID: n.ID, Attributes: map[string]string{"name": n.Name, "type": n.Driver}},
	})
}

// Create creates a network and publishes its create event.
func (s *Service) Create(ctx context.Context, opts networktypes.CreateOptions) (*networktypes.Network, error) {
	create := s.m.Create
	if opts.Driver == networktypes.DriverOverlay && (opts.EnableIPv6 || opts.Subnet6.IsValid()) {
		return nil, invalid("overlay networks are IPv4-only in berth: create it without --ipv6")
	}
	if opts.Driver == networktypes.DriverOverlay && s.overlay != nil {
		create = s.overlay.Create
	}
	n, err := create(ctx, opts)
	if err != nil {
		return nil, err
	}
	s.publish(n, "create")
	return n, nil
}

// Inspect returns a network by name, ID or unique ID prefix.
func (s *Service) Inspect(ctx context.Context, ref string) (*networktypes.Network, error) {
	if ref == "" {
		return nil, invalid("no network given")
	}
	return s.m.Inspect(ctx, ref)
}

// List returns the networks that pass Docker's filters (name, id, driver,
// label, type, dangling): values of one key are alternatives, keys must
// all match. An unknown key is errdefs.ErrInvalidArgument.
func (s *Service) List(ctx context.Context, filters map[string][]string) ([]*networktypes.Network, error) {
	for k := range filters {
		switch k {
		case "name", "id", "driver", "label", "type", "dangling":
		default:
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	ns, err := s.m.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []*networktypes.Network
	for _, n := range ns {
		ok, err := Match(n, filters)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// Match applies Docker's network filters to n (see List).
func Match(n *networktypes.Network, filters map[string][]string) (bool, error) {
	for key, values := range filters {
		match := false
		for _, v := range values {
			switch key {
			case "name":
				match = match || strings.Contains(n.Name, v)
			case "id":
				match = match || strings.HasPrefix(n.ID, v)
			case "driver":
				match = match || n.Driver == v
			case "label":
				// every label filter must hold, as Docker's
				k, val, hasVal := strings.Cut(v, "=")
				got, ok := n.Labels[k]
				if !ok || (hasVal && got != val) {
					return false, nil
				}
				match = true
			case "type":
				switch v {
				case "custom":
					match = match || !n.Default
				case "builtin":
					match = match || n.Default
				default:
					return false, invalid("invalid filter: 'type'='%s': want custom or builtin", v)
				}
			case "dangling":
				switch v {
				case "true", "1":
					match = match || (!n.Default && len(n.Endpoints) == 0)
				case "false", "0":
					match = match || n.Default || len(n.Endpoints) > 0
				default:
					return false, invalid("invalid filter: 'dangling'='%s': want true or false", v)
				}
			}
		}
		if !match {
			return false, nil
		}
	}
	return true, nil
}

// Remove deletes a network and publishes its destroy event. A network with
// containers attached is errdefs.ErrFailedPrecondition, as is the default.
func (s *Service) Remove(ctx context.Context, ref string) error {
	n, err := s.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	remove, key := s.m.Remove, n.ID
	if n.Driver == networktypes.DriverOverlay && s.overlay != nil {
		remove, key = s.overlay.Remove, n.Name
	}
	if err := remove(ctx, key); err != nil {
		return err
	}
	s.publish(n, "destroy")
	return nil
}

// Prune removes the user-defined networks without containers whose labels
// match the label=KEY[=VALUE] filters and none of the label!= ones (a bare
// KEY matches any value), publishes their destroy events and returns their
// names.
func (s *Service) Prune(ctx context.Context, filters map[string][]string) ([]string, error) {
	for k := range filters {
		if k != "label" && k != "label!" {
			return nil, invalid("invalid filter '%s': network prune takes label=KEY[=VALUE] and label!=KEY[=VALUE]", k)
		}
	}
	// The networks as they were, for the events of those the prune removes.
	before := map[string]*networktypes.Network{}
	if ns, err := s.m.List(ctx); err == nil {
		for _, n := range ns {
			before[n.Name] = n
		}
	}
	deleted, err := s.m.Prune(ctx, filters["label"], filters["label!"])
	for _, name := range deleted {
		n := before[name]
		if n == nil {
			n = &networktypes.Network{Name: name}
		}
		s.publish(n, "destroy")
	}
	if err != nil {
		return nil, fmt.Errorf("network prune: %w", err)
	}
	return deleted, nil
}

// Connect attaches a container to att.Network (engine/container does the
// work; see container.Service.Connect).
func (s *Service) Connect(ctx context.Context, containerRef string, att containertypes.NetworkAttachment) error {
	if s.containers == nil {
		return fmt.Errorf("network connect is not served here: %w", errdefs.ErrNotImplemented)
	}
	if att.Network == "" || containerRef == "" {
		return invalid("network connect needs a network and a container")
	}
	return s.containers.Connect(ctx, containerRef, att)
}

// Disconnect detaches a container from a network; force ignores a
// container that is not attached.
func (s *Service) Disconnect(ctx context.Context, network, containerRef string, force bool) error {
	if s.containers == nil {
		return fmt.Errorf("network disconnect is not served here: %w", errdefs.ErrNotImplemented)
	}
	if network == "" || containerRef == "" {
		return invalid("network disconnect needs a network and a container")
	}
	return s.containers.Disconnect(ctx, containerRef, network, force)
}

// invalid is an errdefs.ErrInvalidArgument.
func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}
