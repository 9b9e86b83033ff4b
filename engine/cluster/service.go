// Package cluster is berthd's control plane across hosts: it joins berthd
// nodes into a cluster on etcd (cluster init/join/leave, node listing and
// availability, liveness by etcd leases) and hands the cluster store to
// the rest of berthd (Service.Store, Service.OnStore). A node in no cluster
// runs no etcd and opens no port: the service then only answers that the
// node is not in a cluster.
package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/supervisor"
	ctypes "github.com/berthproject/berth/pkg/types/cluster"
)

// Default ports (all TCP, on the node's advertised address): the join
// endpoint (swarm's port), etcd's client and peer ports.
const (
	DefaultJoinPort       = 2377
	DefaultEtcdClientPort = 2379
	DefaultEtcdPeerPort   = 2380
	// DefaultNodeTimeout bounds how long a node that stopped heartbeating
	// is still reported ready.
	DefaultNodeTimeout = 5 * time.Second
	// maxMembers is how many nodes run an etcd member (the first ones).
	maxMembers = 3
)

// Options configure the service.
type Options struct {
	// Root keeps the membership, certificates and etcd data
	// (<root>/cluster); State the etcd member's pid and log files.
	Root, State string
	// BinDirs are searched for berth-etcd (then $PATH).
	BinDirs []string
	// NodeTimeout is the bound on reporting a silent node down (the
	// heartbeat lease's TTL is one second less, at least 2 s).
	NodeTimeout time.Duration
	// CertValidity is how long the node certificates this node issues
	// (init, join, renewal) are valid; zero means 5 years. A node renews
	// its own once less than a third of it is left.
	CertValidity time.Duration
	// Ports; zero means the default.
	JoinPort, EtcdClientPort, EtcdPeerPort int
	EngineVersion                          string
	Logger                                 *slog.Logger
}

// Service is the cluster service. Its methods are the API's Cluster noun.
type Service struct {
	opts Options
	dir  string // <root>/cluster
	log  *slog.Logger

	mu       sync.Mutex // serialises init, join, leave and resume
	st       *localState
	store    *Store
	etcd     *supervisor.Process
	join     *http.Server
	stopBeat context.CancelFunc
	beatDone chan struct{}
	// stopPromote ends the promoter of a store client (promote.go).
	stopPromote context.CancelFunc
	promoteDone chan struct{}
	// stopRenew ends the certificate renewer (renew.go).
	stopRenew context.CancelFunc
	renewDone chan struct{}

	hookMu   sync.Mutex
	hooks    []func(*Store)
	handlers map[string]http.Handler // node-to-node endpoints (Handle)
}

// New makes the service. When the node was in a cluster before berthd
// restarted, it takes its place again in the background (etcd member,
// store connection, heartbeat, join endpoint); New does not wait for the
// store to answer.
func New(opts Options) (*Service, error) {
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = DefaultNodeTimeout
	}
	if opts.JoinPort == 0 {
		opts.JoinPort = DefaultJoinPort
	}
	if opts.EtcdClientPort == 0 {
		opts.EtcdClientPort = DefaultEtcdClientPort
	}
	if opts.EtcdPeerPort == 0 {
		opts.EtcdPeerPort = DefaultEtcdPeerPort
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{opts: opts, dir: filepath.Join(opts.Root, "cluster"), log: opts.Logger.With("component", "cluster")}
	st, err := readState(s.statePath())
	if err != nil {
		return nil, fmt.Errorf("reading the cluster membership %s: %w", s.statePath(), err)
	}
	if st != nil {
		s.mu.Lock()
		go func() {
			defer s.mu.Unlock()
			if err := s.resume(context.Background(), st); err != nil {
				s.log.Error("taking this node's place in the cluster again", "cluster", st.ClusterID, "err", err)
			}
		}()
	}
	return s, nil
}

func (s *Service) statePath() string { return filepath.Join(s.dir, "state.json") }
func (s *Service) tlsDir() string    { return filepath.Join(s.dir, "tls") }
func (s *Service) stateDir() string  { return filepath.Join(s.opts.State, "cluster") }

// Store is this node's handle on the cluster store, nil when the node is
// in no cluster.
func (s *Service) Store() *Store {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	return s.store
}

