package pods

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// buildStatus computes the pod's status as kubelet would. final computes the status
// of a deleted pod whose containers have all stopped: nothing restarts any more.
func (w *podWorker) buildStatus(pod *corev1.Pod, final bool) corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	var prev corev1.PodStatus
	if w.lastSent != nil {
		prev = *w.lastSent.DeepCopy()
	}
	st := corev1.PodStatus{
		QOSClass:          pod.Status.QOSClass,
		NominatedNodeName: pod.Status.NominatedNodeName,
		StartTime:         w.startTime,
	}
	if st.QOSClass == "" {
		st.QOSClass = qosClass(pod)
	}
	if ip := w.m.cfg.NodeIP; ip.IsValid() {
		st.HostIP = ip.String()
		st.HostIPs = []corev1.HostIP{{IP: ip.String()}}
	}
	ips := w.podIPs
	if pod.Spec.HostNetwork && st.HostIP != "" {
		ips = []string{st.HostIP}
	}
	if len(ips) > 0 {
		st.PodIP = ips[0]
		for _, ip := range ips {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	}

	creating := ""
	switch {
	case w.setupErr != "":
		creating = w.setupErr
	case w.volErr != "":
		creating = w.volErr
	}
	for i := range pod.Spec.InitContainers {
		spec := &pod.Spec.InitContainers[i]
		st.InitContainerStatuses = append(st.InitContainerStatuses, w.containerStatus(spec, true, "PodInitializing", creating))
	}
	appDefault := "ContainerCreating"
	if !w.initDone && len(pod.Spec.InitContainers) > 0 {
		appDefault = "PodInitializing"
	}
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		st.ContainerStatuses = append(st.ContainerStatuses, w.containerStatus(spec, false, appDefault, creating))
	}

	policy := pod.Spec.RestartPolicy
	if final {
		policy = corev1.RestartPolicyNever
	}
	st.Phase = podPhase(pod, policy, st.InitContainerStatuses, st.ContainerStatuses, w.initDone)
	if w.terminal != "" {
		st.Phase = w.terminal
	}

	// Conditions: those owned here are updated in place, the rest (set by others,
	// such as PodScheduled or DisruptionTarget) are kept in their order.
	conds := prev.Conditions
	if len(conds) == 0 {
		conds = append([]corev1.PodCondition(nil), pod.Status.Conditions...)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	set := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		status := corev1.ConditionFalse
		if ok {
			status = corev1.ConditionTrue
			reason, msg = "", ""
		}
		for i := range conds {
			if conds[i].Type == t {
				if conds[i].Status != status {
					conds[i].LastTransitionTime = now
				}
				conds[i].Status, conds[i].Reason, conds[i].Message = status, reason, msg
				return
			}
		}
		conds = append(conds, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
	}
	done := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	set(corev1.PodReadyToStartContainers, w.sandboxReady && !w.netTornDown && !final, "", "")
	// Initialized
	var notInit []string
	for _, cs := range st.InitContainerStatuses {
		if !(cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0) && !(cs.Started != nil && *cs.Started && isSidecarNamed(pod, cs.Name)) {
			notInit = append(notInit, cs.Name)
		}
	}
	initialized := w.initDone || len(notInit) == 0
	if initialized {
		set(corev1.PodInitialized, true, "", "")
	} else {
		set(corev1.PodInitialized, false, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(notInit, " ")))
	}
	var unready []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	for _, cs := range st.InitContainerStatuses {
		if isSidecarNamed(pod, cs.Name) && !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	ready := len(unready) == 0
	reason, msg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	if done {
		ready, reason, msg = false, "PodCompleted", ""
	}
	set(corev1.ContainersReady, ready, reason, msg)
	podReady := ready
	if ready {
		var gates []string
		for _, g := range pod.Spec.ReadinessGates {
			ok := false
			for _, c := range pod.Status.Conditions {
				if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
					ok = true
				}
			}
			if !ok {
				gates = append(gates, string(g.ConditionType))
			}
		}
		if len(gates) > 0 {
			podReady, reason, msg = false, "ReadinessGatesNotReady", fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gates[0])
		}
	}
	set(corev1.PodReady, podReady, reason, msg)
	hasScheduled := false
	for _, c := range conds {
		if c.Type == corev1.PodScheduled {
			hasScheduled = true
		}
	}
	if !hasScheduled {
		set(corev1.PodScheduled, true, "", "")
	}
	st.Conditions = conds
	return st
}

