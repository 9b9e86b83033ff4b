package dockerapi

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/types/cluster"
)

// Cluster is the cluster noun (*cluster.Service) plus Active, which
// /_ping asks on every call without reaching the store.
type Cluster interface {
	api.Cluster
	Active() bool
}

// The ports Docker's node and swarm objects name. berth's join endpoint
// is swarm's port (2377); its VXLAN port is swarm's data path port.
const (
	swarmPort    = "2377"
	dataPathPort = 4789
	// nodeCertExpiry is the validity of the certificates `cluster init`
	// and `cluster join` issue (docs/cluster.md).
	nodeCertExpiry = 5 * 365 * 24 * time.Hour
)

// swarmRoutes serves the swarm endpoints over the cluster service: the
// cluster and its nodes as Docker's swarm and nodes. On a node in no
// cluster they answer as dockerd does outside a swarm (503).
func (s *Server) swarmRoutes() {
	s.handle(http.MethodGet, "/swarm", s.inCluster(s.swarmInspect))
	s.handle(http.MethodPost, "/swarm/init", s.swarmVerb("docker swarm init", "on this host: `berth cluster init [--advertise-addr IP]`"))
	s.handle(http.MethodPost, "/swarm/join", s.swarmVerb("docker swarm join", "on this host: `berth cluster join --token TOKEN [--advertise-addr IP] HOST:2377` (the token from `berth cluster join-token` on a node of the cluster)"))
	s.handle(http.MethodPost, "/swarm/leave", s.swarmVerb("docker swarm leave", "on this host: `berth cluster leave [--force]`"))
	s.handle(http.MethodPost, "/swarm/update", s.inCluster(s.swarmUpdate))
	s.handle(http.MethodGet, "/swarm/unlockkey", s.inCluster(s.swarmUnsupported("autolock (swarm unlock keys)")))
	s.handle(http.MethodPost, "/swarm/unlock", s.inCluster(s.swarmUnsupported("autolock (swarm unlock keys)")))
	s.handle(http.MethodGet, "/nodes", s.inCluster(s.nodeList))
	s.handle(http.MethodGet, "/nodes/{id}", s.inCluster(s.nodeInspect))
	s.handle(http.MethodPost, "/nodes/{id}/update", s.inCluster(s.nodeUpdate))
	s.handle(http.MethodDelete, "/nodes/{id}", s.inCluster(s.nodeRemove))
	// There are none to list (docker stack rm lists them); anything else
	// on them is refused.
	s.handle(http.MethodGet, "/secrets", s.inCluster(emptyList))
	s.handle(http.MethodGet, "/configs", s.inCluster(emptyList))
	for _, p := range []string{"/secrets", "/configs"} {
		h := s.inCluster(s.swarmUnsupported("swarm secrets and configs"))
		s.router.Path(p).HandlerFunc(s.handlerOf(h))
		s.router.PathPrefix(p + "/").HandlerFunc(s.handlerOf(h))
	}
}

// handlerOf adapts a handlerFunc for routes registered by prefix.
func (s *Server) handlerOf(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r, nil); err != nil {
			writeError(w, r, err)
		}
	}
}

// inCluster runs h on a node in a cluster; elsewhere it answers dockerd's
// 503 for a node outside a swarm.
func (s *Server) inCluster(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
		if s.b.Cluster == nil || !s.b.Cluster.Active() {
			s.swarmInactive(w, r)
			return nil
		}
		return h(w, r, vars)
	}
}

// swarmVerb answers the swarm verbs berth does with its own CLI: a clear
// error that names the berth command (Docker's swarm is not berth's
// cluster: a docker swarm join token cannot join it).
func (s *Server) swarmVerb(what, instead string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		state := "this node is in no berth cluster"
		if s.b.Cluster != nil && s.b.Cluster.Active() {
			state = "this node is in a berth cluster"
		}
		return statusError{http.StatusNotImplemented, fmt.Sprintf(
			"%s is not served by berth (%s): berth's clusters run on etcd and are formed with its own CLI; run %s. See docs/cluster.md", what, state, instead)}
	}
}

func (s *Server) swarmUnsupported(what string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		return statusError{http.StatusNotImplemented, what + " are not supported by berth's cluster (see docs/cluster.md)"}
	}
}

// swarmState is what /_ping's Swarm header says: every node of a berth
// cluster serves the control endpoints (any node reaches the store), so
// every node is a "manager" in the sense Docker clients use it.
func (s *Server) swarmState() string {
	if s.b.Cluster != nil && s.b.Cluster.Active() {
		return "active/manager"
	}
	return "inactive"
}

