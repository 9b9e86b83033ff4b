package cluster

import (
	"crypto/tls"
	"strings"
	"testing"
)

// A node certificate signed by the cluster CA is accepted by a peer with
// the CA, both ways (mutual TLS), and a certificate of another cluster's
// CA is refused.
func TestMutualTLS(t *testing.T) {
	ca, err := NewCA("c1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("c2")
	if err != nil {
		t.Fatal(err)
	}
	node := func(ca *CA, id string) *tls.Config {
		key, keyPEM, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		cert, err := ca.Sign(id, "127.0.0.1", &key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := TLSConfig(ca.CertPEM, cert, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	server := node(ca, "n1")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1)) // the server's verdict on our certificate
		if err != nil && !strings.Contains(err.Error(), "EOF") {
			return err
		}
		return nil
	}
	if err := dial(node(ca, "n2")); err != nil {
		t.Fatalf("same cluster refused: %v", err)
	}
	if err := dial(node(other, "x")); err == nil {
		t.Fatal("a certificate of another cluster's CA was accepted")
	}
	noCert := server.Clone()
	noCert.Certificates = nil
	if err := dial(noCert); err == nil {
		t.Fatal("a client without certificate was accepted")
	}
}

func TestToken(t *testing.T) {
	ca, err := NewCA("c1")
	if err != nil {
		t.Fatal(err)
	}
	tok := NewToken(ca.Hash())
	got, err := ParseToken(tok.String())
	if err != nil || got != tok {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if !secretMatches(tok.Secret, SecretHash(tok.Secret)) || secretMatches("x", SecretHash(tok.Secret)) {
		t.Fatal("secret check")
	}
	for _, bad := range []string{"", "BTKN-1-abc-def", "SWMTKN-1-" + ca.Hash() + "-" + tok.Secret} {
		if _, err := ParseToken(bad); err == nil || !strings.Contains(err.Error(), "join-token") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
