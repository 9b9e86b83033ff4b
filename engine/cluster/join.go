package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ctypes "github.com/berthproject/berth/pkg/types/cluster"
)

// joinRequest is what a joining node sends to a cluster node's join
// endpoint (POST /v1/join, HTTPS; the joining node pins the server's CA to
// the token's hash, the token's secret authenticates the joining node).
type joinRequest struct {
	Secret        string `json:"Secret"`
	NodeID        string `json:"NodeID"`
	NodeName      string `json:"NodeName"`
	Addr          string `json:"Addr"`
	PublicKey     []byte `json:"PublicKey"` // PKIX, PEM
	EngineVersion string `json:"EngineVersion"`
}

// joinResponse carries what the node needs to enter the cluster.
type joinResponse struct {
	ClusterID string   `json:"ClusterID"`
	CACert    []byte   `json:"CACert"`
	Cert      []byte   `json:"Cert"`
	Store     string   `json:"Store"`
	Endpoints []string `json:"Endpoints"`
	// When the node is to run an etcd member: it was added as a learner
	// with this ID, and starts with this initial cluster.
	EtcdMember     bool         `json:"EtcdMember"`
	MemberID       uint64       `json:"MemberID,omitempty"`
	InitialCluster string       `json:"InitialCluster,omitempty"`
	ExternalTLS    *externalTLS `json:"ExternalTLS,omitempty"`
}

// Init is `berth cluster init`: this node founds a cluster, as its first
// etcd member or on an external etcd.
func (s *Service) Init(ctx context.Context, o ctypes.InitOptions) (*ctypes.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFree(); err != nil {
		return nil, err
	}
	addr, err := advertiseAddr(o.AdvertiseAddr, "192.0.2.1")
	if err != nil {
		return nil, err
	}
	st := &localState{ClusterID: newID(12), NodeID: newID(12), NodeName: nodeName(o.NodeName), Addr: addr, Store: StoreEmbedded}
	var ext *externalTLS
	if o.Store != "" {
		st.Store = StoreExternal
		if st.Endpoints, err = parseStore(o.Store); err != nil {
			return nil, err
		}
		if ext, err = readExternalTLS(o); err != nil {
			return nil, err
		}
		st.ExternalTLS = ext != nil
	} else {
		st.EtcdMember = true
		st.InitialCluster = st.NodeID + "=https://" + hostPort(addr, s.opts.EtcdPeerPort)
		st.InitialState = "new"
		st.Endpoints = []string{"https://" + hostPort("127.0.0.1", s.opts.EtcdClientPort)}
	}
	ca, err := NewCA(st.ClusterID)
	if err != nil {
		return nil, err
	}
	key, keyPEM, err := NewKey()
	if err != nil {
		return nil, err
	}
	certPEM, err := ca.SignFor(st.NodeID, addr, &key.PublicKey, s.certValidity())
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"ca.pem": ca.CertPEM, "node.pem": certPEM, "node-key.pem": keyPEM}
	if ext != nil {
		files["store-ca.pem"], files["store.pem"], files["store-key.pem"] = ext.CA, ext.Cert, ext.Key
	}
	fail := func(err error) (*ctypes.Info, error) {
		s.shutdown(true)
		os.RemoveAll(s.dir)
		return nil, err
	}
	if err := writeFiles(s.tlsDir(), files); err != nil {
		return fail(err)
	}
	if err := s.resume(ctx, st); err != nil {
		return fail(err)
	}
	store := s.Store()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	rec, _ := json.Marshal(clusterRecord{ID: st.ClusterID, CreatedAt: time.Now().UTC(), CACert: string(ca.CertPEM), Store: st.Store})
	tok := NewToken(ca.Hash())
	ops := []clientv3.Op{
		clientv3.OpPut(KeyCluster, string(rec)),
		clientv3.OpPut(KeyCAKey, string(ca.KeyPEM)),
		clientv3.OpPut(KeyJoinToken, tok.Secret),
	}
	if ext != nil {
		b, _ := json.Marshal(ext)
		ops = append(ops, clientv3.OpPut(KeyStoreTLS, string(b)))
	}
	resp, err := store.Client.Txn(wctx).If(clientv3.Compare(clientv3.CreateRevision(KeyCluster), "=", 0)).Then(ops...).Commit()
	if err != nil {
		return fail(storeErr(err))
	}
	if !resp.Succeeded {
		return fail(fmt.Errorf("the cluster store %s already holds a berth cluster: join it with `berth cluster join`, or use another store: %w", o.Store, errdefs.ErrConflict))
	}
	node := s.nodeRecord(st)
	if st.EtcdMember {
		ml, err := store.Client.MemberList(wctx)
		if err != nil {
			return fail(storeErr(err))
		}
		node.EtcdMemberID = ml.Members[0].ID
	}
	if err := store.PutNode(wctx, node); err != nil {
		return fail(storeErr(err))
	}
	// Written last: a node with no state file is in no cluster.
	if err := writeState(s.statePath(), st); err != nil {
		return fail(err)
	}
	waitAlive(wctx, store)
	return s.infoLocked(ctx)
}

