package dns

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func query(t *testing.T, proto, server, name string) (dnsmessage.RCode, []netip.Addr) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name + "."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, _ := b.Finish()
	c, err := net.DialTimeout(proto, server, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var resp []byte
	if proto == "tcp" {
		if err := writeTCPMsg(c, msg); err != nil {
			t.Fatal(err)
		}
		if resp, err = readTCPMsg(c); err != nil {
			t.Fatal(err)
		}
	} else {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		resp = buf[:n]
	}
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		t.Fatal(err)
	}
	if m.ID != 4242 {
		t.Fatalf("id %d", m.ID)
	}
	var ips []netip.Addr
	for _, a := range m.Answers {
		if r, ok := a.Body.(*dnsmessage.AResource); ok {
			ips = append(ips, netip.AddrFrom4(r.A))
		}
	}
	return m.RCode, ips
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Records answer only askers inside the network's subnet; renames and
// unregistration apply at once; other names go upstream (over UDP and TCP).
func TestServer(t *testing.T) {
	port := freePort(t)
	// An "upstream" that is itself a Server with one record, reached by
	// the first server's forwarder.
	upPort := freePort(t)
	upstream, _ := New(Config{Upstreams: []string{"127.0.0.1:1"}, Port: upPort})
	defer upstream.Close()
	if err := upstream.AddNetwork(Network{Name: "u", Listen: netip.MustParseAddr("127.0.0.3"), Subnet: netip.MustParsePrefix("127.0.0.0/8"), ResolveNames: true}); err != nil {
		t.Fatal(err)
	}
	upstream.Register("u", "x", netip.MustParseAddr("198.51.100.1"), []string{"outside.example"}, nil)

	s, err := New(Config{Upstreams: []string{"127.0.0.3:" + itoa(upPort)}, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddNetwork(Network{Name: "mine", Listen: netip.MustParseAddr("127.0.0.2"), Subnet: netip.MustParsePrefix("127.0.0.0/8"), ResolveNames: true, Forward: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNetwork(Network{Name: "far", Listen: netip.MustParseAddr("127.0.0.4"), Subnet: netip.MustParsePrefix("10.99.0.0/24"), ResolveNames: true}); err != nil {
		t.Fatal(err)
	}
	s.Register("mine", "c1", netip.MustParseAddr("10.1.0.2"), []string{"Web", "alias"}, nil)
	s.Register("far", "c2", netip.MustParseAddr("10.99.0.2"), []string{"farweb"}, nil)
	addr := "127.0.0.2:" + itoa(port)
	for _, proto := range []string{"udp", "tcp"} {
		if rc, ips := query(t, proto, addr, "web"); rc != dnsmessage.RCodeSuccess || !slices.Equal(ips, []netip.Addr{netip.MustParseAddr("10.1.0.2")}) {
			t.Fatalf("%s web: %v %v", proto, rc, ips)
		}
		if rc, ips := query(t, proto, addr, "web.mine"); rc != dnsmessage.RCodeSuccess || len(ips) != 1 {
			t.Fatalf("%s web.mine: %v %v", proto, rc, ips)
		}
		if rc, ips := query(t, proto, addr, "outside.example"); rc != dnsmessage.RCodeSuccess || len(ips) != 1 || ips[0].String() != "198.51.100.1" {
			t.Fatalf("%s forwarded: %v %v", proto, rc, ips)
		}
	}
	// The asker (127.0.0.1) is outside far's subnet: no records, no forwarding.
	if rc, ips := query(t, "udp", "127.0.0.4:"+itoa(port), "farweb"); rc != dnsmessage.RCodeRefused || len(ips) != 0 {
		t.Fatalf("farweb from outside: %v %v", rc, ips)
	}
	s.Rename("c1", "web", "web2")
	if _, ips := query(t, "udp", addr, "web2"); len(ips) != 1 {
		t.Fatalf("web2 after rename: %v", ips)
	}
	if got := s.Lookup("mine", "web"); len(got) != 0 {
		t.Fatalf("web after rename: %v", got)
	}
	s.Unregister("", "c1")
	if got := s.Lookup("mine", "alias"); len(got) != 0 {
		t.Fatalf("alias after unregister: %v", got)
	}
	if rc, _ := query(t, "udp", addr, "alias"); rc == dnsmessage.RCodeSuccess {
		t.Fatal("alias still answered")
	}
}

func TestHostNameservers(t *testing.T) {
	p := t.TempDir() + "/resolv.conf"
	if err := writeFile(p, "# c\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nsearch a b\n"); err != nil {
		t.Fatal(err)
	}
	ns, err := HostNameservers(p)
	if err != nil || strings.Join(ns, ",") != "127.0.0.53,fe80::1" {
		t.Fatalf("%v %v", ns, err)
	}
}
