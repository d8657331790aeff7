package core

import (
	"slices"
	"strings"

	"weft.dev/weft/sdk"
)

// defaultPod returns, as a JSON Patch, what Kubernetes sets on a pod it admits when the
// pod leaves it out: the v1 defaulters (SetDefaults_Pod, _PodSpec, _Container, _Probe,
// _Volume ...) and the ServiceAccount, Priority and DefaultTolerationSeconds admission
// plugins. Fields already set are never touched.
func defaultPod(req *sdk.AdmissionRequest) sdk.AdmissionResponse {
	_, spec, _, err := decodePod(req.Object)
	if err != nil || spec == nil {
		// Mutation runs before schema validation, which reports what does not decode;
		// a pod without a spec is left to validation.
		return allowed
	}
	var p jsonPatch
	if spec.DNSPolicy == "" {
		p.add("/spec/dnsPolicy", "", `"ClusterFirst"`)
	}
	if spec.RestartPolicy == "" {
		p.add("/spec/restartPolicy", "", `"Always"`)
	}
	if !spec.SecurityContext {
		p.add("/spec/securityContext", "", "{}")
	}
	if spec.TerminationGracePeriodSeconds == nil {
		p.add("/spec/terminationGracePeriodSeconds", "", "30")
	}
	if spec.SchedulerName == "" {
		p.add("/spec/schedulerName", "", `"default-scheduler"`)
	}
	if spec.EnableServiceLinks == nil {
		p.add("/spec/enableServiceLinks", "", "true")
	}
	// The Priority admission plugin, with no PriorityClass marked globalDefault.
	if spec.PriorityClassName == "" {
		if spec.Priority == nil {
			p.add("/spec/priority", "", "0")
		}
		if spec.PreemptionPolicy == "" {
			p.add("/spec/preemptionPolicy", "", `"PreemptLowerPriority"`)
		}
	}
	// serviceAccount is the deprecated alias of serviceAccountName; each fills the other.
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = spec.ServiceAccount
	}
	if sa == "" {
		sa = "default"
	}
	if spec.ServiceAccountName == "" {
		p.addString("/spec/serviceAccountName", "", sa)
	}
	if spec.ServiceAccount == "" {
		p.addString("/spec/serviceAccount", "", sa)
	}
	for i := range spec.Volumes {
		defaultVolume(&p, "/spec/volumes/"+itoa(i), &spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&p, "/spec/initContainers/"+itoa(i), &spec.InitContainers[i], spec.HostNetwork)
	}
	for i := range spec.Containers {
		defaultContainer(&p, "/spec/containers/"+itoa(i), &spec.Containers[i], spec.HostNetwork)
	}
	defaultTolerations(&p, spec.Tolerations)
	if req.Operation == "CREATE" && req.Subresource == "" && !hasMember(req.Object, "status") {
		// The API server's pod strategy sets this on create; the kernel has already
		// cleared whatever status the client sent.
		p.add("/status", "", `{"phase":"Pending","qosClass":"`+qosClass(spec)+`"}`)
	}
	return patched(&p)
}

// hasMember reports whether the JSON object b has a top-level member key.
func hasMember(b []byte, key string) bool {
	found := false
	r := sdk.NewJSONReader(b)
	r.Object(func(k []byte) {
		found = found || string(k) == key
		r.Skip()
	})
	return found
}

func defaultVolume(p *jsonPatch, path string, v *volume) {
	first, n := v.sources()
	switch {
	case n == 0:
		p.add(path, "/emptyDir", "{}")
	case first == "hostPath" && v.HostPath.Type == nil:
		p.add(path, "/hostPath/type", `""`)
	case first == "secret" && v.Secret.DefaultMode == nil,
		first == "configMap" && v.ConfigMap.DefaultMode == nil,
		first == "projected" && v.Projected.DefaultMode == nil:
		p.add(path, "/"+first+"/defaultMode", "420")
	case first == "downwarAPI" && v.DownwardAPI.DefaultMode == nil:
		p.add(path, "/downwardAPI/defaultMode", "420")
	}
}

