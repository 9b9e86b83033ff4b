package dockerapi

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/containerd/errdefs"
	dnetwork "github.com/moby/moby/api/types/network"
	dvolume "github.com/moby/moby/api/types/volume"

	"github.com/berthproject/berth/pkg/docker"
	"github.com/berthproject/berth/pkg/types/network"
	"github.com/berthproject/berth/pkg/types/volume"
)

func (s *Server) networks() (Networks, error) {
	if s.b.Networks == nil {
		return nil, fmt.Errorf("berth's networking is not configured on this daemon: %w", errdefs.ErrNotImplemented)
	}
	return s.b.Networks, nil
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
	if scope := filters["scope"]; len(scope) > 0 {
		// Every berth network is local.
		if !slices.Contains(scope, "local") {
			return writeJSON(w, http.StatusOK, []dnetwork.Summary{})
		}
		delete(filters, "scope")
	}
	list, err := nets.List(r.Context(), filters)
	if err != nil {
		return err
	}
	out := []dnetwork.Summary{}
	for _, n := range list {
		out = append(out, docker.NetworkSummary(n))
	}
	return writeJSON(w, http.StatusOK, out)
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
	opts := network.CreateOptions{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable, Options: req.Options, Labels: req.Labels}
	opts.EnableIPv6 = req.EnableIPv6 != nil && *req.EnableIPv6
	switch {
	case req.EnableIPv4 != nil && !*req.EnableIPv4:
		return unsupported("networks without IPv4")
	case req.ConfigOnly || req.ConfigFrom != nil:
		return unsupported("config-only networks")
	case req.Ingress:
		return unsupported("ingress networks (swarm)")
	case req.Scope != "" && req.Scope != "local" && !(req.Scope == "swarm" && req.Driver == network.DriverOverlay):
		return unsupported("network scope " + req.Scope)
	}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return unsupported("IPAM driver " + req.IPAM.Driver)
		}
		opts.IPAMOptions = req.IPAM.Options
		// One subnet per family, as `docker network create --ipv6
		// --subnet V4 --subnet V6` sends them.
		var have4, have6 bool
		for _, c := range req.IPAM.Config {
			switch {
			case !c.Subnet.IsValid():
				if c.Gateway.IsValid() || c.IPRange.IsValid() || len(c.AuxAddress) > 0 {
					return invalid("an IPAM config with a gateway, ip-range or aux-address needs a subnet")
				}
			case c.Subnet.Addr().Is4():
				if have4 {
					return unsupported("more than one IPv4 subnet per network")
				}
				have4 = true
				opts.Subnet, opts.Gateway, opts.IPRange = c.Subnet, c.Gateway, c.IPRange
				opts.AuxAddresses = c.AuxAddress
			default:
				if have6 {
					return unsupported("more than one IPv6 subnet per network")
				}
				have6 = true
				if c.IPRange.IsValid() || len(c.AuxAddress) > 0 {
					return unsupported("ip-range and aux-address in an IPv6 subnet")
				}
				if !opts.EnableIPv6 {
					return invalid("IPv6 subnet %s given to a network without IPv6: set EnableIPv6 (--ipv6)", c.Subnet)
				}
				opts.Subnet6, opts.Gateway6 = c.Subnet, c.Gateway
			}
		}
	}
	n, err := nets.Create(r.Context(), opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, dnetwork.CreateResponse{ID: n.ID})
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	nets, err := s.networks()
	if err != nil {
		return err
	}
	if err := nets.Remove(r.Context(), v["id"]); err != nil {
		if errdefs.IsFailedPrecondition(err) {
			// Active endpoints: dockerd answers 403 (libnetwork's
			// ActiveEndpointsError is Forbidden), not 409.
			return statusError{http.StatusForbidden, errorMessage(err)}
		}
		return err
	}
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
	deleted, err := nets.Prune(r.Context(), filters)
	if err != nil {
		return err
	}
	if deleted == nil {
		deleted = []string{}
	}
	return writeJSON(w, http.StatusOK, dnetwork.PruneReport{NetworksDeleted: deleted})
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	nets, err := s.networks()
	if err != nil {
		return err
	}
	var req dnetwork.ConnectRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Container == "" {
		return invalid("a container is required")
	}
	if req.EndpointConfig != nil && len(req.EndpointConfig.Links) > 0 {
		return unsupported("links when connecting a network (EndpointSettings.Links): give them at create (--link)")
	}
	att, err := attachment(v["id"], req.EndpointConfig)
	if err != nil {
		return err
	}
	if err := nets.Connect(r.Context(), req.Container, att); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request, v map[string]string) error {
	nets, err := s.networks()
	if err != nil {
		return err
	}
	var req dnetwork.DisconnectRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Container == "" {
		return invalid("a container is required")
	}
	if err := nets.Disconnect(r.Context(), v["id"], req.Container, req.Force); err != nil {
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
	// Before API 1.42 a prune removed every unused local volume, named or
	// anonymous (dockerd's router adds all=true for those clients).
	all := docker.CompareVersions(apiVersion(r), "1.42") < 0
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
