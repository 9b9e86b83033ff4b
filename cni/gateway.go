// The default gateway of a container on several networks: one endpoint
// gives the default route of each address family, chosen as Docker's
// libnetwork does (Endpoint.Less, selectGatewayEndpoint), and berth sets
// that route itself after every CNI ADD and DEL of the container.

package cni

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// gatewayOrder sorts endpoints as libnetwork does, better candidates for
// the default gateway first: higher GwPriority, then not internal, then
// more gateways (IPv4 and IPv6 before one of them before none), then the
// network's name.
func gatewayOrder(a, b *Endpoint) int {
	if a.GwPriority != b.GwPriority {
		if a.GwPriority > b.GwPriority {
			return -1
		}
		return 1
	}
	if a.DefaultRoute != b.DefaultRoute {
		if a.DefaultRoute {
			return -1
		}
		return 1
	}
	if ga, gb := a.gatewayCount(), b.gatewayCount(); ga != gb {
		return gb - ga
	}
	switch {
	case a.Network < b.Network:
		return -1
	case a.Network > b.Network:
		return 1
	}
	return 0
}

// gateways reports which address families the endpoint routes outside
// traffic for (an internal network's endpoint: none).
func (ep *Endpoint) gateways() (v4, v6 bool) {
	if !ep.DefaultRoute {
		return false, false
	}
	return ep.Gateway.IsValid(), ep.Gateway6.IsValid()
}

func (ep *Endpoint) gatewayCount() int {
	v4, v6 := ep.gateways()
	n := 0
	if v4 {
		n++
	}
	if v6 {
		n++
	}
	return n
}

// GatewayEndpoints returns the endpoints that give the container its IPv4
// and IPv6 default routes (nil: none for that family). As in libnetwork,
// the first dual-stack endpoint in gatewayOrder takes both families;
// otherwise each family goes to the first endpoint that has it.
func GatewayEndpoints(eps []Endpoint) (ep4, ep6 *Endpoint) {
	order := make([]*Endpoint, len(eps))
	for i := range eps {
		order[i] = &eps[i]
	}
	slices.SortStableFunc(order, gatewayOrder)
	for _, ep := range order {
		v4, v6 := ep.gateways()
		if v4 && v6 {
			return ep, ep
		}
		if v4 && ep4 == nil {
			ep4 = ep
		}
		if v6 && ep6 == nil {
			ep6 = ep
		}
	}
	return ep4, ep6
}

// syncDefaultRoutes makes the container's default routes the ones of
// GatewayEndpoints: any other default route goes (one a plugin added, one
// of an endpoint that lost its place), the chosen one is added if missing.
// The caller holds the container's lock.
func (m *Manager) syncDefaultRoutes(live *Sandbox) error {
	m.mu.Lock()
	sb := live.clone()
	m.mu.Unlock()
	if sb.Mode != ModeNetwork || sb.NetNSPath == "" {
		return nil
	}
	ns, err := vnetns.GetFromPath(sb.NetNSPath)
	if err != nil {
		return fmt.Errorf("default route of container %s: %w", shortID(sb.ContainerID), err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("default route of container %s: %w", shortID(sb.ContainerID), err)
	}
	defer h.Close()
	ep4, ep6 := GatewayEndpoints(sb.Endpoints)
	var errs []error
	if ep4 != nil {
		errs = append(errs, setDefaultRoute(h, unix.AF_INET, ep4.IfName, ep4.Gateway))
	} else {
		errs = append(errs, setDefaultRoute(h, unix.AF_INET, "", netip.Addr{}))
	}
	if ep6 != nil {
		errs = append(errs, setDefaultRoute(h, unix.AF_INET6, ep6.IfName, ep6.Gateway6))
	} else {
		errs = append(errs, setDefaultRoute(h, unix.AF_INET6, "", netip.Addr{}))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("default route of container %s: %w", shortID(sb.ContainerID), err)
	}
	return nil
}

// setDefaultRoute leaves exactly one default route of family in the main
// table, via gw on ifName; with ifName "" none.
func setDefaultRoute(h *netlink.Handle, family int, ifName string, gw netip.Addr) error {
	linkIndex := 0
	if ifName != "" {
		l, err := h.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("interface %s: %w", ifName, err)
		}
		linkIndex = l.Attrs().Index
	}
	routes, err := h.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return err
	}
	have := false
	for _, r := range routes {
		if !isDefaultDst(r.Dst) || r.Type != unix.RTN_UNICAST {
			continue
		}
		if linkIndex != 0 && !have && len(r.MultiPath) == 0 && r.LinkIndex == linkIndex && gw.Compare(addrOf(r.Gw)) == 0 {
			have = true
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete default route %s: %w", r, err)
		}
	}
	if linkIndex == 0 || have {
		return nil
	}
	r := &netlink.Route{LinkIndex: linkIndex, Gw: gw.AsSlice(), Table: unix.RT_TABLE_MAIN}
	if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("default route via %s dev %s: %w", gw, ifName, err)
	}
	return nil
}

func isDefaultDst(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0 && dst.IP.IsUnspecified()
}

func addrOf(ip net.IP) netip.Addr {
	if ip4 := ip.To4(); ip4 != nil {
		a, _ := netip.AddrFromSlice(ip4)
		return a
	}
	a, _ := netip.AddrFromSlice(ip)
	return a
}