// Active reports whether the node is in a cluster, without asking the
// store (the Docker API's /_ping says so on every call).
func (s *Service) Active() bool { return s.Store() != nil }

// OnStore registers fn, called with the store each time the node enters a
// cluster (init, join, or berthd starting as a member) and with nil when
// it leaves. fn is called at once if the node is in a cluster already.
// fn may wait for its own work to stop but must not call the service.
func (s *Service) OnStore(fn func(*Store)) {
	s.hookMu.Lock()
	s.hooks = append(s.hooks, fn)
	st := s.store
	s.hookMu.Unlock()
	if st != nil {
		fn(st)
	}
}

func (s *Service) setStore(st *Store) {
	s.hookMu.Lock()
	s.store = st
	hooks := slices.Clone(s.hooks)
	s.hookMu.Unlock()
	for _, fn := range hooks {
		fn(st)
	}
}

// Close stops the heartbeat (revoking its lease: the node is down at
// once), the join endpoint, the store connection and the etcd member, as
// a clean berthd shutdown stops containerd. A berthd killed without Close
// leaves its etcd member serving; the next berthd adopts it.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown(true)
	return nil
}

// shutdown undoes what resume started; stopEtcd also stops the member.
func (s *Service) shutdown(stopEtcd bool) {
	if s.stopRenew != nil {
		s.stopRenew()
		<-s.renewDone
		s.stopRenew = nil
	}
	if s.stopPromote != nil {
		s.stopPromote()
		<-s.promoteDone
		s.stopPromote = nil
	}
	if s.stopBeat != nil {
		s.stopBeat()
		<-s.beatDone
		s.stopBeat = nil
	}
	if s.join != nil {
		s.join.Close()
		s.join = nil
	}
	if st := s.Store(); st != nil {
		s.setStore(nil)
		if err := st.Client.Close(); err != nil {
			s.log.Debug("closing the store connection", "err", err)
		}
	}
	if s.etcd != nil {
		if stopEtcd {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			if err := s.etcd.Stop(ctx); err != nil {
				s.log.Warn("stopping the etcd member", "err", err)
			}
			cancel()
		} else {
			s.etcd.Detach()
		}
		s.etcd = nil
	}
	s.st = nil
}

