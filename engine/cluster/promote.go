package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// KeyPromoting is held (on a lease) by the store client that is becoming
// an etcd member, so that one client at a time is promoted.
const KeyPromoting = Prefix + "cluster/promoting"

// promoteEvery is how often a store client checks whether the store lacks
// a member.
const promoteEvery = 2 * time.Second

// promoter runs on a store client of an embedded store: when the store has
// fewer than three members (one left with `cluster leave` or was removed
// with `node rm`), a ready client takes the KeyPromoting lock and becomes
// a member: added as a learner, its own member started, promoted once in
// sync, as a joining node's. Only one client is promoted at a time; the
// others see three members again and stay clients.
func (s *Service) promoter(ctx context.Context, store *Store, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		sleepCtx(ctx, promoteEvery)
		if ctx.Err() != nil {
			return
		}
		if !s.wantsMember(ctx, store) {
			continue
		}
		// The service's lock, without waiting: init, join, leave and
		// shutdown hold it (shutdown waits for this goroutine).
		if !s.mu.TryLock() {
			continue
		}
		st := s.st
		if st == nil || st.EtcdMember || st.Store != StoreEmbedded {
			s.mu.Unlock()
			return
		}
		err := s.becomeMember(ctx, store, st)
		s.mu.Unlock()
		if err != nil {
			s.log.Warn("becoming an etcd member", "err", err)
			continue
		}
		return // a member now: nothing left to do
	}
}

// wantsMember: the store has fewer than three members and this node is
// ready (its heartbeat is in).
func (s *Service) wantsMember(ctx context.Context, store *Store) bool {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ml, err := store.Client.MemberList(cctx)
	if err != nil || len(ml.Members) >= maxMembers {
		return false
	}
	alive, err := store.Client.Get(cctx, AliveKey(store.NodeID), clientv3.WithCountOnly())
	return err == nil && alive.Count > 0
}

// becomeMember turns this store client into an etcd member. On failure it
// undoes what it did (learner removed, member stopped, data dir removed).
func (s *Service) becomeMember(ctx context.Context, store *Store, st *localState) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cl := store.Client
	g, err := cl.Grant(ctx, 60)
	if err != nil {
		return storeErr(err)
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = cl.Revoke(rctx, g.ID) // releases the lock; it expires anyway
		rcancel()
	}()
	lock, err := cl.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(KeyPromoting), "=", 0)).
		Then(clientv3.OpPut(KeyPromoting, st.NodeID, clientv3.WithLease(g.ID))).Commit()
	if err != nil {
		return storeErr(err)
	}
	if !lock.Succeeded {
		return nil // another client is being promoted
	}
	ml, err := cl.MemberList(ctx)
	if err != nil {
		return storeErr(err)
	}
	if len(ml.Members) >= maxMembers {
		return nil
	}
	bin, err := lookBin(s.opts.BinDirs, EtcdBinary)
	if err != nil {
		return err
	}
	peer := "https://" + hostPort(st.Addr, s.opts.EtcdPeerPort)
	var added *clientv3.MemberAddResponse
	if err := whileUnhealthy(ctx, func() (err error) {
		added, err = cl.MemberAddAsLearner(ctx, []string{peer})
		return err
	}); err != nil {
		return fmt.Errorf("adding this node's etcd learner: %w", storeErr(err))
	}
	var parts []string
	for _, m := range added.Members {
		name := m.Name
		if m.ID == added.Member.ID {
			name = st.NodeID
		}
		if name == "" {
			continue
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	next := *st
	next.EtcdMember, next.InitialCluster, next.InitialState = true, strings.Join(parts, ","), "existing"
	dataDir := filepath.Join(s.dir, "etcd")
	undo := func(err error) error {
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer rcancel()
		if _, rerr := cl.MemberRemove(rctx, added.Member.ID); rerr != nil {
			s.log.Warn("removing this node's etcd learner after a failed promotion", "err", rerr)
		}
		if s.etcd != nil {
			if serr := s.etcd.Stop(rctx); serr != nil {
				s.log.Warn("stopping the etcd member", "err", serr)
			}
			s.etcd = nil
		}
		os.RemoveAll(dataDir)
		return err
	}
	os.RemoveAll(dataDir) // a client keeps none; an old one would be another member's
	p, err := s.member(&next, bin).start(ctx, s.opts.Logger)
	if err != nil {
		return undo(err)
	}
	s.etcd = p
	if err := promote(ctx, cl, added.Member.ID); err != nil {
		return undo(err)
	}
	local := "https://" + hostPort("127.0.0.1", s.opts.EtcdClientPort)
	next.Endpoints = append(next.Endpoints, local)
	cl.SetEndpoints(append(cl.Endpoints(), local)...)
	n, err := store.Node(ctx, st.NodeID)
	if err != nil {
		return undo(fmt.Errorf("reading this node's record: %w", storeErr(err)))
	}
	if n == nil {
		return undo(fmt.Errorf("node %s has no record in the cluster (removed with `berth node rm`?)", st.NodeID))
	}
	n.EtcdMember, n.EtcdMemberID, n.UpdatedAt = true, added.Member.ID, time.Now().UTC()
	if err := store.PutNode(ctx, *n); err != nil {
		return undo(storeErr(err))
	}
	if err := writeState(s.statePath(), &next); err != nil {
		return undo(err)
	}
	*st = next
	s.log.Info("this store client is now an etcd member", "node", st.NodeID, "member", fmt.Sprintf("%x", added.Member.ID))
	return nil
}
