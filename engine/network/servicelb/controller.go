package servicelb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/cni"
	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/network/overlay"
	networktypes "github.com/berthproject/berth/pkg/types/network"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// Options configure a Controller.
type Options struct {
	Logger  *slog.Logger
	Overlay *overlay.Service
	Manager *cni.Manager
}

// Controller applies Compute on one node: it watches the services and
// tasks in the cluster store, and after each change (and every
// checkInterval, to repair what was changed under it: a flushed ruleset,
// a re-created bridge) makes the node's rules, bridge addresses, DNS
// records and load-balancer addresses those Compute gives.
type Controller struct {
	opts Options
	h    *netlink.Handle

	switchMu sync.Mutex
	mu       sync.Mutex
	gen      uint64
	stop     context.CancelFunc
	stopped  chan struct{}

	// Applied state (touched by the session goroutine only).
	dns    map[string]Record
	rules  string // fingerprint of the rules last written
	pinned map[int]bool
	lbs    map[string]netip.Addr
}

// checkInterval is how often the node checks its rules are still there.
const checkInterval = 2 * time.Second

// New returns the load balancer of this node (working in the current
// network namespace).
func New(opts Options) (*Controller, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	return &Controller{opts: opts, h: h, dns: map[string]Record{}, pinned: map[int]bool{}, lbs: map[string]netip.Addr{}}, nil
}

// SetStore starts the controller on the cluster store st, or (st nil:
// the node left the cluster) stops it and removes every rule, address
// and record it made. It does not block; the last call wins.
func (c *Controller) SetStore(st *cluster.Store) {
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	go c.switchStore(gen, st, st == nil)
}

// Close stops the controller (berthd stops): the rules stay, so the
// node keeps balancing until the next berthd rebuilds them from the
// store.
func (c *Controller) Close() {
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	c.switchStore(gen, nil, false)
	c.h.Close()
}

func (c *Controller) switchStore(gen uint64, st *cluster.Store, clear bool) {
	c.switchMu.Lock()
	defer c.switchMu.Unlock()
	c.mu.Lock()
	if gen != c.gen {
		c.mu.Unlock()
		return
	}
	stop, stopped := c.stop, c.stopped
	c.stop, c.stopped = nil, nil
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-stopped
	}
	if clear {
		c.clear()
	}
	if st == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.mu.Lock()
	c.stop, c.stopped = cancel, done
	c.mu.Unlock()
	go func() {
		defer close(done)
		c.run(ctx, st)
	}()
}