// resume starts what a member of st runs: its etcd member, the store
// connection, the heartbeat and the join endpoint.
func (s *Service) resume(ctx context.Context, st *localState) error {
	if st.EtcdMember {
		bin, err := lookBin(s.opts.BinDirs, EtcdBinary)
		if err != nil {
			return err
		}
		p, err := s.member(st, bin).start(ctx, s.opts.Logger)
		if err != nil {
			return err
		}
		s.etcd = p
	}
	tlsCfg, err := s.storeTLS(st)
	if err != nil {
		return err
	}
	cl, err := Connect(ctx, st.Endpoints, tlsCfg)
	if err != nil {
		return err
	}
	s.st = st
	store := &Store{Client: cl, NodeID: st.NodeID, NodeAddr: st.Addr}
	if st.Store == StoreEmbedded {
		// Learn every member's address now (and every AutoSyncInterval
		// after), so that the client fails over when its first endpoint
		// (this node's own member, for the first node) hangs or dies.
		go func() {
			for i := 0; i < 20; i++ {
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := cl.Sync(sctx)
				cancel()
				if err == nil || errors.Is(err, context.Canceled) || cl.Ctx().Err() != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}
	if err := s.serveJoin(st); err != nil {
		s.log.Warn("the join endpoint is not served", "err", err)
	}
	beatCtx, cancel := context.WithCancel(context.Background())
	s.stopBeat, s.beatDone = cancel, make(chan struct{})
	go s.heartbeat(beatCtx, store, s.beatDone)
	rctx, rcancel := context.WithCancel(context.Background())
	s.stopRenew, s.renewDone = rcancel, make(chan struct{})
	go s.renewer(rctx, store, st.Addr, s.renewDone)
	if st.Store == StoreEmbedded && !st.EtcdMember {
		pctx, pcancel := context.WithCancel(context.Background())
		s.stopPromote, s.promoteDone = pcancel, make(chan struct{})
		go s.promoter(pctx, store, s.promoteDone)
	}
	s.setStore(store)
	s.log.Info("in cluster", "cluster", st.ClusterID, "node", st.NodeID, "addr", st.Addr, "etcd_member", st.EtcdMember)
	return nil
}

func (s *Service) member(st *localState, bin string) etcdMember {
	return etcdMember{
		binary: bin, dataDir: filepath.Join(s.dir, "etcd"), tlsDir: s.tlsDir(),
		name: st.NodeID, addr: st.Addr,
		clientPort: s.opts.EtcdClientPort, peerPort: s.opts.EtcdPeerPort,
		initialCluster: st.InitialCluster, initialState: st.InitialState,
		clusterToken: st.ClusterID, stateDir: s.stateDir(),
	}
}

// storeTLS is the TLS configuration for the store: the node's cluster
// certificate, or the external store's files.
func (s *Service) storeTLS(st *localState) (*tls.Config, error) {
	ca, cert, key := tlsFiles(s.tlsDir())
	if st.Store == StoreExternal {
		if !st.ExternalTLS {
			return nil, nil
		}
		ca, cert, key = storeTLSFiles(s.tlsDir())
	}
	caPEM, err1 := os.ReadFile(ca)
	certPEM, err2 := os.ReadFile(cert)
	keyPEM, err3 := os.ReadFile(key)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	cfg, err := TLSConfig(caPEM, certPEM, keyPEM)
	if err != nil || st.Store == StoreExternal {
		return cfg, err
	}
	// The node certificate is read at each handshake: a renewed one
	// (renew.go) is presented on the next connection.
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		pair, err := tls.LoadX509KeyPair(cert, key)
		return &pair, err
	}
	return cfg, nil
}

// leaseTTL is the heartbeat lease's TTL in seconds for a bound of
// NodeTimeout: the leader revokes an expired lease within about half a
// second, so one second less than the bound keeps the bound.
func (s *Service) leaseTTL() int64 {
	ttl := int64(s.opts.NodeTimeout/time.Second) - 1
	return max(ttl, 2) // etcd's minimum lease TTL at default election timing
}

// heartbeat keeps /berth/alive/<id> alive on a lease until ctx ends. When
// the lease is lost (partition, store restart) it takes a new one: the key
// is the same, so a node back from a partition duplicates nothing.
//
// It renews with one KeepAliveOnce call every third of the TTL, each
// bounded by that third, rather than with a KeepAlive stream: a stream
// stays stuck on a member that hangs (SIGSTOP, a dead disk) until gRPC's
// keepalive notices, after 12 s, far past the TTL, while each new call is
// balanced onto the next member.
func (s *Service) heartbeat(ctx context.Context, store *Store, done chan struct{}) {
	defer close(done)
	ttl := s.leaseTTL()
	period := time.Duration(ttl) * time.Second / 3
	var lease clientv3.LeaseID
	defer func() {
		if lease != 0 { // a clean stop (leave, berthd stopping): down at once
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if _, err := store.Client.Revoke(rctx, lease); err != nil {
				s.log.Debug("revoking the heartbeat lease", "err", err)
			}
			cancel()
		}
	}()
	for ctx.Err() == nil {
		lease = 0
		id, err := s.beatOnce(ctx, store, ttl)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("heartbeat", "err", err)
				sleepCtx(ctx, 200*time.Millisecond)
			}
			continue
		}
		lease = id
		renewed := time.Now()
		for ctx.Err() == nil {
			sleepCtx(ctx, period)
			kctx, cancel := context.WithTimeout(ctx, period)
			resp, err := store.Client.KeepAliveOnce(kctx, id)
			cancel()
			if err == nil && resp.TTL > 0 {
				renewed = time.Now()
				continue
			}
			if ctx.Err() != nil {
				return
			}
			if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) || time.Since(renewed) > time.Duration(ttl)*time.Second {
				s.log.Warn("heartbeat lease lost: taking a new one", "node", store.NodeID, "err", err)
				break
			}
		}
	}
}

