package cni

import (
	"net"
	"net/netip"
)

func netipPrefix(ip net.IP, mask net.IPMask) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := mask.Size()
	if bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

func addrToU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func u32ToAddr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// netipPrefix6 is netipPrefix for an IPv6 address (not IPv4-mapped).
func netipPrefix6(ip net.IP, mask net.IPMask) (netip.Prefix, bool) {
	if ip.To4() != nil || len(ip) != net.IPv6len {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	ones, bits := mask.Size()
	if !ok || bits != 128 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}
