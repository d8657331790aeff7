package kernel

import (
	"fmt"
	"net"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"weft.dev/weft/kernel/pki"
)

// AdminUser is the admin's identity; system:masters marks it as the cluster admin, as
// in Kubernetes.
const AdminUser = "weft-admin"

// writeKubeconfig writes DIR/kubeconfig with the admin's client certificate.
func (k *Kernel) writeKubeconfig(host, port string) error {
	_, certPEM, keyPEM, err := k.ca.LoadOrIssue(k.cfg.DataDir, "admin", pki.Leaf{
		CommonName: AdminUser, Organization: []string{"system:masters"},
	})
	if err != nil {
		return fmt.Errorf("issue admin certificate: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["weft"] = &clientcmdapi.Cluster{
		Server:                   "https://" + net.JoinHostPort(host, port),
		CertificateAuthorityData: k.ca.CertPEM,
	}
	cfg.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["weft"] = &clientcmdapi.Context{Cluster: "weft", AuthInfo: AdminUser, Namespace: "default"}
	cfg.CurrentContext = "weft"
	raw, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(filepath.Join(k.cfg.DataDir, "kubeconfig"), raw, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
