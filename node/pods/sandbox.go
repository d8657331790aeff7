package pods

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"weft.dev/weft/cni"
)

// ensureSandbox gives the pod its directory, network namespace and address, and its
// /etc/hosts, /etc/resolv.conf and /etc/hostname.
func (w *podWorker) ensureSandbox(ctx context.Context, pod *corev1.Pod) error {
	if w.sandboxReady && w.filesWritten {
		return nil
	}
	if err := os.MkdirAll(w.dir, 0o750); err != nil {
		return fmt.Errorf("pod dir: %w", err)
	}
	if !w.sandboxReady {
		if pod.Spec.HostNetwork {
			w.netns, w.podIPs = "", nil
		} else {
			n := w.m.cfg.Network
			if n == nil {
				return errors.New("this node has no pod network; only hostNetwork pods can run")
			}
			release, err := w.turn(ctx)
			if err != nil {
				return err
			}
			t0 := time.Now()
			sb, err := n.Setup(ctx, string(w.uid), cni.SetupOptions{PortMappings: portMappings(pod)})
			release()
			if err != nil {
				return fmt.Errorf("failed to set up pod network: %w", err)
			}
			w.log().Debug("pod network set up", "ips", sb.IPs, "took", time.Since(t0))
			w.netns = sb.NetNS
			w.podIPs = w.podIPs[:0]
			for _, ip := range sb.IPs {
				w.podIPs = append(w.podIPs, ip.String())
			}
		}
		w.sandboxReady = true
	}
	if err := w.writeFiles(pod); err != nil {
		return err
	}
	w.filesWritten = true
	return nil
}

func portMappings(pod *corev1.Pod) []cni.PortMapping {
	var out []cni.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, cni.PortMapping{HostPort: int(p.HostPort), ContainerPort: int(p.ContainerPort), Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}

// writeFiles writes the pod's hosts, resolv.conf and hostname files. They are
// bind-mounted into the containers, so they are rewritten in place (same inode), and
// only when their content changes.
func (w *podWorker) writeFiles(pod *corev1.Pod) error {
	hosts, err := w.hostsFile(pod)
	if err != nil {
		return err
	}
	resolv, err := w.resolvConf(pod)
	if err != nil {
		return err
	}
	hostname := podHostname(pod) + "\n"
	if pod.Spec.HostNetwork {
		h, _ := os.Hostname()
		hostname = h + "\n"
	}
	for name, data := range map[string][]byte{"etc-hosts": hosts, "resolv.conf": resolv, "hostname": []byte(hostname)} {
		p := filepath.Join(w.dir, name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// hostsFile is kubelet's managed /etc/hosts.
func (w *podWorker) hostsFile(pod *corev1.Pod) ([]byte, error) {
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		host, err := os.ReadFile(w.m.cfg.HostsFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read node hosts file: %w", err)
		}
		b.Write(host)
		if len(host) > 0 && host[len(host)-1] != '\n' {
			b.WriteByte('\n')
		}
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n")
		b.WriteString("127.0.0.1\tlocalhost\n")
		b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::0\tip6-localnet\n")
		b.WriteString("fe00::0\tip6-mcastprefix\n")
		b.WriteString("fe00::1\tip6-allnodes\n")
		b.WriteString("fe00::2\tip6-allrouters\n")
		hostname := podHostname(pod)
		for _, ip := range w.podIPs {
			if pod.Spec.Subdomain != "" {
				fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, hostname, pod.Spec.Subdomain, pod.Namespace, w.m.cfg.ClusterDomain, hostname)
			} else {
				fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
			}
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes(), nil
}

// resolvConf follows dnsPolicy and dnsConfig.
func (w *podWorker) resolvConf(pod *corev1.Pod) ([]byte, error) {
	var servers, searches, options []string
	host := func() error {
		data, err := os.ReadFile(w.m.cfg.ResolvConf)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read node resolv.conf: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
				continue
			}
			switch f[0] {
			case "nameserver":
				if len(f) > 1 {
					servers = append(servers, f[1])
				}
			case "search", "domain":
				searches = append(searches, f[1:]...)
			case "options":
				options = append(options, f[1:]...)
			}
		}
		return nil
	}
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && len(w.m.cfg.ClusterDNS) == 0 {
		policy = corev1.DNSDefault // kubelet's fallback without cluster DNS
	}
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		if err := host(); err != nil {
			return nil, err
		}
		d := w.m.cfg.ClusterDomain
		servers = slices.Clone(w.m.cfg.ClusterDNS)
		searches = append([]string{pod.Namespace + ".svc." + d, "svc." + d, d}, searches...)
		options = []string{"ndots:5"}
	case corev1.DNSNone:
	default:
		if err := host(); err != nil {
			return nil, err
		}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		searches = append(searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			// A dnsConfig option replaces one of the same name.
			options = slices.DeleteFunc(options, func(s string) bool {
				n, _, _ := strings.Cut(s, ":")
				return n == o.Name
			})
			options = append(options, opt)
		}
	}
	servers = dedupe(servers)
	if len(servers) > 3 {
		servers = servers[:3]
	}
	searches = dedupe(searches)
	if len(searches) > 32 {
		searches = searches[:32]
	}
	var b bytes.Buffer
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dedupe(options), " "))
	}
	return b.Bytes(), nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
