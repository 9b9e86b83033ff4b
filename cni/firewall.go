package cni

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

// firewall owns berth's iptables chains. Every rule berth adds for its
// networks lives in chains named <prefix>-*; the built-in chains only get one
// jump each to them. sync rewrites berth's chains as a whole in one
// iptables-restore transaction (declaring a chain with --noflush flushes just
// that chain), so rules are never duplicated and nothing berth does not own is
// touched. Per-container port-forwarding rules belong to the portmap plugin's
// own chains (CNI-HOSTPORT-*, CNI-DN-*), added and removed by CNI ADD/DEL.
//
//	filter FORWARD     -> <P>-ISOLATION-1 (first), <P>-FORWARD
//	<P>-ISOLATION-1    internal: drop in and out; then DNAT'd (published) -> RETURN;
//	                   then -i BR ! -o BR -> <P>-ISOLATION-2 (per network)
//	<P>-ISOLATION-2    -o BR -> DROP (per network)
//	<P>-FORWARD        accept established/DNAT'd traffic to, and outbound traffic from, each bridge
//	nat POSTROUTING    -> <P>-POSTROUTING: -s SUBNET ! -o BR -> MASQUERADE (non-internal)
type firewall struct {
	mu     sync.Mutex
	prefix string
}

type fwNetwork struct {
	Bridge   string
	Subnet   string
	Internal bool
}

func (f *firewall) chain(s string) string { return f.prefix + "-" + s }

type jump struct{ table, from, to string }

func (f *firewall) jumps() []jump {
	// Listed in reverse insertion order: each is inserted at position 1.
	return []jump{
		{"filter", "FORWARD", f.chain("FORWARD")},
		{"filter", "FORWARD", f.chain("ISOLATION-1")},
		{"nat", "POSTROUTING", f.chain("POSTROUTING")},
	}
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// sync makes berth's chains hold exactly the rules for nets and makes sure
// the built-in chains jump to them once.
func (f *firewall) sync(nets []fwNetwork) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	iso1, iso2, fwd, post := f.chain("ISOLATION-1"), f.chain("ISOLATION-2"), f.chain("FORWARD"), f.chain("POSTROUTING")
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n:%s - [0:0]\n:%s - [0:0]\n", iso1, iso2, fwd)
	// Internal networks first: nothing crosses their bridge, published or not.
	for _, n := range nets {
		if n.Internal {
			fmt.Fprintf(&b, "-A %s -i %s ! -o %s -j DROP\n", iso1, n.Bridge, n.Bridge)
			fmt.Fprintf(&b, "-A %s -o %s ! -i %s -j DROP\n", iso1, n.Bridge, n.Bridge)
		}
	}
	// A published port is public: it is reachable from other networks too
	// (through a host address, DNAT'd by portmap), as from anywhere else.
	fmt.Fprintf(&b, "-A %s -m conntrack --ctstate DNAT -j RETURN\n", iso1)
	for _, n := range nets {
		if !n.Internal {
			fmt.Fprintf(&b, "-A %s -i %s ! -o %s -j %s\n", iso1, n.Bridge, n.Bridge, iso2)
			fmt.Fprintf(&b, "-A %s -o %s -j DROP\n", iso2, n.Bridge)
		}
	}
	for _, n := range nets {
		fmt.Fprintf(&b, "-A %s -i %s -o %s -j ACCEPT\n", fwd, n.Bridge, n.Bridge)
		if !n.Internal {
			fmt.Fprintf(&b, "-A %s -o %s -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n", fwd, n.Bridge)
			fmt.Fprintf(&b, "-A %s -i %s ! -o %s -j ACCEPT\n", fwd, n.Bridge, n.Bridge)
		}
	}
	fmt.Fprintf(&b, "COMMIT\n*nat\n:%s - [0:0]\n", post)
	for _, n := range nets {
		if !n.Internal {
			fmt.Fprintf(&b, "-A %s -s %s ! -o %s -j MASQUERADE\n", post, n.Subnet, n.Bridge)
		}
	}
	b.WriteString("COMMIT\n")
	cmd := exec.Command("iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, bytes.TrimSpace(out))
	}
	for _, j := range f.jumps() {
		if iptables("-t", j.table, "-C", j.from, "-j", j.to) == nil {
			continue
		}
		if err := iptables("-t", j.table, "-I", j.from, "1", "-j", j.to); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the jumps to berth's chains and the chains themselves.
func (f *firewall) remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []string
	for _, j := range f.jumps() {
		for iptables("-t", j.table, "-C", j.from, "-j", j.to) == nil {
			if err := iptables("-t", j.table, "-D", j.from, "-j", j.to); err != nil {
				errs = append(errs, err.Error())
				break
			}
		}
	}
	for _, c := range []struct{ table, chain string }{
		{"filter", f.chain("FORWARD")}, {"filter", f.chain("ISOLATION-1")},
		{"filter", f.chain("ISOLATION-2")}, {"nat", f.chain("POSTROUTING")},
	} {
		if iptables("-t", c.table, "-S", c.chain) != nil {
			continue // does not exist
		}
		if err := iptables("-t", c.table, "-F", c.chain); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, c := range []struct{ table, chain string }{
		{"filter", f.chain("FORWARD")}, {"filter", f.chain("ISOLATION-1")},
		{"filter", f.chain("ISOLATION-2")}, {"nat", f.chain("POSTROUTING")},
	} {
		if iptables("-t", c.table, "-S", c.chain) != nil {
			continue
		}
		if err := iptables("-t", c.table, "-X", c.chain); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove firewall chains: %s", strings.Join(errs, "; "))
	}
	return nil
}
