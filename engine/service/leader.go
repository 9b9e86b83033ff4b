package service

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/berthproject/berth/engine/cluster"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// LeaderTTL is the leader's lease: a leader that stops renewing it is
// replaced after at most this long (plus an election).
const LeaderTTL = 4 * time.Second

// passInterval bounds how long the leader goes without a pass (it also
// runs one on every change in the store, debounced by passDebounce).
const (
	passInterval = 2 * time.Second
	passDebounce = 20 * time.Millisecond
)

// campaign runs this node's leader candidate until ctx is done: it joins
// the election on its own lease, leads while it holds it, and stands
// again when it loses it.
func (s *Service) campaign(ctx context.Context, st *cluster.Store) {
	for ctx.Err() == nil {
		err := s.campaignOnce(ctx, st)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Debug("service leader candidate", "err", err)
		}
		sleepCtx(ctx, time.Second)
	}
}

func (s *Service) campaignOnce(ctx context.Context, st *cluster.Store) error {
	gctx, cancel := context.WithTimeout(ctx, storeTimeout)
	lease, err := st.Client.Grant(gctx, int64(LeaderTTL/time.Second))
	cancel()
	if err != nil {
		return err
	}
	// Our own keepalive, to know when the last renewal was: the leader
	// stops acting before the lease can have expired in etcd.
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	ka, err := st.Client.KeepAlive(kctx, lease.ID)
	if err != nil {
		return err
	}
	sess, err := concurrency.NewSession(st.Client, concurrency.WithLease(lease.ID), concurrency.WithContext(kctx))
	if err != nil {
		return err
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = st.Client.Revoke(rctx, lease.ID)
		rcancel()
	}()
	renewed := make(chan time.Time, 1)
	lost := make(chan struct{})
	go func() {
		defer close(lost)
		for r := range ka {
			if r == nil {
				return
			}
			select {
			case renewed <- time.Now():
			default:
				select {
				case <-renewed:
				default:
				}
				renewed <- time.Now()
			}
		}
	}()
	el := concurrency.NewElection(sess, cluster.KeyServiceElection)
	if err := el.Campaign(kctx, st.NodeID); err != nil {
		return err
	}
	// Leading. The fence: every write also checks our election key.
	guard := clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())
	lctx, lcancel := context.WithCancel(kctx)
	defer lcancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.lead(lctx, st, guard)
	}()
	s.setLeader(true)
	defer s.setLeader(false)
	s.log.Info("this node leads the services", "node", st.NodeID)
	last := time.Now()
	// Step down once two thirds of the TTL went by without a renewal:
	// etcd cannot have expired the lease yet, so no other leader acts.
	limit := LeaderTTL * 2 / 3
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case last = <-renewed:
			t.Reset(time.Until(last.Add(limit)))
		case <-t.C:
			lcancel()
			<-done
			s.log.Warn("service leader: lease not renewed in time, stepping down", "since", time.Since(last).Round(time.Millisecond))
			return errors.New("lease not renewed")
		case <-lost:
			lcancel()
			<-done
			return errors.New("lease lost")
		case <-sess.Done():
			lcancel()
			<-done
			return errors.New("session done")
		case <-done:
			return nil
		case <-ctx.Done():
			lcancel()
			<-done
			return nil
		}
	}
}

func (s *Service) setLeader(v bool) {
	s.mu.Lock()
	s.leading = v
	s.mu.Unlock()
}

// IsLeader reports whether this node leads the services now.
func (s *Service) IsLeader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leading
}