// clusterInfo is the cluster as Docker's ClusterInfo: berth's settings
// where swarm has one (heartbeat, certificate expiry, VXLAN port), the
// defaults swarm reports where berth has no such setting.
func clusterInfo(i *cluster.Info) swarm.ClusterInfo {
	retention := int64(0)
	return swarm.ClusterInfo{
		ID:   i.ClusterID,
		Meta: swarm.Meta{Version: swarm.Version{Index: 1}, CreatedAt: i.CreatedAt, UpdatedAt: i.CreatedAt},
		Spec: swarm.Spec{
			Annotations:   swarm.Annotations{Name: "default", Labels: map[string]string{}},
			Orchestration: swarm.OrchestrationConfig{TaskHistoryRetentionLimit: &retention},
			Raft:          swarm.RaftConfig{HeartbeatTick: 1, ElectionTick: 10},
			Dispatcher:    swarm.DispatcherConfig{HeartbeatPeriod: i.HeartbeatTTL / 3},
			CAConfig:      swarm.CAConfig{NodeCertExpiry: nodeCertExpiry},
		},
		DataPathPort: dataPathPort,
	}
}

// swarmInfo is /info's Swarm section on a node in a cluster.
func (s *Server) swarmInfo(ctx context.Context) swarm.Info {
	out := swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	if s.b.Cluster == nil || !s.b.Cluster.Active() {
		return out
	}
	i, err := s.b.Cluster.Info(ctx)
	if err != nil {
		out.LocalNodeState = swarm.LocalNodeStateError
		out.Error = err.Error()
		return out
	}
	if i.State != "active" {
		out.LocalNodeState = swarm.LocalNodeState(i.State)
		return out
	}
	ci := clusterInfo(i)
	out = swarm.Info{
		NodeID: i.NodeID, NodeAddr: i.NodeAddr, LocalNodeState: swarm.LocalNodeStateActive,
		ControlAvailable: true, Nodes: i.Nodes, Cluster: &ci, RemoteManagers: []swarm.Peer{},
	}
	nodes, err := s.b.Cluster.NodeList(ctx)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	for _, n := range nodes {
		if n.EtcdMember {
			out.Managers++
			out.RemoteManagers = append(out.RemoteManagers, swarm.Peer{NodeID: n.ID, Addr: net.JoinHostPort(n.Addr, swarmPort)})
		}
	}
	return out
}

func (s *Server) swarmInspect(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	i, err := s.b.Cluster.Info(r.Context())
	if err != nil {
		return err
	}
	tok, err := s.b.Cluster.JoinToken(r.Context(), false)
	if err != nil {
		return err
	}
	// berth has one token: a node joining with it runs an etcd member
	// while there are fewer than three, and is a store client after.
	return writeJSON(w, http.StatusOK, swarm.Swarm{ClusterInfo: clusterInfo(i), JoinTokens: swarm.JoinTokens{Worker: tok, Manager: tok}})
}

// swarmUpdate serves what of `docker swarm update` and `docker swarm
// join-token --rotate` berth has: rotating the join token. The spec the
// client sends back is the one GET /swarm served; other changes are
// refused by name.
func (s *Server) swarmUpdate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	if _, err := strconv.ParseUint(q.Get("version"), 10, 64); err != nil {
		return invalid("invalid swarm version '%s': %v", q.Get("version"), err)
	}
	var spec swarm.Spec
	if err := decodeJSON(w, r, &spec, true); err != nil {
		return err
	}
	if boolValue(r, "rotateManagerUnlockKey") {
		return statusError{http.StatusNotImplemented, "autolock (swarm unlock keys) are not supported by berth's cluster (see docs/cluster.md)"}
	}
	i, err := s.b.Cluster.Info(r.Context())
	if err != nil {
		return err
	}
	cur := clusterInfo(i).Spec
	if !swarmSpecEqual(cur, spec) {
		return invalid("berth's cluster settings are not changed through the swarm spec (heartbeat: berthd's cluster_node_timeout; certificates: docs/cluster.md); only `docker swarm join-token --rotate` is served")
	}
	if boolValue(r, "rotateWorkerToken") || boolValue(r, "rotateManagerToken") {
		if _, err := s.b.Cluster.JoinToken(r.Context(), true); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// swarmSpecEqual compares the settings berth reports in the swarm spec.
func swarmSpecEqual(a, b swarm.Spec) bool {
	ret := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	return ret(a.Orchestration.TaskHistoryRetentionLimit) == ret(b.Orchestration.TaskHistoryRetentionLimit) &&
		a.Raft.HeartbeatTick == b.Raft.HeartbeatTick && a.Raft.ElectionTick == b.Raft.ElectionTick &&
		a.Dispatcher.HeartbeatPeriod == b.Dispatcher.HeartbeatPeriod &&
		a.CAConfig.NodeCertExpiry == b.CAConfig.NodeCertExpiry && b.CAConfig.ForceRotate == 0 &&
		len(b.CAConfig.ExternalCAs) == 0 && b.CAConfig.SigningCACert == "" && b.CAConfig.SigningCAKey == "" &&
		!b.EncryptionConfig.AutoLockManagers && len(b.Labels) == 0
}

// dockerNode is a cluster node as Docker's Node. Role: the nodes that run
// an etcd member are managers (the leader is the raft leader, a learner
// still catching up is "unknown"), store clients are workers, as `berth
// node ls` shows them.
func dockerNode(n cluster.Node) swarm.Node {
	labels := maps.Clone(n.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	out := swarm.Node{
		ID:   n.ID,
		Meta: swarm.Meta{Version: swarm.Version{Index: n.Version}, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt},
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: labels},
			Role:         swarm.NodeRoleWorker,
			Availability: swarm.NodeAvailability(n.Availability),
		},
		Description: swarm.NodeDescription{
			Hostname: n.Hostname,
			Engine:   swarm.EngineDescription{EngineVersion: n.EngineVersion},
		},
		Status: swarm.NodeStatus{State: swarm.NodeState(n.Status), Addr: n.Addr},
	}
	if n.Self {
		out.Description.Platform = swarm.Platform{Architecture: goarchToUname(runtime.GOARCH), OS: runtime.GOOS}
	}
	if n.EtcdMember {
		out.Spec.Role = swarm.NodeRoleManager
		ms := &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable, Addr: net.JoinHostPort(n.Addr, swarmPort)}
		switch {
		case n.Status != cluster.StatusReady:
			ms.Reachability = swarm.ReachabilityUnreachable
		case n.StoreRole == cluster.StoreLeader:
			ms.Leader = true
		case n.StoreRole == cluster.StoreLearner:
			ms.Reachability = swarm.ReachabilityUnknown
		}
		out.ManagerStatus = ms
	}
	return out
}

