package jqclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TCP needs the token; a wrong one is unauthorized.
func TestTCPToken(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "token")
	os.WriteFile(tf, []byte("s3cret\n"), 0o600)
	s := startServer(t, "--listen", "127.0.0.1:0", "--token-file", tf)
	addr := s.Listening("tcp")
	ctx := tctx(t)
	c, err := Dial(ctx, addr, WithTokenFile(tf))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// A restart on the same port: the client dials again and sends the
	// token again.
	s.Kill()
	s.SetArg("127.0.0.1:0", addr)
	s.Restart()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping after a restart: %v", err)
	}
	if _, err := Dial(ctx, addr, WithToken("guess")); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	// An address list: the first element refuses, the second serves.
	c2, err := Dial(ctx, "unix:"+filepath.Join(dir, "nothing.sock")+","+s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TLS with a private CA: the server is verified (its IP in the
// certificate); a client trusting another CA refuses it.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := makeCert(t, dir, "ca", nil, nil)
	makeCert(t, dir, "server", ca, caKey)
	makeCert(t, dir, "other", nil, nil)
	tf := filepath.Join(dir, "token")
	os.WriteFile(tf, []byte("tls-token\n"), 0o600)
	s := startServer(t, "--listen", "tls:127.0.0.1:0", "--token-file", tf,
		"--tls-cert", filepath.Join(dir, "server.pem"), "--tls-key", filepath.Join(dir, "server.key"))
	_, port, _ := net.SplitHostPort(s.Listening("tls"))
	ctx := tctx(t)
	t.Setenv("JQ_TLS_CA", filepath.Join(dir, "ca.pem"))
	c, err := Dial(ctx, "tls:127.0.0.1:"+port, WithToken("tls-token"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JQ_TLS_CA", filepath.Join(dir, "other.pem"))
	if _, err := Dial(ctx, "tls:127.0.0.1:"+port, WithToken("tls-token")); err == nil {
		t.Fatal("a server signed by an untrusted CA was accepted")
	}
}

// makeCert writes NAME.pem and NAME.key: a CA when parent is nil, else a
// server certificate for 127.0.0.1 signed by parent.
func makeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	signer, signKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		signer, signKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}