// lead reconciles until ctx is done: a pass on every change in the store
// (services, tasks, nodes, liveness) and at least every passInterval.
func (s *Service) lead(ctx context.Context, st *cluster.Store, guard clientv3.Cmp) {
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	for _, prefix := range []string{cluster.PrefixServices, cluster.PrefixTasks, cluster.PrefixNodes, cluster.PrefixAlive} {
		wch := st.Client.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix())
		go func() {
			for range wch {
				poke()
			}
		}()
	}
	upd := map[string]*updateState{}
	r := records{c: st.Client}
	for ctx.Err() == nil {
		wake := s.pass(ctx, r, st, guard, upd)
		d := passInterval
		if !wake.IsZero() {
			if w := time.Until(wake); w < d {
				d = max(w, 10*time.Millisecond)
			}
		}
		t := time.NewTimer(d)
		select {
		case <-kick:
			sleepCtx(ctx, passDebounce)
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// pass reads the store, reconciles and writes the plan; it returns when
// the next pass is due at the latest.
func (s *Service) pass(ctx context.Context, r records, st *cluster.Store, guard clientv3.Cmp, upd map[string]*updateState) time.Time {
	pctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	svcs, _, err := r.services(pctx)
	if err != nil {
		return time.Time{}
	}
	tasks, _, err := r.tasks(pctx, "")
	if err != nil {
		return time.Time{}
	}
	nodes, err := st.Nodes(pctx)
	if err != nil {
		return time.Time{}
	}
	p := reconcile(snapshot{services: svcs, tasks: tasks, nodes: nodes, now: time.Now().UTC()}, upd)
	if err := s.apply(pctx, r, st, guard, p); err != nil {
		if errors.Is(err, errNotLeader) {
			return time.Time{}
		}
		s.log.Debug("service leader: applying a pass", "err", err)
		return time.Now().Add(200 * time.Millisecond)
	}
	return p.wake
}

// apply writes a plan, each record with a compare on its revision (or
// its absence) and on the leader's election key, in transactions of up
// to txnBatch records. A transaction that fails on a record changed
// meanwhile is tried again record by record; the changed one is skipped
// (the next pass sees it). A service whose spec the plan changed (an
// automatic rollback) gets the endpoint of that spec in the same
// transaction: its published ports, and its VIPs on the networks it has
// again (those of the networks it left are given back).
func (s *Service) apply(ctx context.Context, r records, st *cluster.Store, guard clientv3.Cmp, p *plan) error {
	type write struct {
		cmps []clientv3.Cmp
		op   clientv3.Op
		more []clientv3.Op
	}
	var ws []write
	for _, svc := range p.services {
		key := cluster.ServiceKey(svc.ID)
		c := *svc
		c.ServiceStatus = nil
		w := write{cmps: []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", int64(svc.Version.Index))}}
		if endpointStale(&c) && st != nil {
			ecmps, eops, err := endpointOps(ctx, r, st, &c, svc.Endpoint)
			switch {
			case err == nil:
				w.cmps, w.more = append(w.cmps, ecmps...), eops
			case svc.PreviousSpec != nil && svc.UpdateStatus != nil && svc.UpdateStatus.State == stypes.UpdateStateRollbackStarted:
				// The spec to roll back to cannot have its endpoint (its
				// port was taken meanwhile, its network is gone): the
				// update pauses on the spec it had, saying why.
				c = *svc
				c.ServiceStatus = nil
				c.Spec, c.PreviousSpec = *svc.PreviousSpec, &svc.Spec
				c.UpdateStatus = &stypes.UpdateStatus{State: stypes.UpdateStatePaused, StartedAt: svc.UpdateStatus.StartedAt,
					Message: "update paused: it failed, and rolling back cannot: " + err.Error()}
			default:
				s.log.Warn("service leader: the service's endpoint does not match its spec", "service", svc.Spec.Name, "err", err)
			}
		}
		w.op = clientv3.OpPut(key, encode(c))
		ws = append(ws, w)
	}
	for _, t := range p.update {
		key := cluster.TaskKey(t.ServiceID, t.ID)
		ws = append(ws, write{cmps: []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", int64(t.Version.Index))}, op: clientv3.OpPut(key, encode(t))})
	}
	for _, t := range p.create {
		key := cluster.TaskKey(t.ServiceID, t.ID)
		// A service removed meanwhile gets no task.
		ws = append(ws, write{cmps: []clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(cluster.ServiceKey(t.ServiceID)), ">", 0),
		}, op: clientv3.OpPut(key, encode(t))})
	}
	for _, t := range p.remove {
		key := cluster.TaskKey(t.ServiceID, t.ID)
		ws = append(ws, write{cmps: []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", int64(t.Version.Index))}, op: clientv3.OpDelete(key)})
	}
	commit := func(batch []write) (bool, error) {
		cmps := []clientv3.Cmp{guard}
		ops := make([]clientv3.Op, 0, len(batch))
		for _, w := range batch {
			cmps = append(cmps, w.cmps...)
			ops = append(append(ops, w.op), w.more...)
		}
		resp, err := r.c.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return false, err
		}
		if resp.Succeeded {
			return true, nil
		}
		g, err := r.c.Txn(ctx).If(guard).Commit()
		if err != nil {
			return false, err
		}
		if !g.Succeeded {
			return false, errNotLeader
		}
		return false, nil
	}
	for len(ws) > 0 {
		// Up to txnBatch records, and within etcd's limits of compares
		// and operations per transaction.
		n, nc, no := 0, 1, 0
		for n < min(len(ws), txnBatch) && (n == 0 || nc+len(ws[n].cmps) <= txnLimit && no+1+len(ws[n].more) <= txnLimit) {
			nc, no = nc+len(ws[n].cmps), no+1+len(ws[n].more)
			n++
		}
		batch := ws[:n]
		ws = ws[n:]
		ok, err := commit(batch)
		if err != nil {
			return err
		}
		if ok || len(batch) == 1 {
			continue
		}
		for _, w := range batch {
			if _, err := commit([]write{w}); err != nil {
				return err
			}
		}
	}
	return nil
}

// txnBatch is how many records one transaction of the leader writes
// (etcd allows 128 operations and 128 compares per transaction).
const txnBatch = 60

// txnLimit bounds the compares and the operations of one transaction
// (etcd's --max-txn-ops, 128 by default).
const txnLimit = 120

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
