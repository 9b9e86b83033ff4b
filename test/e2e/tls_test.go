package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/pkg/client"
	"github.com/berthproject/berth/test/harness"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes <name>-cert.pem and <name>-key.pem into dir, signed by ca.
func (ca *testCA) issue(t *testing.T, dir, name string, server bool) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	write(t, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return certPath, keyPath
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTCPMutualTLS: berthd's TCP listener answers only clients whose
// certificate its CA signed; the unix socket keeps working.
func TestTCPMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t, "berth test CA")
	caPath := filepath.Join(dir, "ca.pem")
	write(t, caPath, ca.pem)
	srvCert, srvKey := ca.issue(t, dir, "server", true)
	addr := freeLoopbackPort(t)
	s := harness.Start(t, harness.WithDaemonArgs("--tcp-address", addr,
		"--tlscacert", caPath, "--tlscert", srvCert, "--tlskey", srvKey))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ping := func(tc *tls.Config) error {
		cl, err := client.NewTLS(ctx, "tcp://"+addr, tc)
		if err != nil {
			return err
		}
		defer cl.Close()
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = cl.Ping(callCtx)
		return err
	}

	// A client with a certificate from berthd's CA (files as the CLI reads them).
	good := filepath.Join(dir, "good")
	if err := os.Mkdir(good, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key := ca.issue(t, good, "client", false)
	if err := os.Rename(cert, filepath.Join(good, "cert.pem")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(key, filepath.Join(good, "key.pem")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(good, "ca.pem"), ca.pem)
	tc, err := client.TLSConfigFromDir(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(tc); err != nil {
		t.Fatalf("a client with a certificate from berthd's CA: %v", err)
	}
	cmd := exec.Command(filepath.Join(s.Build(), "berth"), "-H", "tcp://"+addr, "version", "--format", "{{.Server.Version}}")
	cmd.Env = append(os.Environ(), client.CertPathEnv+"="+good)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) == "" {
		t.Errorf("berth -H tcp://%s version with BERTH_CERT_PATH: %v: %s", addr, err, out)
	}

	// No client certificate: the handshake fails.
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	if err := ping(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("a client without a certificate was served")
	}
	// A certificate from another CA: refused.
	other := newTestCA(t, "another CA")
	oc, ok := other.issue(t, dir, "stranger", false)
	pair, err := tls.LoadX509KeyPair(oc, ok)
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("a client with a certificate from another CA was served")
	}
	// The unix socket still serves.
	s.BerthOK("version")
}