func (s *Service) infoLocked(ctx context.Context) (*ctypes.Info, error) {
	s.mu.Unlock()
	defer s.mu.Lock()
	return s.Info(ctx)
}

func (s *Service) nodeRecord(st *localState) ctypes.Node {
	now := time.Now().UTC()
	return ctypes.Node{
		ID: st.NodeID, Hostname: st.NodeName, Addr: st.Addr, Availability: ctypes.AvailabilityActive,
		EtcdMember: st.EtcdMember, EngineVersion: s.opts.EngineVersion, CreatedAt: now, UpdatedAt: now,
		Resources: hostResources(),
	}
}

// hostResources are this machine's CPUs and memory (for the service
// scheduler's reservations).
func hostResources() ctypes.NodeResources {
	r := ctypes.NodeResources{NanoCPUs: int64(runtime.NumCPU()) * 1e9}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					r.MemoryBytes = kb * 1024
				}
			}
		}
	}
	return r
}

func (s *Service) checkFree() error {
	if s.st != nil {
		return fmt.Errorf("this node is already in cluster %s: run `berth cluster leave` first: %w", s.st.ClusterID, errdefs.ErrFailedPrecondition)
	}
	if _, err := os.Stat(s.statePath()); err == nil {
		return fmt.Errorf("this node's cluster membership (%s) is being restored: run `berth cluster leave --force` to drop it: %w", s.statePath(), errdefs.ErrFailedPrecondition)
	}
	return nil
}

// parseStore parses --cluster-store etcd://host:port,host:port (https is
// used when TLS files are given, else http).
func parseStore(spec string) ([]string, error) {
	rest, ok := strings.CutPrefix(spec, "etcd://")
	if !ok || rest == "" {
		return nil, fmt.Errorf("--cluster-store %q: expected etcd://host:port[,host:port...]: %w", spec, errdefs.ErrInvalidArgument)
	}
	var eps []string
	for _, hp := range strings.Split(rest, ",") {
		if _, port, err := net.SplitHostPort(hp); err != nil || port == "" {
			return nil, fmt.Errorf("--cluster-store %q: %q is not host:port: %w", spec, hp, errdefs.ErrInvalidArgument)
		}
		eps = append(eps, hp)
	}
	return eps, nil
}

