package pki

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestCAPersistsAndIssues(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil || again.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("CA not reloaded: %v", err)
	}
	leaf := Leaf{CommonName: "api", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}
	pair, certPEM, _, err := ca.LoadOrIssue(dir, "api", leaf)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify: %v", err)
	}
	// Same request: the same certificate comes back.
	_, certPEM2, _, err := ca.LoadOrIssue(dir, "api", leaf)
	if err != nil || string(certPEM2) != string(certPEM) {
		t.Fatalf("certificate re-issued needlessly: %v", err)
	}
	// A new name: re-issued, covering it.
	leaf.DNSNames = append(leaf.DNSNames, "weft.example")
	pair, _, _, err = ca.LoadOrIssue(dir, "api", leaf)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(pair.Certificate[0])
	if err := cert.VerifyHostname("weft.example"); err != nil {
		t.Fatalf("new SAN missing: %v", err)
	}
	// A client certificate carries user and groups.
	client, _, _, err := ca.LoadOrIssue(dir, "admin", Leaf{CommonName: "admin", Organization: []string{"system:masters"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := x509.ParseCertificate(client.Certificate[0])
	if _, err := cc.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || cc.Subject.Organization[0] != "system:masters" {
		t.Fatalf("client certificate: %v %v", err, cc.Subject)
	}
}

func TestCAMaterialErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	// A key without its certificate is reported, not silently replaced by a new CA.
	if err := os.Remove(filepath.Join(dir, "pki", "ca.crt")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir); err == nil {
		t.Fatal("half a CA was accepted")
	}
	dir2 := t.TempDir()
	if _, err := LoadOrCreateCA(dir2); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "pki", "ca.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage key: want ErrInvalid, got %v", err)
	}
}