// beatOnce takes a lease and puts the alive key on it, if this node still
// has its record (a node removed with `node rm` stays out).
func (s *Service) beatOnce(ctx context.Context, store *Store, ttl int64) (clientv3.LeaseID, error) {
	octx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	g, err := store.Client.Grant(octx, ttl)
	if err != nil {
		return 0, err
	}
	resp, err := store.Client.Txn(octx).
		If(clientv3.Compare(clientv3.CreateRevision(NodeKey(store.NodeID)), ">", 0)).
		Then(clientv3.OpPut(AliveKey(store.NodeID), store.NodeAddr, clientv3.WithLease(g.ID))).
		Commit()
	if err == nil && !resp.Succeeded {
		err = fmt.Errorf("node %s has no record in the cluster (removed with `berth node rm`?): run `berth cluster leave --force`, then join again", store.NodeID)
	}
	if err != nil {
		_, _ = store.Client.Revoke(octx, g.ID) // it expires anyway
		return 0, err
	}
	return g.ID, nil
}

// whileUnhealthy runs fn again while etcd refuses a membership change as
// "unhealthy cluster": it accepts one only once every voting member has
// been connected for its health interval (5 s), so right after a member
// joined or came back, a change waits for that.
func whileUnhealthy(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil || !strings.Contains(err.Error(), "unhealthy cluster") || ctx.Err() != nil {
			return err
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// storeTimeout bounds one API call's work on the store: a node cut off
// from the quorum answers with an error instead of hanging.
const storeTimeout = 10 * time.Second

// notInCluster is the error of cluster verbs on a node in no cluster.
func notInCluster() error {
	return fmt.Errorf("this node is not in a cluster: run `berth cluster init` or `berth cluster join`: %w", errdefs.ErrFailedPrecondition)
}

// active returns the current membership and store, or notInCluster.
func (s *Service) active() (*localState, *Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil || s.Store() == nil {
		if _, err := os.Stat(s.statePath()); err == nil {
			return nil, nil, fmt.Errorf("this node's cluster membership is still being restored: try again: %w", errdefs.ErrUnavailable)
		}
		return nil, nil, notInCluster()
	}
	return s.st, s.Store(), nil
}

func newID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// clusterRecord is the value of KeyCluster.
type clusterRecord struct {
	ID        string    `json:"ID"`
	CreatedAt time.Time `json:"CreatedAt"`
	CACert    string    `json:"CACert"`
	Store     string    `json:"Store"`
}

// externalTLS is the value of KeyStoreTLS: what a joining node needs to
// reach an external store over TLS.
type externalTLS struct {
	CA, Cert, Key []byte
}

// KeyStoreTLS holds the external store's client TLS files (externalTLS),
// handed to joining nodes.
const KeyStoreTLS = Prefix + "cluster/store-tls"

// advertiseAddr checks addr or, when empty, picks the source address of
// the route towards dst (no packet is sent).
func advertiseAddr(addr, dst string) (string, error) {
	if addr != "" {
		ip := net.ParseIP(addr)
		if ip == nil || ip.IsUnspecified() || ip.IsLoopback() {
			return "", fmt.Errorf("--advertise-addr %q: give the IP address other nodes reach this one at: %w", addr, errdefs.ErrInvalidArgument)
		}
		return ip.String(), nil
	}
	c, err := net.Dial("udp", net.JoinHostPort(dst, "9"))
	if err != nil {
		return "", fmt.Errorf("no route to pick this node's address from: give --advertise-addr: %w", errdefs.ErrInvalidArgument)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

func nodeName(name string) string {
	if name != "" {
		return name
	}
	h, _ := os.Hostname()
	return h
}

// Info is `berth cluster info`.
func (s *Service) Info(ctx context.Context) (*ctypes.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	st, store, err := s.active()
	if errors.Is(err, errdefs.ErrFailedPrecondition) {
		return &ctypes.Info{State: "inactive"}, nil
	}
	if err != nil {
		return nil, err
	}
	info := &ctypes.Info{
		State: "active", ClusterID: st.ClusterID, NodeID: st.NodeID, NodeAddr: st.Addr,
		Store: st.Store, StoreEndpoints: store.Client.Endpoints(), EtcdMember: st.EtcdMember,
		HeartbeatTTL: time.Duration(s.leaseTTL()) * time.Second,
	}
	if b, err := os.ReadFile(filepath.Join(s.tlsDir(), "ca.pem")); err == nil {
		if c, err := parseCertPEM(b); err == nil {
			info.CACertHash = CertHash(c)
		}
	}
	var rec clusterRecord
	if resp, err := store.Client.Get(ctx, KeyCluster); err != nil {
		return nil, storeErr(err)
	} else if len(resp.Kvs) > 0 {
		_ = json.Unmarshal(resp.Kvs[0].Value, &rec)
		info.CreatedAt = rec.CreatedAt
	}
	nodes, err := store.Nodes(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	info.Nodes = len(nodes)
	for _, n := range nodes {
		if n.Status == ctypes.StatusReady {
			info.NodesReady++
		}
	}
	if st.Store == StoreEmbedded {
		if ml, err := store.Client.MemberList(ctx); err == nil {
			info.Members = len(ml.Members)
		}
	}
	return info, nil
}

// storeErr makes a store failure say what it means for the user.
func storeErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "deadline exceeded") {
		return fmt.Errorf("the cluster store does not answer (no quorum of etcd members reachable?): %w: %w", err, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("cluster store: %w", err)
}

// JoinToken returns the join token, a new one when rotate is set (the old
// token stops working at once; nodes already in the cluster are not
// affected).
func (s *Service) JoinToken(ctx context.Context, rotate bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	_, store, err := s.active()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(s.tlsDir(), "ca.pem"))
	if err != nil {
		return "", err
	}
	ca, err := parseCertPEM(b)
	if err != nil {
		return "", err
	}
	if rotate {
		tok := NewToken(CertHash(ca))
		if _, err := store.Client.Put(ctx, KeyJoinToken, tok.Secret); err != nil {
			return "", storeErr(err)
		}
		return tok.String(), nil
	}
	resp, err := store.Client.Get(ctx, KeyJoinToken)
	if err != nil {
		return "", storeErr(err)
	}
	if len(resp.Kvs) == 0 {
		return "", errors.New("the cluster store holds no join token: rotate one with `berth cluster join-token --rotate`")
	}
	return Token{CAHash: CertHash(ca), Secret: string(resp.Kvs[0].Value)}.String(), nil
}

// NodeList is `berth node ls`, sorted by hostname then ID.
func (s *Service) NodeList(ctx context.Context) ([]ctypes.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	_, store, err := s.active()
	if err != nil {
		return nil, err
	}
	nodes, err := store.Nodes(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	roles := s.storeRoles(ctx, store)
	for i := range nodes {
		nodes[i].StoreRole = roles[nodes[i].EtcdMemberID]
	}
	slices.SortFunc(nodes, func(a, b ctypes.Node) int {
		if c := strings.Compare(a.Hostname, b.Hostname); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return nodes, nil
}

// storeRoles maps etcd member IDs to their role (leader, member, learner).
func (s *Service) storeRoles(ctx context.Context, store *Store) map[uint64]string {
	roles := map[uint64]string{}
	ml, err := store.Client.MemberList(ctx)
	if err != nil {
		return roles
	}
	var leader uint64
	for _, ep := range store.Client.Endpoints() {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := store.Client.Status(sctx, ep)
		cancel()
		if err == nil {
			leader = st.Leader
			break
		}
	}
	for _, m := range ml.Members {
		switch {
		case m.IsLearner:
			roles[m.ID] = ctypes.StoreLearner
		case m.ID == leader:
			roles[m.ID] = ctypes.StoreLeader
		default:
			roles[m.ID] = ctypes.StoreMember
		}
	}
	roles[0] = ctypes.StoreClient
	return roles
}

// findNode resolves a node by ID, unique ID prefix or hostname.
func (s *Service) findNode(ctx context.Context, store *Store, ref string) (*ctypes.Node, error) {
	nodes, err := store.Nodes(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	var found []ctypes.Node
	for _, n := range nodes {
		if n.ID == ref {
			found = []ctypes.Node{n}
			break
		}
		if strings.HasPrefix(n.ID, ref) || n.Hostname == ref {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no such node: %s: %w", ref, errdefs.ErrNotFound)
	case 1:
		n := found[0]
		n.StoreRole = s.storeRoles(ctx, store)[n.EtcdMemberID]
		return &n, nil
	}
	return nil, fmt.Errorf("node %q is ambiguous (%d nodes match): give more of its ID: %w", ref, len(found), errdefs.ErrInvalidArgument)
}

// NodeInspect is `berth node inspect`.
func (s *Service) NodeInspect(ctx context.Context, ref string) (*ctypes.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	_, store, err := s.active()
	if err != nil {
		return nil, err
	}
	return s.findNode(ctx, store, ref)
}

// NodeUpdate is `berth node update`: availability and labels, written
// with a compare-and-swap on the record's revision.
func (s *Service) NodeUpdate(ctx context.Context, ref string, u ctypes.NodeUpdate) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	switch u.Availability {
	case "", ctypes.AvailabilityActive, ctypes.AvailabilityDrain, ctypes.AvailabilityPause:
	default:
		return fmt.Errorf("invalid availability %q: use active, pause or drain: %w", u.Availability, errdefs.ErrInvalidArgument)
	}
	_, store, err := s.active()
	if err != nil {
		return err
	}
	n, err := s.findNode(ctx, store, ref)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		resp, err := store.Client.Get(ctx, NodeKey(n.ID))
		if err != nil {
			return storeErr(err)
		}
		if len(resp.Kvs) == 0 {
			return fmt.Errorf("no such node: %s: %w", ref, errdefs.ErrNotFound)
		}
		if u.Version != 0 && uint64(resp.Kvs[0].ModRevision) != u.Version {
			return fmt.Errorf("update out of sequence: node %s changed since version %d (now %d): inspect it again: %w", ref, u.Version, resp.Kvs[0].ModRevision, errdefs.ErrConflict)
		}
		var rec ctypes.Node
		if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
			return err
		}
		if u.Availability != "" {
			rec.Availability = u.Availability
		}
		for k, v := range u.LabelAdd {
			if rec.Labels == nil {
				rec.Labels = map[string]string{}
			}
			rec.Labels[k] = v
		}
		for _, k := range u.LabelRm {
			delete(rec.Labels, k)
		}
		rec.UpdatedAt = time.Now().UTC()
		b, _ := json.Marshal(rec)
		tr, err := store.Client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(NodeKey(n.ID)), "=", resp.Kvs[0].ModRevision)).
			Then(clientv3.OpPut(NodeKey(n.ID), string(b))).Commit()
		if err != nil {
			return storeErr(err)
		}
		if tr.Succeeded {
			return nil
		}
		if attempt == 10 {
			return fmt.Errorf("node %s changed under concurrent updates: try again: %w", ref, errdefs.ErrConflict)
		}
	}
}

// NodeRemove is `berth node rm`: it deletes a node's record (and its etcd
// membership). A ready node is refused unless force: it would otherwise
// keep running as if it were in the cluster.
func (s *Service) NodeRemove(ctx context.Context, ref string, force bool) error {
	ctx, cancel := context.WithTimeout(ctx, 3*storeTimeout) // a membership change may wait for etcd's health interval
	defer cancel()
	st, store, err := s.active()
	if err != nil {
		return err
	}
	n, err := s.findNode(ctx, store, ref)
	if err != nil {
		return err
	}
	if n.ID == st.NodeID {
		return fmt.Errorf("node %s is this node: run `berth cluster leave` instead: %w", n.ID, errdefs.ErrFailedPrecondition)
	}
	if n.Status == ctypes.StatusReady && !force {
		return fmt.Errorf("node %s is ready: run `berth cluster leave` on it, or stop it first, or use --force: %w", n.ID, errdefs.ErrFailedPrecondition)
	}
	return s.removeNode(ctx, store, n)
}

func (s *Service) removeNode(ctx context.Context, store *Store, n *ctypes.Node) error {
	if _, err := store.Client.Txn(ctx).Then(
		clientv3.OpDelete(NodeKey(n.ID)), clientv3.OpDelete(AliveKey(n.ID)),
	).Commit(); err != nil {
		return storeErr(err)
	}
	if n.EtcdMember && n.EtcdMemberID != 0 {
		err := whileUnhealthy(ctx, func() error {
			_, err := store.Client.MemberRemove(ctx, n.EtcdMemberID)
			return err
		})
		// A member removing itself through its own server may get "server
		// stopped": the removal was applied, and the server stopped for it.
		if err != nil && n.ID == store.NodeID && strings.Contains(err.Error(), "server stopped") {
			err = nil
		}
		if err != nil && !strings.Contains(err.Error(), "member not found") {
			return fmt.Errorf("removing node %s's etcd member: %w", n.ID, storeErr(err))
		}
	}
	return nil
}

var _ api.Cluster = (*Service)(nil)