func readExternalTLS(o ctypes.InitOptions) (*externalTLS, error) {
	if o.StoreCA == "" && o.StoreCert == "" && o.StoreKey == "" {
		return nil, nil
	}
	if o.StoreCA == "" || o.StoreCert == "" || o.StoreKey == "" {
		return nil, fmt.Errorf("--cluster-store-cacert, --cluster-store-cert and --cluster-store-key go together: %w", errdefs.ErrInvalidArgument)
	}
	var e externalTLS
	var err1, err2, err3 error
	e.CA, err1 = os.ReadFile(o.StoreCA)
	e.Cert, err2 = os.ReadFile(o.StoreCert)
	e.Key, err3 = os.ReadFile(o.StoreKey)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("reading the external store's TLS files: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	return &e, nil
}

// joinAddr adds the default join port to an address without one.
func joinAddr(a string) string {
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	return hostPort(a, DefaultJoinPort)
}

// Join is `berth cluster join`: it asks a cluster node's join endpoint for
// a certificate and the store's endpoints, then starts this node's etcd
// member (a learner first, promoted once in sync) or connects as a client.
func (s *Service) Join(ctx context.Context, o ctypes.JoinOptions) (*ctypes.Info, error) {
	tok, err := ParseToken(o.Token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	if o.RemoteAddr == "" {
		return nil, fmt.Errorf("give the address of a node of the cluster (host[:port]): %w", errdefs.ErrInvalidArgument)
	}
	remote := joinAddr(o.RemoteAddr)
	host, _, _ := net.SplitHostPort(remote)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFree(); err != nil {
		return nil, err
	}
	addr, err := advertiseAddr(o.AdvertiseAddr, host)
	if err != nil {
		return nil, err
	}
	key, keyPEM, err := NewKey()
	if err != nil {
		return nil, err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	req := joinRequest{Secret: tok.Secret, NodeID: newID(12), NodeName: nodeName(o.NodeName), Addr: addr,
		PublicKey: pemBlock("PUBLIC KEY", pub), EngineVersion: s.opts.EngineVersion}
	resp, err := postJoin(ctx, remote, tok.CAHash, req)
	if err != nil {
		return nil, err
	}
	st := &localState{ClusterID: resp.ClusterID, NodeID: req.NodeID, NodeName: req.NodeName, Addr: addr,
		Store: resp.Store, Endpoints: resp.Endpoints, EtcdMember: resp.EtcdMember}
	files := map[string][]byte{"ca.pem": resp.CACert, "node.pem": resp.Cert, "node-key.pem": keyPEM}
	if resp.ExternalTLS != nil {
		st.ExternalTLS = true
		files["store-ca.pem"], files["store.pem"], files["store-key.pem"] = resp.ExternalTLS.CA, resp.ExternalTLS.Cert, resp.ExternalTLS.Key
	}
	if st.EtcdMember {
		st.InitialCluster, st.InitialState = resp.InitialCluster, "existing"
	}
	fail := func(err error) (*ctypes.Info, error) {
		if st.EtcdMember && s.Store() != nil {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := s.Store().Client.MemberRemove(rctx, resp.MemberID); err != nil {
				s.log.Warn("removing this node's etcd learner after the failed join", "err", err)
			}
			cancel()
		}
		s.shutdown(true)
		os.RemoveAll(s.dir)
		return nil, err
	}
	if err := writeFiles(s.tlsDir(), files); err != nil {
		return fail(err)
	}
	if err := s.resume(ctx, st); err != nil {
		return fail(err)
	}
	store := s.Store()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	node := s.nodeRecord(st)
	if st.EtcdMember {
		node.EtcdMemberID = resp.MemberID
		if err := promote(wctx, store.Client, resp.MemberID); err != nil {
			return fail(err)
		}
		st.Endpoints = append(st.Endpoints, "https://"+hostPort("127.0.0.1", s.opts.EtcdClientPort))
		store.Client.SetEndpoints(st.Endpoints...)
	}
	if err := store.PutNode(wctx, node); err != nil {
		return fail(storeErr(err))
	}
	if err := writeState(s.statePath(), st); err != nil {
		return fail(err)
	}
	waitAlive(wctx, store)
	return s.infoLocked(ctx)
}

// waitAlive waits (a few seconds at most) until the node's first
// heartbeat is in, so that init and join return with the node ready.
func waitAlive(ctx context.Context, store *Store) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := store.Client.Get(ctx, AliveKey(store.NodeID), clientv3.WithCountOnly()); err == nil && resp.Count > 0 {
			return
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

// promote turns this node's learner into a voting member once it has
// caught up with the leader.
func promote(ctx context.Context, cl *clientv3.Client, id uint64) error {
	for {
		_, err := cl.MemberPromote(ctx, id)
		if err == nil {
			return nil
		}
		// Retried: a learner not caught up yet, a leader election, and
		// any other Unavailable (a busy cluster's "request timed out").
		if !strings.Contains(err.Error(), "not in sync") && !strings.Contains(err.Error(), "not ready") && ctx.Err() == nil &&
			!strings.Contains(err.Error(), "leader") && !unavailable(err) {
			return fmt.Errorf("promoting this node's etcd learner: %w", err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("this node's etcd member did not catch up with the cluster: %w", storeErr(ctx.Err()))
		}
		sleepCtx(ctx, 300*time.Millisecond)
	}
}

// unavailable reports an etcd error of gRPC's Unavailable class, as the
// etcd client returns them (rpctypes.EtcdError) or as a plain status.
func unavailable(err error) bool {
	var ee rpctypes.EtcdError
	return (errors.As(err, &ee) && ee.Code() == codes.Unavailable) || status.Code(err) == codes.Unavailable
}

// postJoin sends req to the join endpoint at remote, trusting only a
// server whose CA certificate has the token's hash.
func postJoin(ctx context.Context, remote, caHash string, req joinRequest) (*joinResponse, error) {
	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below against the pinned CA
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyPinned(raw, caHash)
		},
	}
	body, _ := json.Marshal(req)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 60 * time.Second}
	defer hc.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+remote+"/v1/join", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("join address %q: %w: %w", remote, err, errdefs.ErrInvalidArgument)
	}
	hresp, err := hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("reaching the cluster's join endpoint at %s: %w: %w", remote, err, errdefs.ErrUnavailable)
	}
	defer hresp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(hresp.Body, 1<<20))
	if hresp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(b))
		switch hresp.StatusCode {
		case http.StatusForbidden:
			return nil, fmt.Errorf("join refused by %s: %s: %w", remote, msg, errdefs.ErrPermissionDenied)
		case http.StatusConflict:
			return nil, fmt.Errorf("join refused by %s: %s: %w", remote, msg, errdefs.ErrConflict)
		}
		return nil, fmt.Errorf("join refused by %s: %s", remote, msg)
	}
	var resp joinResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("join endpoint's answer: %w", err)
	}
	return &resp, nil
}

