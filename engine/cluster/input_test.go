package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestParseStore(t *testing.T) {
	eps, err := parseStore("etcd://10.0.0.1:2379,etcd-b:2379")
	if err != nil || len(eps) != 2 || eps[1] != "etcd-b:2379" {
		t.Fatalf("%v %v", eps, err)
	}
	for _, bad := range []string{"", "etcd://", "http://a:2379", "etcd://a", "etcd://a:2379,b"} {
		if _, err := parseStore(bad); err == nil || !strings.Contains(err.Error(), "--cluster-store") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestAdvertiseAddr(t *testing.T) {
	for _, bad := range []string{"127.0.0.1", "0.0.0.0", "host1", "::"} {
		if _, err := advertiseAddr(bad, ""); err == nil || !strings.Contains(err.Error(), "--advertise-addr") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if a, err := advertiseAddr("10.0.0.7", ""); err != nil || a != "10.0.0.7" {
		t.Errorf("%q %v", a, err)
	}
}

// The lease TTL keeps the bound: one second under it, never under etcd's
// minimum of 2 s.
func TestLeaseTTL(t *testing.T) {
	for bound, want := range map[time.Duration]int64{5 * time.Second: 4, 2 * time.Second: 2, 30 * time.Second: 29} {
		s := &Service{opts: Options{NodeTimeout: bound}}
		if got := s.leaseTTL(); got != want {
			t.Errorf("bound %s: ttl %d, want %d", bound, got, want)
		}
	}
}