func defaultContainer(p *jsonPatch, path string, c *container, hostNetwork bool) {
	if c.TerminationMessagePath == "" {
		p.add(path, "/terminationMessagePath", `"/dev/termination-log"`)
	}
	if c.TerminationMessagePolicy == "" {
		p.add(path, "/terminationMessagePolicy", `"File"`)
	}
	if c.ImagePullPolicy == "" {
		p.addString(path, "/imagePullPolicy", pullPolicy(c.Image))
	}
	for j := range c.Ports {
		port := &c.Ports[j]
		if port.Protocol == "" {
			p.add(path+"/ports/"+itoa(j), "/protocol", `"TCP"`)
		}
		if hostNetwork && port.HostPort == 0 {
			p.add(path+"/ports/"+itoa(j), "/hostPort", num(port.ContainerPort))
		}
	}
	for j := range c.Env {
		if vf := c.Env[j].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			p.add(path+"/env/"+itoa(j), "/valueFrom/fieldRef/apiVersion", `"v1"`)
		}
	}
	// Requests default to limits, resource by resource.
	if len(c.Resources.Limits) > 0 {
		if c.Resources.Requests == nil {
			obj := make([]byte, 0, 64)
			obj = append(obj, '{')
			for i, e := range c.Resources.Limits {
				if i > 0 {
					obj = append(obj, ',')
				}
				obj = appendString(obj, e.name)
				obj = append(obj, ':')
				obj = append(obj, e.raw...)
			}
			p.addRaw(path, "/resources/requests", append(obj, '}'))
		} else {
			for _, e := range c.Resources.Limits {
				if _, ok := c.Resources.Requests.get(e.name); !ok {
					p.addRaw(path+"/resources/requests/", pathKey(e.name), e.raw)
				}
			}
		}
	}
	defaultProbe(p, path+"/livenessProbe", c.LivenessProbe)
	defaultProbe(p, path+"/readinessProbe", c.ReadinessProbe)
	defaultProbe(p, path+"/startupProbe", c.StartupProbe)
	if c.Lifecycle != nil {
		defaultHandler(p, path+"/lifecycle/postStart", c.Lifecycle.PostStart)
		defaultHandler(p, path+"/lifecycle/preStop", c.Lifecycle.PreStop)
	}
}

func defaultProbe(p *jsonPatch, path string, pr *probe) {
	if pr == nil {
		return
	}
	if pr.TimeoutSeconds == 0 {
		p.add(path, "/timeoutSeconds", "1")
	}
	if pr.PeriodSeconds == 0 {
		p.add(path, "/periodSeconds", "10")
	}
	if pr.SuccessThreshold == 0 {
		p.add(path, "/successThreshold", "1")
	}
	if pr.FailureThreshold == 0 {
		p.add(path, "/failureThreshold", "3")
	}
	defaultHandler(p, path, &pr.handler)
}

func defaultHandler(p *jsonPatch, path string, h *handler) {
	if h == nil || h.HTTPGet == nil {
		return
	}
	if h.HTTPGet.Path == "" {
		p.add(path, "/httpGet/path", `"/"`)
	}
	if h.HTTPGet.Scheme == "" {
		p.add(path, "/httpGet/scheme", `"HTTP"`)
	}
}

// defaultTolerations is the DefaultTolerationSeconds admission plugin: pods tolerate
// not-ready and unreachable nodes for 300 seconds unless they say otherwise.
func defaultTolerations(p *jsonPatch, ts []toleration) {
	notReady, unreachable := false, false
	for _, t := range ts {
		if t.Effect == "NoExecute" || t.Effect == "" {
			notReady = notReady || t.Key == "node.kubernetes.io/not-ready" || t.Key == ""
			unreachable = unreachable || t.Key == "node.kubernetes.io/unreachable" || t.Key == ""
		}
	}
	const (
		notReadyT    = `{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}`
		unreachableT = `{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}`
	)
	switch {
	case notReady && unreachable:
	case ts == nil:
		list := "["
		if !notReady {
			list += notReadyT
		}
		if !unreachable {
			if len(list) > 1 {
				list += ","
			}
			list += unreachableT
		}
		p.add("/spec/tolerations", "", list+"]")
	default:
		if !notReady {
			p.add("/spec/tolerations/-", "", notReadyT)
		}
		if !unreachable {
			p.add("/spec/tolerations/-", "", unreachableT)
		}
	}
}

// pullPolicy is SetDefaults_Container's: Always for the latest tag, said or implied
// (no tag and no digest), IfNotPresent otherwise and for names that do not parse.
func pullPolicy(image string) string {
	if image == "" || strings.TrimSpace(image) != image {
		return "IfNotPresent"
	}
	ref, digest := image, false
	if at := strings.IndexByte(ref, '@'); at >= 0 {
		ref, digest = ref[:at], true
	}
	tag := ""
	if c := strings.LastIndexByte(ref, ':'); c >= 0 && !strings.Contains(ref[c+1:], "/") {
		tag = ref[c+1:]
	}
	if tag == "latest" || tag == "" && !digest {
		return "Always"
	}
	return "IfNotPresent"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
