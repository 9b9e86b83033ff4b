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
	return queryType(t, proto, server, name, dnsmessage.TypeA)
}

// queryType asks server for name's records of type typ and returns the
// rcode and the addresses of the A and AAAA answers.
func queryType(t *testing.T, proto, server, name string, typ dnsmessage.Type) (dnsmessage.RCode, []netip.Addr) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name + "."), Type: typ, Class: dnsmessage.ClassINET})
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
		switch r := a.Body.(type) {
		case *dnsmessage.AResource:
			ips = append(ips, netip.AddrFrom4(r.A))
		case *dnsmessage.AAAAResource:
			ips = append(ips, netip.AddrFrom16(r.AAAA))
		}
	}
	return m.RCode, ips
}

// TestAAAA: a container on a dual-stack network answers A with its IPv4
// address and AAAA with its IPv6 one, aliases too; one without IPv6
// answers AAAA with an empty NOERROR (as Docker), and the IPv6 address
// has a PTR record.
func TestAAAA(t *testing.T) {
	port := freePort(t)
	s, err := New(Config{Port: port, ResolvConf: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddNetwork(Network{Name: "dual", Listen: netip.MustParseAddr("127.0.0.2"), Subnet: netip.MustParsePrefix("127.0.0.0/8"),
		Subnet6: netip.MustParsePrefix("fd00:1::/64"), ResolveNames: true}); err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("fd00:1::10")
	s.RegisterAddrs("dual", "c1", []netip.Addr{v4, v6}, []string{"web", "www"}, nil)
	s.Register("dual", "c2", netip.MustParseAddr("10.1.0.3"), []string{"old"}, nil)
	addr := "127.0.0.2:" + itoa(port)
	for _, proto := range []string{"udp", "tcp"} {
		for _, name := range []string{"web", "www", "web.dual"} {
			if rc, ips := queryType(t, proto, addr, name, dnsmessage.TypeAAAA); rc != dnsmessage.RCodeSuccess || !slices.Equal(ips, []netip.Addr{v6}) {
				t.Errorf("%s AAAA %s: %v %v, want %v", proto, name, rc, ips, v6)
			}
			if rc, ips := queryType(t, proto, addr, name, dnsmessage.TypeA); rc != dnsmessage.RCodeSuccess || !slices.Equal(ips, []netip.Addr{v4}) {
				t.Errorf("%s A %s: %v %v, want %v", proto, name, rc, ips, v4)
			}
		}
		if rc, ips := queryType(t, proto, addr, "old", dnsmessage.TypeAAAA); rc != dnsmessage.RCodeSuccess || len(ips) != 0 {
			t.Errorf("%s AAAA of an IPv4-only container: %v %v, want NOERROR without answers", proto, rc, ips)
		}
	}
	if got := s.Lookup("dual", "www"); !slices.Equal(got, []netip.Addr{v4, v6}) {
		t.Errorf("Lookup www: %v", got)
	}
	rev := "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"
	if ip, ok := ptrAddr(rev); !ok || ip != v6 {
		t.Fatalf("ptrAddr(%s) = %v %v, want %v", rev, ip, ok, v6)
	}
	if ip, ok := ptrAddr("2.0.1.10.in-addr.arpa"); !ok || ip != v4 {
		t.Fatalf("ptrAddr in-addr.arpa = %v %v", ip, ok)
	}
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

// TestLinks: a container's legacy links on a user-defined network are
// aliases that it alone resolves, after the network's own names.
func TestLinks(t *testing.T) {
	port := freePort(t)
	s, err := New(Config{Port: port, ResolvConf: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddNetwork(Network{Name: "app", Listen: netip.MustParseAddr("127.0.0.2"), Subnet: netip.MustParsePrefix("127.0.0.0/8"), ResolveNames: true}); err != nil {
		t.Fatal(err)
	}
	db := netip.MustParseAddr("10.1.0.5")
	s.Register("app", "db", db, []string{"db1"}, nil)
	s.Register("app", "web", netip.MustParseAddr("10.1.0.6"), []string{"web", "mysql2"}, nil)
	// The asker (127.0.0.1) is "other" until it gets the links.
	s.Register("app", "other", netip.MustParseAddr("127.0.0.1"), []string{"other"}, nil)
	s.SetLinks("app", "web", map[string]string{"mysql": "db1"})
	addr := "127.0.0.2:" + itoa(port)
	if rc, ips := query(t, "udp", addr, "mysql"); rc == dnsmessage.RCodeSuccess && len(ips) > 0 {
		t.Fatalf("another container's link answered: %v %v", rc, ips)
	}
	s.SetLinks("app", "other", map[string]string{"MySQL": "DB1", "mysql2": "db1"})
	for _, proto := range []string{"udp", "tcp"} {
		if rc, ips := query(t, proto, addr, "mysql"); rc != dnsmessage.RCodeSuccess || !slices.Equal(ips, []netip.Addr{db}) {
			t.Fatalf("%s mysql: %v %v, want %v", proto, rc, ips, db)
		}
	}
	// A name of the network wins over a link of the same name.
	if _, ips := query(t, "udp", addr, "mysql2"); !slices.Equal(ips, []netip.Addr{netip.MustParseAddr("10.1.0.6")}) {
		t.Fatalf("mysql2: %v", ips)
	}
	// Re-registering (a reconnect) drops the links until they are set again.
	s.Register("app", "other", netip.MustParseAddr("127.0.0.1"), []string{"other"}, nil)
	if rc, ips := query(t, "udp", addr, "mysql"); rc == dnsmessage.RCodeSuccess && len(ips) > 0 {
		t.Fatalf("mysql after re-register: %v %v", rc, ips)
	}
}

// TestPaddedQuery: a UDP query padded with EDNS(0) (RFC 7830, as stub
// resolvers that pad their queries send it) to well over 512 bytes reaches
// the upstream whole, and its answer comes back.
func TestPaddedQuery(t *testing.T) {
	// An upstream that answers only a query it can parse to the end.
	up, err := net.ListenPacket("udp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := up.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Additionals) != 1 {
				continue
			}
			m.Response = true
			m.Answers = []dnsmessage.Resource{{
				Header: dnsmessage.ResourceHeader{Name: m.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
				Body:   &dnsmessage.AResource{A: [4]byte{198, 51, 100, 1}},
			}}
			m.Additionals = nil
			resp, _ := m.Pack()
			_, _ = up.WriteTo(resp, from)
		}
	}()

	port := freePort(t)
	s, err := New(Config{Upstreams: []string{up.LocalAddr().String()}, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddNetwork(Network{Name: "mine", Listen: netip.MustParseAddr("127.0.0.2"), Subnet: netip.MustParsePrefix("127.0.0.0/8"), ResolveNames: true, Forward: true}); err != nil {
		t.Fatal(err)
	}

	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("outside.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	_ = b.StartAdditionals()
	var opt dnsmessage.ResourceHeader
	_ = opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false)
	_ = b.OPTResource(opt, dnsmessage.OPTResource{Options: []dnsmessage.Option{{Code: 12, Data: make([]byte, 1400)}}})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", "127.0.0.2:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("%d-byte query: %v", len(msg), err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 {
		t.Fatalf("%d-byte query: %v, %d answers", len(msg), m.RCode, len(m.Answers))
	}
}