// verifyPinned checks that the presented chain ends in the CA of hash
// caHash and that the leaf is signed by it.
func verifyPinned(raw [][]byte, caHash string) error {
	if len(raw) < 2 {
		return errors.New("the join endpoint presented no CA certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	ca := certs[len(certs)-1]
	if CertHash(ca) != caHash {
		return fmt.Errorf("the join endpoint's CA (sha256 %s) is not the token's (%s): wrong address or wrong token", CertHash(ca)[:12], caHash[:12])
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

// serveJoin serves the join endpoint on the node's address. It presents
// the node certificate followed by the CA certificate (for the pin).
func (s *Service) serveJoin(st *localState) error {
	ca, certF, keyF := tlsFiles(s.tlsDir())
	// Read at each handshake: a renewed certificate (renew.go) is served
	// at once.
	load := func() (*tls.Certificate, error) {
		pair, err := tls.LoadX509KeyPair(certF, keyF)
		if err != nil {
			return nil, err
		}
		caPEM, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(caPEM)
		if blk == nil {
			return nil, errors.New("cluster CA: no PEM")
		}
		pair.Certificate = append(pair.Certificate, blk.Bytes)
		return &pair, nil
	}
	if _, err := load(); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", hostPort(st.Addr, s.opts.JoinPort))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.handleJoin),
		ReadHeaderTimeout: 10 * time.Second,
		// A joining node has no certificate yet; another node presents
		// its own (peer.go).
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return load() },
			ClientAuth:     tls.VerifyClientCertIfGiven, ClientCAs: clientCAs(caPEM)},
		ErrorLog: nil,
	}
	s.join = srv
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("join endpoint stopped", "err", err)
		}
	}()
	return nil
}

