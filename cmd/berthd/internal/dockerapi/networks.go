package dockerapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	dnetwork "github.com/moby/moby/api/types/network"
	dvolume "github.com/moby/moby/api/types/volume"

	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/events"
	"github.com/berthproject/berth/pkg/types/network"
	"github.com/berthproject/berth/pkg/types/volume"
)

func (s *Server) networks() (Networks, error) {
	if s.b.Networks == nil {
		return nil, fmt.Errorf("berth's networking is not configured on this daemon: %w", errdefs.ErrNotImplemented)
	}
	return s.b.Networks, nil
}

func (s *Server) publishNetwork(n *network.Network, action string) {
	if s.b.Events == nil || n == nil {
		return
	}
	s.b.Events.Publish(events.Message{
		Type: events.TypeNetwork, Action: action,
		Actor: events.Actor{ID: n.ID, Attributes: map[string]string{"name": n.Name, "type": n.Driver}},
	})
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	nets, err := s.networks()
	if err != nil {
		return err
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range filters {
		switch k {
		case "name", "id", "driver", "label", "type", "dangling", "scope":
		default:
			return invalid("invalid filter '%s'", k)
		}
	}
	list, err := nets.List(r.Context())
	if err != nil {
		return err
	}
	out := []dnetwork.Summary{}
	for _, n := range list {
		ok, err := matchNetwork(n, filters)
		if err != nil {
			return err
		}
		if ok {
			out = append(out, docker.NetworkSummary(n))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// matchNetwork applies Docker's network filters: values of one key are
// alternatives, keys must all match.
func matchNetwork(n *network.Network, filters map[string][]string) (bool, error) {
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
			case "scope":
				match = match || v == "local"
			case "label":
				k, val, hasVal := strings.Cut(v, "=")
				got, ok := n.Labels[k]
				match = match || (ok && (!hasVal || got == val))
			case "type":
				switch v {
				case "custom":
					match = match || !n.Default
				case "builtin":
					match = match || n.Default
				default:
					return false, invalid("invalid filter: 'type'='%s'", v)
				}
			case "dangling":
				switch v {
				case "true", "1":
					match = match || (!n.Default && len(n.Endpoints) == 0)
				case "false", "0":
					match = match || n.Default || len(n.Endpoints) > 0
				default:
					return false, invalid("invalid filter: 'dangling'='%s'", v)
				}
			}
		}
		if !match {
			return false, nil
		}
	}
	return true, nil
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	nets, err := s.networks()
	if err != nil {
		return err
	}
	n, err := nets.Inspect(r.Context(), v["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, docker.NetworkInspect(n))
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	nets, err := s.networks()
	if err != nil {
		return err
	}
	var req dnetwork.CreateRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Name == "" {
		return invalid("a network name is required")
	}
	opts := network.CreateOptions{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Options: req.Options, Labels: req.Labels}
	switch {
	case req.EnableIPv6 != nil && *req.EnableIPv6:
		return unsupported("IPv6 networks")
	case req.EnableIPv4 != nil && !*req.EnableIPv4:
		return unsupported("networks without IPv4")
	case req.ConfigOnly || req.ConfigFrom != nil:
		return unsupported("config-only networks")
	case req.Ingress:
		return unsupported("ingress networks (swarm)")
	case req.Scope != "" && req.Scope != "local":
		return unsupported("network scope " + req.Scope)
	}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return unsupported("IPAM driver " + req.IPAM.Driver)
		}
		switch len(req.IPAM.Config) {
		case 0:
		case 1:
			c := req.IPAM.Config[0]
			if c.Subnet.IsValid() && !c.Subnet.Addr().Is4() {
				return unsupported("IPv6 subnets")
			}
			if len(c.AuxAddress) > 0 {
				return unsupported("auxiliary addresses")
			}
			opts.Subnet, opts.Gateway, opts.IPRange = c.Subnet, c.Gateway, c.IPRange
		default:
			return unsupported("more than one subnet per network")
		}
	}
	n, err := nets.Create(r.Context(), opts)
	if err != nil {
		return err
	}
	s.publishNetwork(n, "create")
	return writeJSON(w, http.StatusCreated, dnetwork.CreateResponse{ID: n.ID})
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	nets, err := s.networks()
	if err != nil {
		return err
	}
	n, err := nets.Inspect(r.Context(), v["id"])
	if err != nil {
		return err
	}
	if err := nets.Remove(r.Context(), n.ID); err != nil {
		return err
	}
	s.publishNetwork(n, "destroy")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	nets, err := s.networks()
	if err != nil {
		return err
	}
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k := range filters {
		if k != "label" {
			return invalid("invalid filter '%s': network prune takes label=KEY[=VALUE]", k)
		}
	}
	list, err := nets.List(r.Context())
	if err != nil {
		return err
	}
	report := dnetwork.PruneReport{NetworksDeleted: []string{}}
	for _, n := range list {
		if n.Default || len(n.Endpoints) > 0 {
			continue
		}
		if ok, _ := matchNetwork(n, map[string][]string{"label": filters["label"]}); len(filters["label"]) > 0 && !ok {
			continue
		}
		if err := nets.Remove(r.Context(), n.ID); err != nil {
			if errdefs.IsFailedPrecondition(err) || errdefs.IsNotFound(err) {
				continue // attached or removed meanwhile
			}
			return err
		}
		s.publishNetwork(n, "destroy")
		report.NetworksDeleted = append(report.NetworksDeleted, n.Name)
	}
	return writeJSON(w, http.StatusOK, report)
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if _, err := s.networks(); err != nil {
		return err
	}
	var req dnetwork.ConnectRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Container == "" {
		return invalid("a container is required")
	}
	att, err := attachment(v["id"], req.EndpointConfig)
	if err != nil {
		return err
	}
	if err := s.b.Containers.Connect(r.Context(), req.Container, att); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if _, err := s.networks(); err != nil {
		return err
	}
	var req dnetwork.DisconnectRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Container == "" {
		return invalid("a container is required")
	}
	if err := s.b.Containers.Disconnect(r.Context(), req.Container, v["id"], req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	list, err := s.b.Volumes.List(r.Context(), filters)
	if err != nil {
		return err
	}
	out := dvolume.ListResponse{Volumes: []dvolume.Volume{}, Warnings: []string{}}
	for _, v := range list {
		out.Volumes = append(out.Volumes, docker.Volume(v))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req dvolume.CreateRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.ClusterVolumeSpec != nil {
		return unsupported("cluster volumes")
	}
	v, err := s.b.Volumes.Create(r.Context(), volume.CreateOptions{Name: req.Name, Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, docker.Volume(v))
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	vol, err := s.b.Volumes.Inspect(r.Context(), v["name"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, docker.Volume(vol))
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if err := s.b.Volumes.Remove(r.Context(), v["name"], boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	all := false
	if a, ok := filters["all"]; ok {
		all = len(a) > 0 && (a[0] == "true" || a[0] == "1")
		delete(filters, "all")
	}
	deleted, reclaimed, err := s.b.Volumes.Prune(r.Context(), volume.PruneOptions{All: all, Filters: filters})
	if err != nil {
		return err
	}
	if deleted == nil {
		deleted = []string{}
	}
	return writeJSON(w, http.StatusOK, dvolume.PruneReport{VolumesDeleted: deleted, SpaceReclaimed: reclaimed})
}
