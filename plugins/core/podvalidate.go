package core

import (
	"bytes"
	"math"
	"strings"

	"weft.dev/weft/sdk"
)

// validatePod is a subset of Kubernetes' ValidatePodCreate and ValidatePodUpdate, with
// its messages, errors collected and aggregated as the API server does.
func validatePod(req *sdk.AdmissionRequest) sdk.AdmissionResponse {
	name, spec, raw, err := decodePod(req.Object)
	if err != nil {
		return badRequest("Pod", err)
	}
	if spec == nil {
		spec = &podSpec{}
	}
	var errs errorList
	validatePodSpec(&errs, spec)
	if req.Operation == "UPDATE" && len(req.OldObject) > 0 {
		_, old, oldRaw, err := decodePod(req.OldObject)
		if err != nil {
			return badRequest("Pod", err)
		}
		if old == nil {
			old = &podSpec{}
		}
		validatePodUpdate(&errs, spec, old, raw, oldRaw)
	}
	if len(errs) > 0 {
		return invalidResponse("Pod", objectName(req, name), errs)
	}
	return allowed
}

func validatePodSpec(errs *errorList, s *podSpec) {
	volumes := validateVolumes(errs, s.Volumes)
	validateContainers(errs, s, volumes)
	validateInitContainers(errs, s, volumes)
	if s.HostNetwork {
		// A hostPort of 0 is one defaulting has yet to set to the containerPort.
		for i := range s.Containers {
			for j, port := range s.Containers[i].Ports {
				if port.HostPort != 0 && port.HostPort != port.ContainerPort {
					errs.invalid(idx(idx("spec.containers", i)+".ports", j)+".containerPort", num(port.ContainerPort), "must match `hostPort` when `hostNetwork` is true")
				}
			}
		}
	}
	// Fields the defaulting hook fills in are checked when set; Kubernetes requires
	// them, since its decoder always defaults them.
	switch s.RestartPolicy {
	case "", "Always", "OnFailure", "Never":
	default:
		errs.notSupported("spec.restartPolicy", quote(s.RestartPolicy), "Always", "OnFailure", "Never")
	}
	switch s.DNSPolicy {
	case "", "ClusterFirst", "ClusterFirstWithHostNet", "Default":
	case "None":
		if !s.DNSConfig {
			errs.required("spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
		}
	default:
		errs.notSupported("spec.dnsPolicy", quote(s.DNSPolicy), "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
	}
	if s.TerminationGracePeriodSeconds != nil && *s.TerminationGracePeriodSeconds < 0 {
		errs.invalid("spec.terminationGracePeriodSeconds", num(*s.TerminationGracePeriodSeconds), isNegativeErrorMsg)
	}
	if s.ActiveDeadlineSeconds != nil {
		if v := *s.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs.invalid("spec.activeDeadlineSeconds", num(v), inclusiveRangeError(1, math.MaxInt32))
		}
	}
	validateTolerations(errs, s.Tolerations)
	// Pods only (not templates): images without surrounding whitespace.
	for i := range s.Containers {
		validateImageSpace(errs, idx("spec.containers", i), s.Containers[i].Image)
	}
	for i := range s.InitContainers {
		validateImageSpace(errs, idx("spec.initContainers", i), s.InitContainers[i].Image)
	}
}

func validateImageSpace(errs *errorList, path, image string) {
	if len(strings.TrimSpace(image)) != len(image) {
		errs.invalid(path+".image", quote(image), "must not have leading or trailing whitespace")
	}
}

// validateVolumes returns the names of the valid volumes.
func validateVolumes(errs *errorList, vols []volume) *strSet {
	names := &strSet{}
	for i := range vols {
		v := &vols[i]
		path := idx("spec.volumes", i)
		var el errorList
		if _, n := v.sources(); n > 1 {
			seen := false
			for _, src := range v.sourceList() {
				if src.set && seen {
					el.forbidden(path+"."+src.name, "may not specify more than 1 volume type")
				}
				seen = seen || src.set
			}
		} else if n == 0 {
			el.required(path, "must specify a volume type")
		}
		if v.Name == "" {
			el.required(path+".name", "")
		} else {
			for _, msg := range isDNS1123Label(v.Name) {
				el.invalid(path+".name", quote(v.Name), msg)
			}
		}
		if names.has(v.Name) {
			el.duplicate(path+".name", quote(v.Name))
		}
		if len(el) == 0 {
			names.add(v.Name)
		} else {
			*errs = append(*errs, el...)
		}
	}
	return names
}

func validateContainers(errs *errorList, s *podSpec, volumes *strSet) {
	const base = "spec.containers"
	if len(s.Containers) == 0 {
		errs.required(base, "")
	}
	var names strSet
	for i := range s.Containers {
		c := &s.Containers[i]
		path := idx(base, i)
		validateContainerCommon(errs, path, c, volumes)
		if names.has(c.Name) {
			errs.duplicate(path+".name", quote(c.Name))
		} else {
			names.add(c.Name)
		}
		if c.Lifecycle != nil {
			validateHandler(errs, path+".lifecycle.postStart", c.Lifecycle.PostStart, false)
			validateHandler(errs, path+".lifecycle.preStop", c.Lifecycle.PreStop, false)
		}
		validateProbe(errs, path+".livenessProbe", c.LivenessProbe, true)
		validateProbe(errs, path+".readinessProbe", c.ReadinessProbe, false)
		validateProbe(errs, path+".startupProbe", c.StartupProbe, true)
		if c.ReadinessProbe != nil && c.ReadinessProbe.TerminationGracePeriodSeconds != nil {
			errs.invalid(path+".readinessProbe.terminationGracePeriodSeconds", num(*c.ReadinessProbe.TerminationGracePeriodSeconds), "must not be set for readinessProbes")
		}
		if c.RestartPolicy != nil {
			errs.forbidden(path+".restartPolicy", "may not be set for non-init containers")
		}
	}
	// Host ports are unique across containers, by IP and protocol.
	var hostPorts strSet
	for i := range s.Containers {
		for j, port := range s.Containers[i].Ports {
			if port.HostPort == 0 {
				continue
			}
			k := port.HostIP + "/" + port.Protocol + "/" + num(port.HostPort)
			if hostPorts.has(k) {
				errs.duplicate(idx(idx(base, i)+".ports", j)+".hostPort", quote(k))
			} else {
				hostPorts.add(k)
			}
		}
	}
}

func validateInitContainers(errs *errorList, s *podSpec, volumes *strSet) {
	const base = "spec.initContainers"
	var names strSet
	for i := range s.Containers {
		if !names.has(s.Containers[i].Name) {
			names.add(s.Containers[i].Name)
		}
	}
	for i := range s.InitContainers {
		c := &s.InitContainers[i]
		path := idx(base, i)
		validateContainerCommon(errs, path, c, volumes)
		sidecar := false
		if c.RestartPolicy != nil {
			if *c.RestartPolicy == "Always" {
				sidecar = true
			} else {
				errs.notSupported(path+".restartPolicy", quote(*c.RestartPolicy), "Always")
			}
		}
		if names.has(c.Name) {
			errs.duplicate(path+".name", quote(c.Name))
		} else if c.Name != "" {
			names.add(c.Name)
		}
		if sidecar {
			if c.Lifecycle != nil {
				validateHandler(errs, path+".lifecycle.postStart", c.Lifecycle.PostStart, false)
				validateHandler(errs, path+".lifecycle.preStop", c.Lifecycle.PreStop, false)
			}
			validateProbe(errs, path+".livenessProbe", c.LivenessProbe, true)
			validateProbe(errs, path+".readinessProbe", c.ReadinessProbe, false)
			validateProbe(errs, path+".startupProbe", c.StartupProbe, true)
			continue
		}
		const msg = "may not be set for init containers without restartPolicy=Always"
		if c.Lifecycle != nil {
			errs.forbidden(path+".lifecycle", msg)
		}
		if c.LivenessProbe != nil {
			errs.forbidden(path+".livenessProbe", msg)
		}
		if c.ReadinessProbe != nil {
			errs.forbidden(path+".readinessProbe", msg)
		}
		if c.StartupProbe != nil {
			errs.forbidden(path+".startupProbe", msg)
		}
	}
}

// validateContainerCommon holds the rules every kind of container shares.
func validateContainerCommon(errs *errorList, path string, c *container, volumes *strSet) {
	if c.Name == "" {
		errs.required(path+".name", "")
	} else {
		for _, msg := range isDNS1123Label(c.Name) {
			errs.invalid(path+".name", quote(c.Name), msg)
		}
	}
	if c.Image == "" {
		errs.required(path+".image", "")
	}
	switch c.TerminationMessagePolicy {
	case "", "File", "FallbackToLogsOnError":
	default:
		errs.notSupported(path+".terminationMessagePolicy", quote(c.TerminationMessagePolicy), "File", "FallbackToLogsOnError")
	}
	validatePorts(errs, path+".ports", c.Ports)
	validateEnv(errs, path+".env", c.Env)
	validateVolumeMounts(errs, path+".volumeMounts", c.VolumeMounts, volumes)
	switch c.ImagePullPolicy {
	case "", "Always", "IfNotPresent", "Never":
	default:
		errs.notSupported(path+".imagePullPolicy", quote(c.ImagePullPolicy), "Always", "IfNotPresent", "Never")
	}
	validateResources(errs, path+".resources", &c.Resources)
}

func validatePorts(errs *errorList, base string, ports []containerPort) {
	var names strSet
	for i, port := range ports {
		path := idx(base, i)
		if port.Name != "" {
			if msgs := isValidPortName(port.Name); len(msgs) > 0 {
				for _, msg := range msgs {
					errs.invalid(path+".name", quote(port.Name), msg)
				}
			} else if names.has(port.Name) {
				errs.duplicate(path+".name", quote(port.Name))
			} else {
				names.add(port.Name)
			}
		}
		if port.ContainerPort == 0 {
			errs.required(path+".containerPort", "")
		} else if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			errs.invalid(path+".containerPort", num(port.ContainerPort), inclusiveRangeError(1, 65535))
		}
		if port.HostPort != 0 && (port.HostPort < 1 || port.HostPort > 65535) {
			errs.invalid(path+".hostPort", num(port.HostPort), inclusiveRangeError(1, 65535))
		}
		switch port.Protocol {
		case "", "TCP", "UDP", "SCTP":
		default:
			errs.notSupported(path+".protocol", quote(port.Protocol), "SCTP", "TCP", "UDP")
		}
	}
}

