package registry

import "fmt"

// FormatPodStatus makes a column print a pod's status as kubectl's pod printer does
// (the STATUS of `kubectl get pods`): the phase, refined by the status reason,
// init-container progress (Init:0/2, Init:CrashLoopBackOff), waiting and terminated
// reasons of containers (ContainerCreating, CrashLoopBackOff, Completed, Error),
// Terminating for a pod being deleted, and NotReady. The column's JSONPath is ignored:
// the whole object is read.
const FormatPodStatus = "pod-status"

func podStatus(obj map[string]any) string {
	status, _ := obj["status"].(map[string]any)
	spec, _ := obj["spec"].(map[string]any)
	meta, _ := obj["metadata"].(map[string]any)
	reason, _ := status["phase"].(string)
	if r, _ := status["reason"].(string); r != "" {
		reason = r
	}
	initContainers, _ := spec["initContainers"].([]any)
	initStatuses, _ := status["initContainerStatuses"].([]any)
	initializing := false
	for i, raw := range initStatuses {
		cs, _ := raw.(map[string]any)
		state, _ := cs["state"].(map[string]any)
		if t, ok := state["terminated"].(map[string]any); ok {
			if code, _ := t["exitCode"].(int64); code == 0 {
				continue
			}
			initializing = true
			switch r, _ := t["reason"].(string); {
			case r != "":
				reason = "Init:" + r
			default:
				if sig, _ := t["signal"].(int64); sig != 0 {
					reason = fmt.Sprintf("Init:Signal:%d", sig)
				} else {
					code, _ := t["exitCode"].(int64)
					reason = fmt.Sprintf("Init:ExitCode:%d", code)
				}
			}
			break
		}
		if w, ok := state["waiting"].(map[string]any); ok {
			if r, _ := w["reason"].(string); r != "" && r != "PodInitializing" {
				initializing = true
				reason = "Init:" + r
				break
			}
		}
		if started, _ := cs["started"].(bool); state["running"] != nil && started && isRestartableInit(initContainers, i) {
			continue // a sidecar that runs is initialized
		}
		initializing = true
		reason = fmt.Sprintf("Init:%d/%d", i, len(initContainers))
		break
	}
	if !initializing {
		hasRunning := false
		statuses, _ := status["containerStatuses"].([]any)
		for i := len(statuses) - 1; i >= 0; i-- {
			cs, _ := statuses[i].(map[string]any)
			state, _ := cs["state"].(map[string]any)
			if w, ok := state["waiting"].(map[string]any); ok {
				if r, _ := w["reason"].(string); r != "" {
					reason = r
				}
			} else if t, ok := state["terminated"].(map[string]any); ok {
				if r, _ := t["reason"].(string); r != "" {
					reason = r
				} else if sig, _ := t["signal"].(int64); sig != 0 {
					reason = fmt.Sprintf("Signal:%d", sig)
				} else {
					code, _ := t["exitCode"].(int64)
					reason = fmt.Sprintf("ExitCode:%d", code)
				}
			} else if ready, _ := cs["ready"].(bool); ready && state["running"] != nil {
				hasRunning = true
			}
		}
		if reason == "Completed" && hasRunning {
			reason = "Running"
			if !podReadyCondition(status) {
				reason = "NotReady"
			}
		}
	}
	if dt, _ := meta["deletionTimestamp"].(string); dt != "" {
		if r, _ := status["reason"].(string); r == "NodeLost" {
			return "Unknown"
		}
		return "Terminating"
	}
	return reason
}

func isRestartableInit(initContainers []any, i int) bool {
	if i >= len(initContainers) {
		return false
	}
	c, _ := initContainers[i].(map[string]any)
	p, _ := c["restartPolicy"].(string)
	return p == "Always"
}

func podReadyCondition(status map[string]any) bool {
	conds, _ := status["conditions"].([]any)
	for _, raw := range conds {
		c, _ := raw.(map[string]any)
		if c["type"] == "Ready" {
			return c["status"] == "True"
		}
	}
	return false
}