func isSidecarNamed(pod *corev1.Pod, name string) bool {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return isSidecar(&pod.Spec.InitContainers[i])
		}
	}
	return false
}

// containerStatus reports one container; w.mu is held.
func (w *podWorker) containerStatus(spec *corev1.Container, init bool, defaultReason, creating string) corev1.ContainerStatus {
	f := false
	cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: &f}
	c := w.ctrs[spec.Name]
	if c == nil {
		reason := defaultReason
		msg := ""
		if creating != "" {
			reason, msg = "ContainerCreating", creating
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		return cs
	}
	if c.imageRef != "" {
		cs.Image = c.imageRef
		cs.ImageID = c.imageID
	}
	if c.inst >= 0 {
		cs.RestartCount = int32(c.inst)
	}
	if c.id != "" {
		cs.ContainerID = "containerd://" + c.id
	}
	switch {
	case c.id == "" || c.waitReason != "":
		reason := c.waitReason
		msg := c.waitMsg
		if reason == "" {
			reason = defaultReason
			if creating != "" {
				reason, msg = "ContainerCreating", creating
			}
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		if c.exitHandled && c.term != nil {
			cs.LastTerminationState.Terminated = c.term.DeepCopy()
		} else if c.lastTerm != nil {
			cs.LastTerminationState.Terminated = c.lastTerm.DeepCopy()
		}
		if c.id == "" {
			cs.ContainerID = ""
		}
	case c.exitHandled:
		cs.State.Terminated = c.term.DeepCopy()
		if c.lastTerm != nil {
			cs.LastTerminationState.Terminated = c.lastTerm.DeepCopy()
		}
		// A completed init container counts as ready, as kubelet reports it.
		cs.Ready = init && !c.sidecar && c.term.ExitCode == 0
	default:
		started := c.st.StartedAt
		if started.IsZero() {
			started = time.Now()
		}
		switch c.st.State {
		case "created":
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		default:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started.Truncate(time.Second))}
		}
		if c.lastTerm != nil {
			cs.LastTerminationState.Terminated = c.lastTerm.DeepCopy()
		}
		t := c.started && cs.State.Running != nil
		cs.Started = &t
		cs.Ready = t && c.ready
	}
	return cs
}

// podPhase is kubelet's getPhase.
func podPhase(pod *corev1.Pod, policy corev1.RestartPolicy, inits, ctrs []corev1.ContainerStatus, initDone bool) corev1.PodPhase {
	if policy == "" {
		policy = corev1.RestartPolicyAlways
	}
	if !initDone {
		for _, cs := range inits {
			if isSidecarNamed(pod, cs.Name) {
				continue
			}
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && policy == corev1.RestartPolicyNever {
				return corev1.PodFailed
			}
		}
		if len(inits) > 0 {
			return corev1.PodPending
		}
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range ctrs {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch policy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		default:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
	}
	return corev1.PodPending
}

// qosClass computes the pod's QoS class when the API did not.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	any, guaranteed := false, true
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// statusEqual compares statuses as the API would store them: times at second
// precision, conditions in any order.
func statusEqual(a, b corev1.PodStatus) bool {
	a, b = *a.DeepCopy(), *b.DeepCopy()
	for _, s := range []*corev1.PodStatus{&a, &b} {
		sort.Slice(s.Conditions, func(i, j int) bool { return s.Conditions[i].Type < s.Conditions[j].Type })
		for i := range s.Conditions {
			s.Conditions[i].LastProbeTime = metav1.Time{}
		}
	}
	return apiequality.Semantic.DeepEqual(a, b)
}