func validateEnv(errs *errorList, base string, env []envVar) {
	for i := range env {
		ev := &env[i]
		path := idx(base, i)
		if ev.Name == "" {
			errs.required(path+".name", "")
		} else {
			for _, msg := range isRelaxedEnvVarName(ev.Name) {
				errs.invalid(path+".name", quote(ev.Name), msg)
			}
		}
		vf := ev.ValueFrom
		if vf == nil {
			continue
		}
		n := 0
		for _, set := range []bool{vf.FieldRef != nil, bool(vf.ResourceFieldRef), bool(vf.ConfigMapKeyRef), bool(vf.SecretKeyRef), bool(vf.FileKeyRef)} {
			if set {
				n++
			}
		}
		switch {
		case n == 0:
			errs.invalid(path+".valueFrom", `""`, "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`")
		case ev.Value != "":
			errs.invalid(path+".valueFrom", `""`, "may not be specified when `value` is not empty")
		case n > 1:
			errs.invalid(path+".valueFrom", `""`, "may not have more than one field specified at a time")
		}
	}
}

func validateVolumeMounts(errs *errorList, base string, mounts []volumeMount, volumes *strSet) {
	var paths strSet
	for i, m := range mounts {
		path := idx(base, i)
		if m.Name == "" {
			errs.required(path+".name", "")
		}
		if !volumes.has(m.Name) {
			errs.notFound(path+".name", quote(m.Name))
		}
		if m.MountPath == "" {
			errs.required(path+".mountPath", "")
		}
		if paths.has(m.MountPath) {
			errs.invalid(path+".mountPath", quote(m.MountPath), "must be unique")
		} else {
			paths.add(m.MountPath)
		}
	}
}

