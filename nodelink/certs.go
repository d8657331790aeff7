package nodelink

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"weft.dev/weft/kernel/pki"
)

const (
	// NodeUserPrefix and NodesGroup match Kubernetes' node authorizer conventions, so
	// RBAC rules written for kubelets read naturally.
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"

	caFile   = "ca.crt"
	nodeFile = "node.pem" // certificate and key in one file: one rename replaces both
)

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// validNodeName accepts a DNS-1123 subdomain, the rule for Kubernetes Node names.
func validNodeName(n string) error {
	if n == "" || len(n) > 253 {
		return fmt.Errorf("node name %q: must be 1 to 253 characters", n)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("node name %q: not a DNS-1123 subdomain", n)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("node name %q: not a DNS-1123 subdomain", n)
			}
		}
	}
	return nil
}

// nodeFromCert returns the node name a client certificate speaks for.
func nodeFromCert(c *x509.Certificate) (string, error) {
	name, ok := strings.CutPrefix(c.Subject.CommonName, NodeUserPrefix)
	if !ok || !slices.Contains(c.Subject.Organization, NodesGroup) {
		return "", fmt.Errorf("client certificate %q is not a node certificate", c.Subject.CommonName)
	}
	return name, validNodeName(name)
}

func newCSR(node string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: NodeUserPrefix + node, Organization: []string{NodesGroup}},
	}, key)
	return key, der, err
}

// parseCSR checks the CSR's self-signature: it proves the requester holds the key.
func parseCSR(der []byte) (crypto.PublicKey, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("bad CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("bad CSR signature: %v", err)
	}
	return csr.PublicKey, nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: no certificate PEM block", ErrProtocol)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// pinnedVerify verifies the server's chain against the CA with the pinned fingerprint.
// The node has no CA on first contact, so the server sends its CA in the chain and the
// pin decides whether to believe it; after the join the stored CA is used too, in case a
// server stops sending it.
func pinnedVerify(pin, serverName string, stored *x509.Certificate) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: server sent no certificate", ErrCAMismatch)
		}
		roots := x509.NewCertPool()
		found := false
		for _, c := range cs.PeerCertificates {
			if fingerprint(c) == pin {
				roots.AddCert(c)
				found = true
			}
		}
		if stored != nil && fingerprint(stored) == pin {
			roots.AddCert(stored)
			found = true
		}
		if !found {
			last := cs.PeerCertificates[len(cs.PeerCertificates)-1]
			return fmt.Errorf("%w: server presented CA %q with fingerprint %s, pinned %s",
				ErrCAMismatch, last.Subject.CommonName, fingerprint(last), pin)
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, DNSName: serverName,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return fmt.Errorf("server certificate does not verify against the pinned CA: %w", err)
		}
		return nil
	}
}

// certStore is the node's credential directory.
type certStore struct {
	dir string
	pin string
}

type nodeCreds struct {
	cert     tls.Certificate
	leaf     *x509.Certificate
	ca       *x509.Certificate
	obtained time.Time // when we got it: pki backdates NotBefore, so NotBefore cannot date the lifetime
}

// renewAt is when two thirds of the certificate's life as we received it have passed.
func (n *nodeCreds) renewAt(fraction float64) time.Time {
	start := n.obtained
	if n.leaf.NotBefore.After(start) {
		start = n.leaf.NotBefore
	}
	life := n.leaf.NotAfter.Sub(start)
	return start.Add(time.Duration(float64(life) * fraction))
}

func (s certStore) loadCA() (*x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, caFile))
	if err != nil {
		return nil, err
	}
	ca, err := parseCertPEM(b)
	if err != nil {
		return nil, err
	}
	if fingerprint(ca) != s.pin {
		return nil, fmt.Errorf("%w: stored %s has fingerprint %s", ErrCAMismatch, caFile, fingerprint(ca))
	}
	return ca, nil
}

// load returns stored credentials if they are usable for node right now.
func (s certStore) load(node string, now time.Time) (*nodeCreds, error) {
	ca, err := s.loadCA()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, nodeFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return s.check(node, b, ca, st.ModTime(), now)
}

func (s certStore) check(node string, pemBytes []byte, ca *x509.Certificate, obtained, now time.Time) (*nodeCreds, error) {
	pair, err := tls.X509KeyPair(pemBytes, pemBytes)
	if err != nil {
		return nil, err
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, err
		}
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("node certificate not signed by the cluster CA: %w", err)
	}
	if n, err := nodeFromCert(leaf); err != nil || n != node {
		return nil, fmt.Errorf("node certificate is for %q, not node %q", leaf.Subject.CommonName, node)
	}
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("node certificate valid %s to %s, now %s", leaf.NotBefore, leaf.NotAfter, now)
	}
	if obtained.After(now) {
		obtained = now
	}
	return &nodeCreds{cert: pair, leaf: leaf, ca: ca, obtained: obtained}, nil
}

// save stores a freshly issued certificate with its key, and the CA.
func (s certStore) save(node string, key *ecdsa.PrivateKey, m certMsg) (*nodeCreds, error) {
	ca, err := parseCertPEM(m.CA)
	if err != nil {
		return nil, err
	}
	if fingerprint(ca) != s.pin {
		return nil, fmt.Errorf("%w: server returned CA with fingerprint %s", ErrCAMismatch, fingerprint(ca))
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(m.Cert)
	_ = pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	now := time.Now()
	creds, err := s.check(node, buf.Bytes(), ca, now, now)
	if err != nil {
		return nil, fmt.Errorf("server issued an unusable certificate: %w", err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(filepath.Join(s.dir, caFile), m.CA, 0o644); err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(filepath.Join(s.dir, nodeFile), buf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	return creds, nil
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
