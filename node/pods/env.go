package pods

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"weft.dev/weft/node/runtime"
)

// buildEnv resolves a container's environment as kubelet does: envFrom first, then
// env, later names overriding earlier ones, $(VAR) references expanded against what
// is defined before them. A required reference that cannot be resolved is an error
// whose message becomes the CreateContainerConfigError.
func (w *podWorker) buildEnv(pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	objs := w.m.cfg.Objects
	var order []string
	vals := map[string]string{}
	put := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			opt := ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional
			var cm *corev1.ConfigMap
			ok := false
			if objs != nil {
				cm, ok = objs.ConfigMap(pod.Namespace, ef.ConfigMapRef.Name)
			}
			if !ok {
				if opt {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ef.ConfigMapRef.Name)
			}
			for _, k := range sortedKeys(cm.Data) {
				if validEnvName(ef.Prefix + k) {
					put(ef.Prefix+k, cm.Data[k])
				}
			}
		case ef.SecretRef != nil:
			opt := ef.SecretRef.Optional != nil && *ef.SecretRef.Optional
			var s *corev1.Secret
			ok := false
			if objs != nil {
				s, ok = objs.Secret(pod.Namespace, ef.SecretRef.Name)
			}
			if !ok {
				if opt {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ef.SecretRef.Name)
			}
			data := map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			for k, v := range s.StringData {
				data[k] = v
			}
			for _, k := range sortedKeys(data) {
				if validEnvName(ef.Prefix + k) {
					put(ef.Prefix+k, data[k])
				}
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			put(e.Name, expand(e.Value, vals))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			opt := ref.Optional != nil && *ref.Optional
			var cm *corev1.ConfigMap
			ok := false
			if objs != nil {
				cm, ok = objs.ConfigMap(pod.Namespace, ref.Name)
			}
			if !ok {
				if opt {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if b, bok := cm.BinaryData[ref.Key]; bok {
					v, ok = string(b), true
				}
			}
			if !ok {
				if opt {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			put(e.Name, v)
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			opt := ref.Optional != nil && *ref.Optional
			var s *corev1.Secret
			ok := false
			if objs != nil {
				s, ok = objs.Secret(pod.Namespace, ref.Name)
			}
			if !ok {
				if opt {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ref.Name)
			}
			b, ok := s.Data[ref.Key]
			v := string(b)
			if !ok {
				v, ok = s.StringData[ref.Key]
			}
			if !ok {
				if opt {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			put(e.Name, v)
		case vf.FieldRef != nil:
			v, err := w.fieldValue(pod, vf.FieldRef.FieldPath)
			if err != nil {
				return nil, err
			}
			put(e.Name, v)
		case vf.ResourceFieldRef != nil:
			v, err := w.resourceValue(pod, c.Name, vf.ResourceFieldRef)
			if err != nil {
				return nil, err
			}
			put(e.Name, v)
		default:
			return nil, fmt.Errorf("env %s: unsupported valueFrom", e.Name)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validEnvName is Kubernetes' relaxed rule: printable ASCII without '='.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '=' {
			return false
		}
	}
	return true
}

// fieldValue answers the downward API's fieldRef paths.
func (w *podWorker) fieldValue(pod *corev1.Pod, path string) (string, error) {
	podIP := ""
	if len(w.podIPs) > 0 {
		podIP = w.podIPs[0]
	}
	hostIP := ""
	if w.m.cfg.NodeIP.IsValid() {
		hostIP = w.m.cfg.NodeIP.String()
	}
	if pod.Spec.HostNetwork {
		podIP = hostIP
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return podIP, nil
	case "status.podIPs":
		if pod.Spec.HostNetwork {
			return hostIP, nil
		}
		return strings.Join(w.podIPs, ","), nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	for _, p := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels['", pod.Labels}, {"metadata.annotations['", pod.Annotations}} {
		if strings.HasPrefix(path, p.prefix) && strings.HasSuffix(path, "']") {
			return p.m[path[len(p.prefix):len(path)-2]], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

func formatMap(m map[string]string) string {
	var lines []string
	for _, k := range sortedKeys(m) {
		lines = append(lines, k+"="+strconv.Quote(m[k]))
	}
	return strings.Join(lines, "\n")
}

// resourceValue answers resourceFieldRef: a limit without a value is the node's
// capacity, a request without one is zero (or the limit, which API defaulting copies).
func (w *podWorker) resourceValue(pod *corev1.Pod, container string, ref *corev1.ResourceFieldSelector) (string, error) {
	name := ref.ContainerName
	if name == "" {
		name = container
	}
	c := containerSpec(pod, name)
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: container %q not found", name)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, res, _ := strings.Cut(ref.Resource, ".")
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(res)]
	if !ok {
		switch {
		case kind == "limits" && res == "cpu":
			q = *resource.NewMilliQuantity(w.m.cfg.NodeCPUMillis, resource.DecimalSI)
		case kind == "limits" && res == "memory":
			q = *resource.NewQuantity(w.m.cfg.NodeMemoryBytes, resource.BinarySI)
		case kind == "limits" || kind == "requests":
			q = resource.Quantity{}
		default:
			return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
		}
	}
	if res == "cpu" {
		v := int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))
		return strconv.FormatInt(v, 10), nil
	}
	v := int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))
	return strconv.FormatInt(v, 10), nil
}

// expand replaces $(VAR) with values from env; $$ escapes a dollar, and unknown
// references stay as they are (Kubernetes' rules).
func expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func expandAll(in []string, env map[string]string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, env)
	}
	return out
}

// limitsFor turns resources into cgroup settings: CPU shares from the request
// (kubelet's 2 for none), a CFS quota from the limit, the memory limit.
func limitsFor(c *corev1.Container) runtime.Limits {
	var l runtime.Limits
	l.CPUShares = 2
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok && !q.IsZero() {
		l.CPUShares = max(uint64(q.MilliValue())*1024/1000, 2)
	} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && !q.IsZero() {
		l.CPUShares = max(uint64(q.MilliValue())*1024/1000, 2)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && !q.IsZero() {
		l.CPUPeriod = 100000
		l.CPUQuota = max(q.MilliValue()*100, 1000)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && !q.IsZero() {
		l.MemoryLimit = q.Value()
	}
	return l
}