// validateResources is ValidateResourceRequirements: names, quantities, and requests
// no greater than limits (equal, for resources that cannot be overcommitted).
func validateResources(errs *errorList, base string, r *resources) {
	var limits [8]quantity // parsed limits, by index in r.Limits; ok[i] when valid
	var ok [8]bool
	for i, e := range r.Limits {
		path := key(base+".limits", e.name)
		validateResourceName(errs, path, e.name)
		if q, valid := validateQuantity(errs, path, e.name, e.raw); valid && i < len(limits) {
			limits[i], ok[i] = q, true
		}
	}
	limitOf := func(name string) (quantity, []byte, bool, bool) {
		for i, e := range r.Limits {
			if e.name != name {
				continue
			}
			if i < len(limits) {
				return limits[i], e.raw, ok[i], true
			}
			q, err := parseQuantity(strings.TrimSpace(rawQuantity(e.raw)))
			return q, e.raw, err == nil && q.sign() >= 0, true
		}
		return quantity{}, nil, false, false
	}
	for _, e := range r.Requests {
		path := key(base+".requests", e.name)
		validateResourceName(errs, path, e.name)
		q, valid := validateQuantity(errs, path, e.name, e.raw)
		if !valid {
			continue
		}
		lim, limRaw, limValid, limitSet := limitOf(e.name)
		switch {
		case limValid && !overcommitAllowed(e.name) && q.cmp(lim) != 0:
			errs.invalid(base+".requests", quote(rawQuantity(e.raw)), "must be equal to "+e.name+" limit of "+rawQuantity(limRaw))
		case limValid && q.cmp(lim) > 0:
			errs.invalid(base+".requests", quote(rawQuantity(e.raw)), "must be less than or equal to "+e.name+" limit of "+rawQuantity(limRaw))
		case !limitSet && !overcommitAllowed(e.name):
			errs.required(base+".limits", "Limit must be set for non overcommitable resources")
		}
	}
}