// run is the controller's life on one store: read, watch, apply, until
// ctx ends. A broken watch starts over from a new read.
func (c *Controller) run(ctx context.Context, st *cluster.Store) {
	for ctx.Err() == nil {
		err := c.session(ctx, st)
		if ctx.Err() != nil {
			return
		}
		c.opts.Logger.Warn("service load balancer restarts", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// state is the records a session holds, by key.
type state struct {
	services map[string]*stypes.Service
	tasks    map[string]*stypes.Task
}

func (s *state) input(self string) Input {
	in := Input{Self: self}
	for _, v := range s.services {
		in.Services = append(in.Services, v)
	}
	for _, t := range s.tasks {
		in.Tasks = append(in.Tasks, t)
	}
	return in
}

func (s *state) put(key string, val []byte) {
	switch {
	case strings.HasPrefix(key, cluster.PrefixServices):
		var v stypes.Service
		if json.Unmarshal(val, &v) == nil {
			s.services[key] = &v
		}
	case strings.HasPrefix(key, cluster.PrefixTasks):
		var t stypes.Task
		if json.Unmarshal(val, &t) == nil {
			s.tasks[key] = &t
		}
	}
}

func (s *state) del(key string) {
	delete(s.services, key)
	delete(s.tasks, key)
}

func (c *Controller) session(ctx context.Context, st *cluster.Store) error {
	cl := st.Client
	s := &state{services: map[string]*stypes.Service{}, tasks: map[string]*stypes.Task{}}
	resp, err := cl.Get(ctx, cluster.PrefixServices, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	rev := resp.Header.Revision
	for _, kv := range resp.Kvs {
		s.put(string(kv.Key), kv.Value)
	}
	tr, err := cl.Get(ctx, cluster.PrefixTasks, clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return err
	}
	for _, kv := range tr.Kvs {
		s.put(string(kv.Key), kv.Value)
	}
	c.apply(ctx, st.NodeID, s, true)

	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wsvc := cl.Watch(wctx, cluster.PrefixServices, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	wtask := cl.Watch(wctx, cluster.PrefixTasks, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	wnet := cl.Watch(wctx, cluster.PrefixNetworks, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	tick := time.NewTicker(checkInterval)
	defer tick.Stop()
	// Changes come in bursts (a service's tasks): apply once the burst
	// is read.
	var settle <-chan time.Time
	handle := func(wr clientv3.WatchResponse, ok bool) error {
		if !ok {
			return errors.New("watch closed")
		}
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				s.del(string(ev.Kv.Key))
			} else {
				s.put(string(ev.Kv.Key), ev.Kv.Value)
			}
		}
		if settle == nil {
			settle = time.After(20 * time.Millisecond)
		}
		return nil
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok := <-wsvc:
			err = handle(wr, ok)
		case wr, ok := <-wtask:
			err = handle(wr, ok)
		case wr, ok := <-wnet:
			// A network realised or removed here: the overlay's own
			// watcher does it, so look a little later too.
			err = handle(wr, ok)
		case <-settle:
			settle = nil
			c.apply(ctx, st.NodeID, s, false)
		case <-tick.C:
			c.apply(ctx, st.NodeID, s, false)
		}
		if err != nil {
			return err
		}
	}
}

// localBridges are the overlay networks realised here.
func (c *Controller) localBridges(ctx context.Context) map[string]string {
	out := map[string]string{}
	if c.opts.Manager == nil {
		return out
	}
	nets, err := c.opts.Manager.List(ctx)
	if err != nil {
		return out
	}
	for _, n := range nets {
		if n.Driver == networktypes.DriverOverlay && n.Interface != "" {
			if _, err := c.h.LinkByName(n.Interface); err == nil {
				out[n.Name] = n.Interface
			}
		}
	}
	return out
}

// apply makes the node match the records in s (force: write the rules
// even if they look unchanged).
func (c *Controller) apply(ctx context.Context, self string, s *state, force bool) {
	log := c.opts.Logger
	in := s.input(self)
	in.Bridges = c.localBridges(ctx)
	in.LB = c.lbs
	d := Compute(in)

	// Load-balancer addresses: one per network this node balances on.
	for n := range d.NeedLB {
		br := in.Bridges[n]
		mac, err := c.bridgeMAC(br)
		if err == nil {
			var lb netip.Addr
			lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			lb, err = c.opts.Overlay.EnsureLB(lctx, n, mac)
			cancel()
			if err == nil {
				c.lbs[n] = lb
			}
		}
		if err != nil {
			log.Warn("service load balancer: no load-balancer address", "network", n, "error", err)
		}
	}
	for n := range c.lbs {
		if !d.NeedLB[n] {
			if err := c.opts.Overlay.ReleaseLB(ctx, n); err != nil {
				log.Warn("service load balancer: release the load-balancer address", "network", n, "error", err)
			}
			delete(c.lbs, n)
		}
	}
	in.LB = c.lbs
	d = Compute(in)

	c.syncAddrs(in.Bridges, d.Addrs)
	fp := fmt.Sprintf("%+v", d.Rules)
	if !force && fp == c.rules && len(in.Services) > 0 {
		// (With no service there is nothing to repair: an idle node only
		// reads its networks at each check.)
		if ok, err := c.opts.Manager.ServiceRulesPresent(); err == nil && !ok {
			log.Warn("service load balancer: the rules were gone (a flushed ruleset?): written again")
			force = true
		}
	}
	if force || fp != c.rules {
		conflicts, err := c.opts.Manager.SetServiceRules(d.Rules)
		for _, cerr := range conflicts {
			log.Warn("service load balancer: published port", "error", cerr)
		}
		if err != nil {
			log.Warn("service load balancer: rules", "error", err)
			c.rules = "" // try again at the next check
		} else {
			c.rules = fp
		}
	}
	c.syncDNS(d.DNS)
}

// bridgeMAC returns a bridge's MAC address, pinned the first time (a
// bridge's MAC otherwise follows its ports', and the other nodes send
// the replies to this node's load-balancer address to it).
func (c *Controller) bridgeMAC(br string) (string, error) {
	l, err := c.h.LinkByName(br)
	if err != nil {
		return "", err
	}
	if !c.pinned[l.Attrs().Index] {
		if err := c.h.LinkSetHardwareAddr(l, l.Attrs().HardwareAddr); err != nil {
			return "", fmt.Errorf("pin the MAC address of %s: %w", br, err)
		}
		c.pinned[l.Attrs().Index] = true
	}
	return l.Attrs().HardwareAddr.String(), nil
}

// syncAddrs makes the /32 addresses of each overlay bridge want's.
func (c *Controller) syncAddrs(bridges map[string]string, want map[string][]netip.Addr) {
	for _, br := range bridges {
		l, err := c.h.LinkByName(br)
		if err != nil {
			continue
		}
		have, err := c.h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		got := map[netip.Addr]bool{}
		for _, a := range have {
			ones, _ := a.Mask.Size()
			ip, ok := netip.AddrFromSlice(a.IP.To4())
			if !ok || ones != 32 {
				continue
			}
			if slices.Contains(want[br], ip) {
				got[ip] = true
				continue
			}
			if err := c.h.AddrDel(l, &a); err != nil {
				c.opts.Logger.Warn("service load balancer: remove an address", "bridge", br, "address", ip, "error", err)
			}
		}
		for _, ip := range want[br] {
			if got[ip] {
				continue
			}
			a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}
			if err := c.h.AddrAdd(l, a); err != nil {
				c.opts.Logger.Warn("service load balancer: add an address", "bridge", br, "address", ip, "error", err)
			}
		}
	}
}

// syncDNS makes the DNS records of services want's.
func (c *Controller) syncDNS(want map[string]Record) {
	srv := c.opts.Manager.DNS()
	for k, r := range c.dns {
		if w, ok := want[k]; ok && w.IP == r.IP && slices.Equal(w.Names, r.Names) {
			continue
		}
		srv.Unregister(r.Network, r.ID)
		delete(c.dns, k)
	}
	for k, r := range want {
		if _, ok := c.dns[k]; ok {
			continue
		}
		srv.Register(r.Network, r.ID, r.IP, r.Names, nil)
		c.dns[k] = r
	}
}

// clear removes everything the controller made (the node left the
// cluster).
func (c *Controller) clear() {
	if _, err := c.opts.Manager.SetServiceRules(cni.ServiceRules{}); err != nil {
		c.opts.Logger.Warn("service load balancer: remove the rules", "error", err)
	}
	c.rules = ""
	c.syncDNS(nil)
	c.syncAddrs(c.localBridges(context.Background()), nil)
	c.lbs = map[string]netip.Addr{}
}