// handleJoin answers POST /v1/join.
func (s *Service) handleJoin(w http.ResponseWriter, r *http.Request) {
	if s.servePeer(w, r) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/join" {
		http.NotFound(w, r)
		return
	}
	var req joinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "bad join request: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp, code, err := s.admit(r.Context(), req)
	if err != nil {
		s.log.Warn("join refused", "from", r.RemoteAddr, "node", req.NodeID, "err", err)
		http.Error(w, err.Error(), code)
		return
	}
	s.log.Info("node joining", "node", req.NodeID, "addr", req.Addr, "etcd_member", resp.EtcdMember)
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		s.log.Warn("answering a join", "node", req.NodeID, "err", err)
	}
}

// admit checks a join request and, when it is good, signs the node's
// certificate and, while the cluster has fewer than three etcd members,
// adds the node as an etcd learner.
func (s *Service) admit(ctx context.Context, req joinRequest) (*joinResponse, int, error) {
	st, store, err := s.active()
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	kv, err := store.Client.Txn(ctx).Then(
		clientv3.OpGet(KeyJoinToken), clientv3.OpGet(KeyCAKey), clientv3.OpGet(KeyCluster), clientv3.OpGet(KeyStoreTLS),
	).Commit()
	if err != nil {
		return nil, http.StatusServiceUnavailable, storeErr(err)
	}
	get := func(i int) []byte {
		if r := kv.Responses[i].GetResponseRange(); len(r.Kvs) > 0 {
			return r.Kvs[0].Value
		}
		return nil
	}
	if !secretMatches(req.Secret, SecretHash(string(get(0)))) {
		return nil, http.StatusForbidden, errors.New("invalid join token (rotated?): get the current one with `berth cluster join-token` on a cluster node")
	}
	ip := net.ParseIP(req.Addr)
	if ip == nil || len(req.NodeID) != 24 {
		return nil, http.StatusBadRequest, errors.New("bad node ID or address")
	}
	nodes, err := store.Nodes(ctx)
	if err != nil {
		return nil, http.StatusServiceUnavailable, storeErr(err)
	}
	for _, n := range nodes {
		if n.Addr == ip.String() && n.Status == ctypes.StatusReady {
			return nil, http.StatusConflict, fmt.Errorf("node %s (%s) is ready at %s already: a node's address must be unique", n.ID, n.Hostname, n.Addr)
		}
		if n.Addr == ip.String() {
			return nil, http.StatusConflict, fmt.Errorf("node %s (%s, down) has address %s: remove it with `berth node rm %s` first", n.ID, n.Hostname, n.Addr, n.ID)
		}
	}
	var rec clusterRecord
	if err := json.Unmarshal(get(2), &rec); err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("cluster record: %w", err)
	}
	ca, err := LoadCA([]byte(rec.CACert), get(1))
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	blk, _ := pem.Decode(req.PublicKey)
	if blk == nil {
		return nil, http.StatusBadRequest, errors.New("no public key")
	}
	pk, err := x509.ParsePKIXPublicKey(blk.Bytes)
	ecpk, ok := pk.(*ecdsa.PublicKey)
	if err != nil || !ok {
		return nil, http.StatusBadRequest, errors.New("public key: ECDSA P-256 expected")
	}
	cert, err := ca.SignFor(req.NodeID, ip.String(), ecpk, s.certValidity())
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	resp := &joinResponse{ClusterID: st.ClusterID, CACert: []byte(rec.CACert), Cert: cert, Store: rec.Store}
	if rec.Store == StoreExternal {
		resp.Endpoints = st.Endpoints
		if b := get(3); b != nil {
			resp.ExternalTLS = &externalTLS{}
			if err := json.Unmarshal(b, resp.ExternalTLS); err != nil {
				return nil, http.StatusInternalServerError, err
			}
		}
		return resp, http.StatusOK, nil
	}
	ml, err := store.Client.MemberList(ctx)
	if err != nil {
		return nil, http.StatusServiceUnavailable, storeErr(err)
	}
	for _, m := range ml.Members {
		if len(m.ClientURLs) > 0 && !m.IsLearner {
			resp.Endpoints = append(resp.Endpoints, m.ClientURLs...)
		}
	}
	if len(ml.Members) >= maxMembers {
		return resp, http.StatusOK, nil
	}
	peer := "https://" + hostPort(ip.String(), s.opts.EtcdPeerPort)
	var added *clientv3.MemberAddResponse
	err = whileUnhealthy(ctx, func() (err error) {
		added, err = store.Client.MemberAddAsLearner(ctx, []string{peer})
		return err
	})
	if err != nil {
		return nil, http.StatusServiceUnavailable, fmt.Errorf("adding the node's etcd member: %w", storeErr(err))
	}
	var parts []string
	for _, m := range added.Members {
		name := m.Name
		if m.ID == added.Member.ID {
			name = req.NodeID
		}
		if name == "" {
			continue // another member added but not started yet
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	resp.EtcdMember, resp.MemberID, resp.InitialCluster = true, added.Member.ID, strings.Join(parts, ",")
	return resp, http.StatusOK, nil
}

// Leave is `berth cluster leave`: the node deletes its record and alive
// key, gives up its etcd membership and forgets the cluster. The last
// etcd member of an embedded store with other nodes left needs force (the
// store goes away with it).
func (s *Service) Leave(ctx context.Context, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil {
		if _, err := os.Stat(s.statePath()); err == nil && force {
			s.shutdown(true)
			return os.RemoveAll(s.dir)
		}
		return notInCluster()
	}
	st, store := s.st, s.Store()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	node, err := store.Node(ctx, st.NodeID)
	if err != nil && !force {
		return fmt.Errorf("%w (use --force to leave anyway)", storeErr(err))
	}
	if st.EtcdMember && !force {
		ml, err := store.Client.MemberList(ctx)
		if err != nil {
			return fmt.Errorf("%w (use --force to leave anyway)", storeErr(err))
		}
		nodes, _ := store.Nodes(ctx)
		if len(ml.Members) == 1 && len(nodes) > 1 {
			return fmt.Errorf("this node runs the cluster's only etcd member: leaving removes the store of the %d other nodes; use --force to do it anyway: %w", len(nodes)-1, errdefs.ErrFailedPrecondition)
		}
	}
	// Stop the heartbeat first (it revokes the lease: down at once).
	if s.stopBeat != nil {
		s.stopBeat()
		<-s.beatDone
		s.stopBeat = nil
	}
	if node != nil {
		if ml, err := store.Client.MemberList(ctx); err == nil && len(ml.Members) == 1 {
			node.EtcdMember = false // the last member goes with its data dir
		}
		if err := s.removeNode(ctx, store, node); err != nil && !force {
			return err
		}
	}
	if st.Store == StoreExternal {
		// The last node out clears the cluster from the external store,
		// so that a new `cluster init` can use it.
		if resp, err := store.Client.Get(ctx, PrefixNodes, clientv3.WithPrefix(), clientv3.WithCountOnly()); err == nil && resp.Count == 0 {
			if _, err := store.Client.Delete(ctx, Prefix, clientv3.WithPrefix()); err != nil {
				s.log.Warn("clearing the cluster from the external store", "err", err)
			}
		}
	}
	s.shutdown(true)
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	os.RemoveAll(s.stateDir())
	return nil
}