// rawQuantity is a quantity as written (a JSON string or number).
func rawQuantity(raw []byte) string {
	if len(raw) > 0 && raw[0] == '"' {
		r := sdk.NewJSONReader(raw)
		var s string
		setStr(r, &s)
		if r.Err() == nil {
			return s
		}
	}
	return string(bytes.TrimSpace(raw))
}

func validateQuantity(errs *errorList, path, name string, raw []byte) (quantity, bool) {
	s := rawQuantity(raw)
	q, err := parseQuantity(strings.TrimSpace(s))
	if err != nil {
		errs.invalid(path, quote(s), err.Error())
		return q, false
	}
	if q.sign() < 0 {
		errs.invalid(path, quote(s), isNegativeErrorMsg)
		return q, false
	}
	if !nativeResource(name) && q.exp < 0 {
		errs.invalid(path, quote(s), "must be an integer")
		return q, false
	}
	return q, true
}

// nativeResource: no domain, or a kubernetes.io one.
func nativeResource(name string) bool {
	slash := strings.IndexByte(name, '/')
	if slash < 0 {
		return true
	}
	d := name[:slash]
	return d == "kubernetes.io" || strings.HasSuffix(d, ".kubernetes.io")
}

func overcommitAllowed(name string) bool {
	return nativeResource(name) && !strings.HasPrefix(name, "hugepages-")
}

func validateResourceName(errs *errorList, path, name string) {
	if strings.IndexByte(name, '/') >= 0 {
		return
	}
	switch {
	case name == "cpu", name == "memory", name == "ephemeral-storage", strings.HasPrefix(name, "hugepages-"):
	default:
		errs.invalid(path, quote(name), "must be a standard resource for containers")
	}
}

// validateHandler checks a probe's or hook's handler: exactly one action. Probes may
// not sleep; hooks may not use gRPC.
func validateHandler(errs *errorList, path string, h *handler, isProbe bool) {
	if h == nil {
		return
	}
	n := 0
	for _, a := range []struct {
		name string
		set  bool
	}{
		{"exec", bool(h.Exec)}, {"httpGet", h.HTTPGet != nil}, {"tcpSocket", bool(h.TCPSocket)},
		{"grpc", isProbe && bool(h.GRPC)}, {"sleep", !isProbe && bool(h.Sleep)},
	} {
		if !a.set {
			continue
		}
		if n++; n > 1 {
			errs.forbidden(path+"."+a.name, "may not specify more than 1 handler type")
		}
	}
	if n == 0 {
		errs.required(path, "must specify a handler type")
	}
}

func validateProbe(errs *errorList, path string, p *probe, successMustBeOne bool) {
	if p == nil {
		return
	}
	validateHandler(errs, path, &p.handler, true)
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"initialDelaySeconds", p.InitialDelaySeconds}, {"timeoutSeconds", p.TimeoutSeconds}, {"periodSeconds", p.PeriodSeconds},
		{"successThreshold", p.SuccessThreshold}, {"failureThreshold", p.FailureThreshold},
	} {
		if f.v < 0 {
			errs.invalid(path+"."+f.name, num(f.v), isNegativeErrorMsg)
		}
	}
	if g := p.TerminationGracePeriodSeconds; g != nil && *g <= 0 {
		errs.invalid(path+".terminationGracePeriodSeconds", num(*g), "must be greater than 0")
	}
	if successMustBeOne && p.SuccessThreshold > 1 {
		errs.invalid(path+".successThreshold", num(p.SuccessThreshold), "must be 1")
	}
}

func validateTolerations(errs *errorList, ts []toleration) {
	for i, t := range ts {
		path := idx("spec.tolerations", i)
		switch t.Operator {
		case "", "Equal":
		case "Exists":
			if t.Value != "" {
				errs.invalid(path+".operator", quote(t.Value), "value must be empty when `operator` is 'Exists'")
			}
		default:
			errs.notSupported(path+".operator", quote(t.Operator), "Equal", "Exists")
		}
		if t.Key == "" && t.Operator != "Exists" {
			errs.invalid(path+".operator", quote(t.Operator), "operator must be Exists when `key` is empty, which means \"match all values and all keys\"")
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			errs.invalid(path+".effect", quote(t.Effect), "effect must be 'NoExecute' when `tolerationSeconds` is set")
		}
		switch t.Effect {
		case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			errs.notSupported(path+".effect", quote(t.Effect), "NoSchedule", "PreferNoSchedule", "NoExecute")
		}
	}
}