// nodeList is GET /nodes with dockerd's filters: id and name (prefixes),
// role, membership, label and node.label (key or key=value).
func (s *Server) nodeList(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r)
	if err != nil {
		return err
	}
	for k, vs := range filters {
		switch k {
		case "id", "name", "label", "node.label":
		case "role":
			for _, v := range vs {
				if v != string(swarm.NodeRoleManager) && v != string(swarm.NodeRoleWorker) {
					return invalid("invalid filter 'role=%s': use manager or worker", v)
				}
			}
		case "membership":
			for _, v := range vs {
				if v != "accepted" && v != "pending" {
					return invalid("invalid filter 'membership=%s': use accepted or pending", v)
				}
			}
		default:
			return invalid("invalid filter '%s'", k)
		}
	}
	nodes, err := s.b.Cluster.NodeList(r.Context())
	if err != nil {
		return err
	}
	out := []swarm.Node{}
	for _, n := range nodes {
		d := dockerNode(n)
		if nodeMatches(d, filters) {
			out = append(out, d)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func nodeMatches(n swarm.Node, filters map[string][]string) bool {
	any := func(vs []string, f func(string) bool) bool {
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if f(v) {
				return true
			}
		}
		return false
	}
	all := func(vs []string, labels map[string]string) bool {
		for _, v := range vs {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := labels[k]
			if !ok || (hasVal && got != val) {
				return false
			}
		}
		return true
	}
	return any(filters["id"], func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		any(filters["name"], func(v string) bool { return strings.HasPrefix(n.Description.Hostname, v) }) &&
		any(filters["role"], func(v string) bool { return string(n.Spec.Role) == v }) &&
		any(filters["membership"], func(v string) bool { return v == "accepted" }) &&
		all(filters["label"], n.Description.Engine.Labels) &&
		all(filters["node.label"], n.Spec.Labels)
}

func (s *Server) nodeInspect(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	n, err := s.b.Cluster.NodeInspect(r.Context(), vars["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, dockerNode(*n))
}

// nodeUpdate is POST /nodes/{id}/update?version=N: the spec's
// availability and labels become berth's node update (labels as the
// changes from the current ones), at the version the client read.
func (s *Server) nodeUpdate(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	raw := r.URL.Query().Get("version")
	version, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return invalid("invalid node version '%s': %v", raw, err)
	}
	var spec swarm.NodeSpec
	if err := decodeJSON(w, r, &spec, false); err != nil {
		return err
	}
	n, err := s.b.Cluster.NodeInspect(r.Context(), vars["id"])
	if err != nil {
		return err
	}
	cur := dockerNode(*n)
	if spec.Role != "" && spec.Role != cur.Spec.Role {
		return invalid("node %s is a %s and stays one: berth has no node promote/demote (the first three nodes of a cluster run etcd members, the managers; the others are store clients, the workers)", n.Hostname, cur.Spec.Role)
	}
	if spec.Name != "" {
		return invalid("node names are not served by berth: a node is named by its hostname (`berth cluster join --node-name`)")
	}
	u := cluster.NodeUpdate{Version: version, Availability: string(spec.Availability)}
	for k, v := range spec.Labels {
		if old, ok := n.Labels[k]; !ok || old != v {
			if u.LabelAdd == nil {
				u.LabelAdd = map[string]string{}
			}
			u.LabelAdd[k] = v
		}
	}
	for k := range n.Labels {
		if _, ok := spec.Labels[k]; !ok {
			u.LabelRm = append(u.LabelRm, k)
		}
	}
	if err := s.b.Cluster.NodeUpdate(r.Context(), n.ID, u); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) nodeRemove(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := s.b.Cluster.NodeRemove(r.Context(), vars["id"], boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func emptyList(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	return writeJSON(w, http.StatusOK, []any{})
}
