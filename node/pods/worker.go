package pods

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/cni"
	"weft.dev/weft/node/agent"
	"weft.dev/weft/node/image"
	"weft.dev/weft/node/runtime"
)

// retryDelay is how soon a reconcile retries a step that failed for a reason that
// may go away by itself (a missing ConfigMap, a failed CNI ADD).
const retryDelay = 2 * time.Second

// podWorker owns one pod. Its run goroutine does all the work; mu guards what other
// goroutines (Sync, probes, Logs, Exec) read or write.
type podWorker struct {
	m    *Manager
	uid  types.UID
	dir  string
	wake chan struct{}
	// started is guarded by m.mu.
	started bool
	// prio orders the pod's turns at Manager.gate: pods met earlier go first.
	prio uint64

	mu        sync.Mutex
	pod       *corev1.Pod
	forgotten bool
	ctrs      map[string]*ctrState
	final     *agent.Update // the Terminated update, once sent
	seed      *corev1.PodStatus

	// Owned by the run goroutine.
	sandboxReady bool
	netTornDown  bool
	netns        string
	podIPs       []string
	setupErr     string
	volumes      map[string]string // volume name -> host path
	volHash      map[string]string
	volErr       string
	filesWritten bool
	initDone     bool
	terminal     corev1.PodPhase // Succeeded or Failed once the pod is done for good
	lastSent     *corev1.PodStatus
	startTime    *metav1.Time
	termStart    time.Time
}

// ctrState is one container of the pod across its instances.
type ctrState struct {
	name    string
	init    bool
	sidecar bool

	inst        int // current instance number (its restartCount); -1 before the first
	id          string
	prevID      string
	st          runtime.Status
	exitHandled bool
	term        *corev1.ContainerStateTerminated // current instance, once exited
	lastTerm    *corev1.ContainerStateTerminated // previous instance
	imageRef    string
	imageID     string

	waitReason, waitMsg string
	retryAt             time.Time
	backoff             time.Duration
	backoffAt           time.Time
	pullBackoff         time.Duration

	probeCancel context.CancelFunc
	started     bool
	ready       bool
	killReq     string
	killing     bool
}

// newWorker makes the worker of a pod; m.mu is held, or m is not shared yet.
func newWorker(m *Manager, uid types.UID) *podWorker {
	m.workerSeq++
	return &podWorker{
		m:       m,
		uid:     uid,
		prio:    m.workerSeq,
		dir:     m.podDir(uid),
		wake:    make(chan struct{}, 1),
		ctrs:    map[string]*ctrState{},
		volumes: map[string]string{},
		volHash: map[string]string{},
	}
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) hasPod() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod != nil
}

func (w *podWorker) forget() {
	w.mu.Lock()
	w.forgotten = true
	w.mu.Unlock()
}

// setPod takes a new version of the pod from Sync.
func (w *podWorker) setPod(pod *corev1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	first := w.pod == nil
	w.pod = pod
	if w.final != nil {
		// The agent syncs a pod we have finished: say so again.
		u := *w.final
		u.Pod = pod.DeepCopy()
		u.Pod.Status = *w.final.Pod.Status.DeepCopy()
		w.m.publish(u)
		return
	}
	if !first {
		return
	}
	// The pod's status in the API is what the agent knows; an Update is only due when
	// ours differs from it. It also carries what an adopted pod's containers were
	// (ready, started), which containerd does not know.
	st := pod.Status.DeepCopy()
	w.seed = st
	for _, cs := range append(append([]corev1.ContainerStatus{}, st.InitContainerStatuses...), st.ContainerStatuses...) {
		c := w.ctrs[cs.Name]
		if c == nil || c.id == "" || cs.ContainerID != "containerd://"+c.id {
			continue
		}
		c.ready = cs.Ready
		c.started = cs.Started != nil && *cs.Started
		// What containerd cannot tell (OOMKilled, termination messages) comes back
		// from the API for the instances it describes.
		if t := cs.State.Terminated; t != nil && c.term != nil && t.ContainerID == c.term.ContainerID {
			c.term = t.DeepCopy()
		}
		if t := cs.LastTerminationState.Terminated; t != nil && c.lastTerm != nil && t.ContainerID == c.lastTerm.ContainerID {
			c.lastTerm = t.DeepCopy()
		}
	}
}

// takeSeed applies the API status of a pod met for the first time.
func (w *podWorker) takeSeed() {
	w.mu.Lock()
	seed := w.seed
	w.seed = nil
	w.mu.Unlock()
	if seed == nil {
		return
	}
	w.lastSent = seed
	if w.startTime == nil {
		w.startTime = seed.StartTime
	}
	if seed.Phase == corev1.PodSucceeded || seed.Phase == corev1.PodFailed {
		// Terminal phases are final: a restarted agent never runs such a pod again.
		w.terminal = seed.Phase
	}
}

func (w *podWorker) snapshot() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.forgotten
}

func (w *podWorker) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stopAllProbes()
			return
		case <-w.wake:
		case <-timer.C:
		}
		next, done := w.reconcile(ctx)
		if done {
			w.m.removeWorker(w)
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

func (w *podWorker) log() *slog.Logger { return w.m.log.With("pod", string(w.uid)) }

// reconcile does one round of work and says when the next is due.
func (w *podWorker) reconcile(ctx context.Context) (time.Duration, bool) {
	pod, forgotten := w.snapshot()
	if forgotten {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := w.cleanup(cctx); err != nil {
			w.log().Error("cleanup of forgotten pod", "err", err)
			return retryDelay, false
		}
		return 0, true
	}
	if pod == nil {
		return w.m.cfg.ResyncInterval, false // adopted; waits for its Sync
	}
	w.mu.Lock()
	final := w.final
	w.mu.Unlock()
	if final != nil {
		return time.Hour, false
	}
	w.takeSeed()
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			w.ctr(pod.Spec.InitContainers[i].Name, true).sidecar = true
		}
	}
	if pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod)
	}

	next := w.m.cfg.ResyncInterval
	soon := func(d time.Duration) {
		if d < 10*time.Millisecond {
			d = 10 * time.Millisecond
		}
		if d < next {
			next = d
		}
	}
	if w.startTime == nil {
		t := metav1.NewTime(time.Now().Truncate(time.Second))
		w.startTime = &t
	}
	w.refresh(ctx, pod)
	if w.terminal == "" {
		if err := w.ensureSandbox(ctx, pod); errors.Is(err, errTurnAbandoned) {
			return w.m.cfg.ResyncInterval, false // deleting (poked again), or the agent stops
		} else if err != nil {
			w.setupErr = err.Error()
			w.log().Warn("pod sandbox", "err", err)
			soon(retryDelay)
		} else {
			w.setupErr = ""
		}
		if w.sandboxReady {
			if err := w.syncVolumes(pod); err != nil {
				w.volErr = err.Error()
				soon(retryDelay)
			} else {
				w.volErr = ""
			}
			if w.volErr == "" {
				w.startContainers(ctx, pod, soon)
			}
		}
	}
	st := w.buildStatus(pod, false)
	if (st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed) && w.terminal == "" {
		// Done for good: nothing restarts any more. Sidecars still running are
		// stopped, as kubelet does once the main containers have finished.
		w.terminal = st.Phase
		w.stopAllProbes()
		if w.stopRunning(ctx, podGrace(pod, w.m.cfg.DefaultGracePeriod)) {
			w.refresh(ctx, pod)
			st = w.buildStatus(pod, false)
		}
	}
	if w.terminal != "" && !w.netTornDown {
		// The address goes back at once; containers and logs stay until the pod is
		// deleted.
		if w.m.cfg.Network != nil && !pod.Spec.HostNetwork {
			if err := w.m.cfg.Network.Teardown(ctx, string(w.uid)); err != nil {
				w.log().Warn("release network of finished pod", "err", err)
				soon(retryDelay)
			} else {
				w.netTornDown = true
			}
		} else {
			w.netTornDown = true
		}
		if w.netTornDown {
			st = w.buildStatus(pod, false) // PodReadyToStartContainers goes False
		}
	}
	w.send(pod, st, false)
	return next, false
}

// send publishes st if it differs from what was sent last.
func (w *podWorker) send(pod *corev1.Pod, st corev1.PodStatus, terminated bool) {
	if !terminated && w.lastSent != nil && statusEqual(*w.lastSent, st) {
		return
	}
	w.lastSent = st.DeepCopy()
	p := pod.DeepCopy()
	p.Status = st
	u := agent.Update{Pod: p, Terminated: terminated}
	if terminated {
		w.mu.Lock()
		w.final = &agent.Update{Pod: p.DeepCopy(), Terminated: true}
		w.mu.Unlock()
	}
	w.m.publish(u)
}

// ctr returns the state of a container, creating it.
func (w *podWorker) ctr(name string, init bool) *ctrState {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.ctrs[name]
	if c == nil {
		c = &ctrState{name: name, init: init, inst: -1}
		w.ctrs[name] = c
	}
	c.init = init
	return c
}

// refresh reads the state of every current instance and handles exits.
func (w *podWorker) refresh(ctx context.Context, pod *corev1.Pod) {
	w.mu.Lock()
	ctrs := make([]*ctrState, 0, len(w.ctrs))
	for _, c := range w.ctrs {
		ctrs = append(ctrs, c)
	}
	w.mu.Unlock()
	for _, c := range ctrs {
		if c.id == "" || c.exitHandled {
			continue
		}
		st, err := w.m.rt.Status(ctx, c.id)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			// Someone removed it behind our back; kubelet reports the same.
			now := metav1.NewTime(time.Now().Truncate(time.Second))
			w.setExited(c, &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "ContainerStatusUnknown",
				Message:    "The container could not be located when the pod was terminated",
				StartedAt:  metav1.NewTime(c.st.StartedAt.Truncate(time.Second)),
				FinishedAt: now, ContainerID: "containerd://" + c.id,
			})
			continue
		case err != nil:
			w.log().Warn("container status", "container", c.name, "err", err)
			continue
		}
		w.mu.Lock()
		c.st = st
		w.mu.Unlock()
		switch st.State {
		case runtime.StateExited:
			w.setExited(c, w.terminatedFrom(ctx, pod, c, st))
		case runtime.StateRunning:
			spec := containerSpec(pod, c.name)
			if c.probeCancel == nil && spec != nil && w.terminal == "" && pod.DeletionTimestamp == nil {
				w.startProbes(ctx, pod, c, spec)
			}
			w.mu.Lock()
			kill := c.killReq != "" && !c.killing
			if kill {
				c.killing = true
			}
			w.mu.Unlock()
			if kill {
				w.log().Info("killing container", "container", c.name, "reason", c.killReq)
				grace := podGrace(pod, w.m.cfg.DefaultGracePeriod)
				id := c.id
				go func() {
					sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace+30*time.Second)
					defer cancel()
					if err := w.m.rt.Stop(sctx, id, grace); err != nil {
						w.log().Warn("stop container", "id", id, "err", err)
					}
					w.poke()
				}()
			}
		}
	}
}

func (w *podWorker) setExited(c *ctrState, term *corev1.ContainerStateTerminated) {
	w.stopProbes(c)
	w.mu.Lock()
	defer w.mu.Unlock()
	c.exitHandled = true
	c.term = term
	c.ready = false
	c.started = false
	c.killReq = ""
	c.killing = false
}

// terminatedFrom turns an exited instance into its API state.
func (w *podWorker) terminatedFrom(ctx context.Context, pod *corev1.Pod, c *ctrState, st runtime.Status) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(st.ExitCode),
		StartedAt:   metav1.NewTime(st.StartedAt.Truncate(time.Second)),
		FinishedAt:  metav1.NewTime(st.FinishedAt.Truncate(time.Second)),
		ContainerID: "containerd://" + st.ID,
	}
	oom := w.m.oomKilled(st.ID)
	if !oom && st.ExitCode == 137 {
		if spec := containerSpec(pod, c.name); spec != nil && !spec.Resources.Limits.Memory().IsZero() {
			// The OOM event travels apart from the exit and can trail it by seconds
			// on a busy machine, so ask the cgroup's counter first. The event still
			// counts: the shim may be unable to read its cgroup.
			n, err := w.m.rt.OOMKills(ctx, st.ID)
			if err != nil {
				w.log().Debug("oom counter", "container", c.name, "err", err)
			}
			oom = n > 0
			for deadline := time.Now().Add(2 * time.Second); !oom && err != nil && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				oom = w.m.oomKilled(st.ID)
			}
		}
	}
	switch {
	case oom:
		t.Reason = "OOMKilled"
	case st.ExitCode == 0:
		t.Reason = "Completed"
	default:
		t.Reason = "Error"
	}
	if t.FinishedAt.IsZero() {
		t.FinishedAt = metav1.NewTime(time.Now().Truncate(time.Second))
	}
	if spec := containerSpec(pod, c.name); spec != nil {
		t.Message = w.terminationMessage(spec, c.inst, st.ExitCode != 0)
	}
	return t
}

// terminationMessage reads the container's terminationMessagePath file, or the tail
// of its log under FallbackToLogsOnError, as kubelet does (at most 4096 bytes).
func (w *podWorker) terminationMessage(spec *corev1.Container, inst int, failed bool) string {
	b, _ := os.ReadFile(w.termPath(spec.Name, inst))
	if len(b) == 0 && failed && spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		var out strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = runtime.ReadLogs(ctx, w.logPath(spec.Name, inst), runtime.LogOptions{Tail: 80}, &out, &out)
		b = []byte(out.String())
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// startContainers runs init containers in order, then the app containers, and
// restarts what exited according to restartPolicy.
func (w *podWorker) startContainers(ctx context.Context, pod *corev1.Pod, soon func(time.Duration)) {
	policy := pod.Spec.RestartPolicy
	if policy == "" {
		policy = corev1.RestartPolicyAlways
	}
	if !w.initDone {
		done := true
		for i := range pod.Spec.InitContainers {
			spec := &pod.Spec.InitContainers[i]
			c := w.ctr(spec.Name, true)
			if isSidecar(spec) {
				c.sidecar = true
				w.ensureRunning(ctx, pod, spec, c, soon)
				if c.id == "" || c.exitHandled || !c.started {
					done = false
					break
				}
				continue
			}
			if c.exitHandled && c.term != nil && c.term.ExitCode == 0 && c.waitReason == "" {
				continue // completed
			}
			done = false
			if c.id != "" && !c.exitHandled {
				break // running
			}
			if c.exitHandled && policy == corev1.RestartPolicyNever {
				break // failed for good; the phase says Failed
			}
			w.ensureRunning(ctx, pod, spec, c, soon)
			break
		}
		if !done {
			return
		}
		w.initDone = true
	} else {
		for i := range pod.Spec.InitContainers {
			if spec := &pod.Spec.InitContainers[i]; isSidecar(spec) {
				c := w.ctr(spec.Name, true)
				c.sidecar = true
				w.ensureRunning(ctx, pod, spec, c, soon)
			}
		}
	}
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		c := w.ctr(spec.Name, false)
		if c.id != "" && !c.exitHandled {
			if c.imageRef != "" && !sameImage(c.imageRef, spec.Image) && !c.killing {
				w.mu.Lock()
				c.killReq = "image changed"
				w.mu.Unlock()
				w.poke()
			}
			continue
		}
		if c.exitHandled && c.waitReason == "" {
			restart := policy == corev1.RestartPolicyAlways ||
				policy == corev1.RestartPolicyOnFailure && c.term != nil && c.term.ExitCode != 0
			if !restart {
				continue
			}
		}
		w.ensureRunning(ctx, pod, spec, c, soon)
	}
}

func isSidecar(spec *corev1.Container) bool {
	return spec.RestartPolicy != nil && *spec.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func sameImage(a, b string) bool {
	na, err1 := image.Normalize(a)
	nb, err2 := image.Normalize(b)
	return err1 == nil && err2 == nil && na == nb
}

// ensureRunning starts the container's next instance unless one runs, honouring the
// crash loop and pull backoffs.
func (w *podWorker) ensureRunning(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, c *ctrState, soon func(time.Duration)) {
	if c.id != "" && !c.exitHandled {
		return
	}
	now := time.Now()
	if now.Before(c.retryAt) {
		soon(c.retryAt.Sub(now))
		return
	}
	if c.exitHandled && c.term != nil && c.waitReason != "CrashLoopBackOff" {
		// kubelet's doBackOff: the first restart is immediate, each later one waits
		// twice as long after the exit, up to the maximum; a container that went long
		// enough without a restart starts over.
		fin := c.term.FinishedAt.Time
		if c.backoff > 0 && fin.Sub(c.backoffAt) <= w.m.cfg.BackoffReset && now.Sub(fin) < c.backoff {
			w.mu.Lock()
			c.waitReason = "CrashLoopBackOff"
			c.waitMsg = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", c.backoff, c.name, pod.Name, pod.Namespace, pod.UID)
			c.retryAt = fin.Add(c.backoff)
			w.mu.Unlock()
			soon(c.retryAt.Sub(now))
			return
		}
	}
	if c.exitHandled && c.term != nil {
		if c.backoff == 0 || c.term.FinishedAt.Time.Sub(c.backoffAt) > w.m.cfg.BackoffReset {
			c.backoff = w.m.cfg.BackoffInitial
		} else {
			c.backoff = min(2*c.backoff, w.m.cfg.BackoffMax)
		}
		c.backoffAt = now
	}
	w.startInstance(ctx, pod, spec, c, soon)
}

func (w *podWorker) setWaiting(c *ctrState, reason, msg string, retry time.Duration, soon func(time.Duration)) {
	w.mu.Lock()
	c.waitReason, c.waitMsg = reason, msg
	c.retryAt = time.Now().Add(retry)
	w.mu.Unlock()
	soon(retry)
}

// startInstance creates and starts the container's next instance.
func (w *podWorker) startInstance(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, c *ctrState, soon func(time.Duration)) {
	cfg := w.m.cfg
	t0 := time.Now()
	pctx, cancel := context.WithTimeout(ctx, cfg.PullTimeout)
	img, err := w.m.ensureImage(pctx, spec.Image, image.PullPolicy(spec.ImagePullPolicy))
	cancel()
	if err != nil {
		reason := "ErrImagePull"
		if _, nerr := image.Normalize(spec.Image); nerr != nil {
			reason = "InvalidImageName"
		} else if errors.Is(err, image.ErrNotPresent) {
			reason = "ErrImageNeverPull"
		} else if c.pullBackoff > 0 {
			reason = "ImagePullBackOff"
		}
		if c.pullBackoff == 0 {
			c.pullBackoff = cfg.BackoffInitial
		} else {
			c.pullBackoff = min(2*c.pullBackoff, cfg.BackoffMax)
		}
		msg := err.Error()
		if reason == "ImagePullBackOff" {
			msg = fmt.Sprintf("Back-off pulling image %q: %v", spec.Image, err)
		}
		w.setWaiting(c, reason, msg, c.pullBackoff, soon)
		return
	}
	c.pullBackoff = 0
	imageRef := img.Name()
	imageID := imageRef
	if i := strings.LastIndexAny(imageRef, ":@"); i > strings.LastIndex(imageRef, "/") {
		imageID = imageRef[:i]
	}
	imageID += "@" + img.Target().Digest.String()

	env, err := w.buildEnv(pod, spec)
	if err != nil {
		w.setWaiting(c, "CreateContainerConfigError", err.Error(), retryDelay, soon)
		return
	}
	envMap := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	n := c.inst + 1
	mounts, err := w.containerMounts(pod, spec, n, envMap)
	if err != nil {
		w.setWaiting(c, "CreateContainerConfigError", err.Error(), retryDelay, soon)
		return
	}
	id := containerID(w.uid, spec.Name, n)
	rs := runtime.Spec{
		ID:          id,
		Image:       imageRef,
		Command:     expandAll(spec.Command, envMap),
		Args:        expandAll(spec.Args, envMap),
		Env:         env,
		WorkingDir:  spec.WorkingDir,
		Hostname:    podHostname(pod),
		NetNSPath:   w.netns,
		HostNetwork: pod.Spec.HostNetwork,
		Mounts:      mounts,
		Limits:      limitsFor(spec),
		LogPath:     w.logPath(spec.Name, n),
		ShimGroup:   w.m.shimGroup(w.prio),
		Labels: map[string]string{
			LabelNode:      cfg.NodeName,
			LabelPodUID:    string(w.uid),
			LabelPodName:   pod.Name,
			LabelNamespace: pod.Namespace,
			LabelContainer: spec.Name,
			LabelRestart:   strconv.Itoa(n),
			LabelImageID:   imageID,
		},
	}
	if pod.Spec.HostNetwork {
		rs.Hostname = ""
	}
	if c.init {
		rs.Labels[LabelInit] = "true"
	}
	// A crash between create and start in an earlier run leaves the record behind.
	_ = w.m.rt.Delete(ctx, id)
	w.m.registerContainer(id, w.uid)
	release, err := w.turn(ctx)
	if err != nil {
		w.m.unregisterContainer(id)
		return
	}
	defer release()
	t1 := time.Now()
	if err := w.m.rt.CreateContainer(ctx, rs); err != nil {
		w.m.unregisterContainer(id)
		w.setWaiting(c, "CreateContainerError", err.Error(), retryDelay, soon)
		return
	}
	// The instance before the previous one is no longer needed by anyone.
	if c.prevID != "" {
		if err := w.m.rt.Delete(ctx, c.prevID); err != nil {
			w.log().Warn("delete old container", "id", c.prevID, "err", err)
		}
		w.m.unregisterContainer(c.prevID)
		_ = os.Remove(w.logPath(spec.Name, c.inst-1))
		_ = os.Remove(w.termPath(spec.Name, c.inst-1))
	}
	w.mu.Lock()
	if c.id != "" {
		c.prevID = c.id
		c.lastTerm = c.term
	}
	c.id, c.inst = id, n
	c.exitHandled, c.term = false, nil
	c.waitReason, c.waitMsg = "", ""
	c.retryAt = time.Time{}
	c.imageRef, c.imageID = imageRef, imageID
	c.ready, c.started = false, false
	c.st = runtime.Status{ID: id, Image: imageRef, State: runtime.StateCreated}
	w.mu.Unlock()

	t2 := time.Now()
	if err := w.m.rt.Start(ctx, id); err != nil {
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		w.setExited(c, &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: err.Error(),
			StartedAt: now, FinishedAt: now, ContainerID: "containerd://" + id,
		})
		w.poke()
		return
	}
	release()
	w.log().Debug("container started", "container", spec.Name, "instance", n,
		"prepare", t1.Sub(t0), "create", t2.Sub(t1), "start", time.Since(t2))
	if st, err := w.m.rt.Status(ctx, id); err == nil {
		w.mu.Lock()
		c.st = st
		w.mu.Unlock()
	}
	if spec.Lifecycle != nil && spec.Lifecycle.PostStart != nil {
		hctx, cancel := context.WithTimeout(ctx, podGrace(pod, cfg.DefaultGracePeriod)+time.Minute)
		err := w.runHandler(hctx, pod, spec, id, spec.Lifecycle.PostStart)
		cancel()
		if err != nil {
			w.log().Warn("postStart hook failed; killing container", "container", spec.Name, "err", err)
			w.mu.Lock()
			c.killReq = "FailedPostStartHook: " + err.Error()
			w.mu.Unlock()
			w.poke()
		}
	}
	if c.st.State == runtime.StateRunning {
		w.startProbes(ctx, pod, c, spec)
	}
}

// terminate stops a deleting pod within its grace period and removes everything of
// it; the Terminated update ends the worker's job.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod) (time.Duration, bool) {
	if w.termStart.IsZero() {
		w.termStart = time.Now()
	}
	w.stopAllProbes()
	w.refresh(ctx, pod)
	w.mu.Lock()
	var running []*ctrState
	for _, c := range w.ctrs {
		if c.id != "" && !c.exitHandled {
			running = append(running, c)
		}
	}
	w.mu.Unlock()

	deadline := func() time.Time {
		p, forgotten := w.snapshot()
		if forgotten {
			return w.termStart // gone from the API: no more grace
		}
		if p == nil {
			p = pod
		}
		return w.termStart.Add(deletionGrace(p, w.m.cfg.DefaultGracePeriod))
	}
	if len(running) > 0 {
		stopCtx, cancelStop := context.WithCancel(ctx)
		defer cancelStop()
		var wg sync.WaitGroup
		for _, c := range running {
			spec := containerSpec(pod, c.name)
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				dl := deadline()
				if spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil {
					hctx, cancel := context.WithDeadline(stopCtx, dl)
					if err := w.runHandler(hctx, pod, spec, id, spec.Lifecycle.PreStop); err != nil {
						w.log().Info("preStop hook", "container", spec.Name, "err", err)
					}
					cancel()
				}
				_ = w.m.rt.Stop(stopCtx, id, max(time.Until(dl), 0))
			}(c.id)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
	wait:
		for {
			timer := time.NewTimer(max(time.Until(deadline()), 0))
			select {
			case <-done:
				timer.Stop()
				break wait
			case <-ctx.Done():
				// The agent is stopping; the next run adopts the pod and carries on.
				timer.Stop()
				cancelStop()
				<-done
				return 0, false
			case <-w.wake:
				timer.Stop() // a shorter grace period may have come with a Sync
			case <-timer.C:
				// Past the deadline: whatever still runs is killed now.
				cancelStop()
				<-done
				kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				for _, c := range running {
					if err := w.m.rt.Stop(kctx, c.id, 0); err != nil {
						w.log().Warn("kill container", "container", c.name, "err", err)
					}
				}
				cancel()
				break wait
			}
		}
	}
	// Read the final states (exit codes) before the records go.
	w.refresh(ctx, pod)
	w.mu.Lock()
	for _, c := range w.ctrs {
		if c.id != "" && !c.exitHandled {
			c.exitHandled = true
			now := metav1.NewTime(time.Now().Truncate(time.Second))
			c.term = &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error", StartedAt: metav1.NewTime(c.st.StartedAt.Truncate(time.Second)), FinishedAt: now, ContainerID: "containerd://" + c.id}
		}
		c.waitReason = ""
	}
	w.mu.Unlock()
	st := w.buildStatus(pod, true)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := w.cleanup(cctx); err != nil {
		w.log().Error("clean up deleted pod", "err", err)
		return retryDelay, false
	}
	w.send(pod, st, true)
	return time.Hour, false
}

// stopRunning stops every running instance within grace and says whether there
// were any.
func (w *podWorker) stopRunning(ctx context.Context, grace time.Duration) bool {
	w.mu.Lock()
	var ids []string
	for _, c := range w.ctrs {
		if c.id != "" && !c.exitHandled {
			ids = append(ids, c.id)
		}
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, grace+30*time.Second)
			defer cancel()
			if err := w.m.rt.Stop(sctx, id, grace); err != nil {
				w.log().Warn("stop container", "id", id, "err", err)
			}
		}()
	}
	wg.Wait()
	return len(ids) > 0
}

// cleanup removes every trace of the pod: containers (killed if running), its
// network, mounts and directory. It is idempotent.
func (w *podWorker) cleanup(ctx context.Context) error {
	w.stopAllProbes()
	var errs []error
	list, err := w.m.rt.List(ctx, map[string]string{LabelPodUID: string(w.uid)})
	if err != nil {
		errs = append(errs, err)
	}
	for _, s := range list {
		if err := w.m.rt.Delete(ctx, s.ID); err != nil {
			errs = append(errs, err)
		}
		w.m.unregisterContainer(s.ID)
	}
	if n := w.m.cfg.Network; n != nil {
		if _, err := n.Status(ctx, string(w.uid)); err == nil {
			if err := n.Teardown(ctx, string(w.uid)); err != nil {
				errs = append(errs, err)
			}
		} else if !errors.Is(err, cni.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := removePodDir(w.dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		w.mu.Lock()
		for _, c := range w.ctrs {
			c.id, c.prevID = "", ""
		}
		w.mu.Unlock()
		w.sandboxReady = false
	}
	return errors.Join(errs...)
}

func (w *podWorker) logPath(container string, inst int) string {
	return filepath.Join(w.dir, "logs", container, strconv.Itoa(inst)+".log")
}

func (w *podWorker) termPath(container string, inst int) string {
	return filepath.Join(w.dir, "term", container, strconv.Itoa(inst))
}

// logTarget finds the log file of a container's current or previous instance.
func (w *podWorker) logTarget(container string, previous bool) (string, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pod == nil {
		return "", "", fmt.Errorf("%w: %s", ErrPodNotFound, w.uid)
	}
	name := defaultContainer(w.pod, container)
	c := w.ctrs[name]
	if c == nil {
		if containerSpec(w.pod, name) == nil {
			return "", "", fmt.Errorf("%w: container %q is not valid for pod %q", ErrContainerNotFound, name, w.pod.Name)
		}
		return "", "", fmt.Errorf("%w: container %q in pod %q is waiting to start", ErrNotStarted, name, w.pod.Name)
	}
	if previous {
		if c.inst < 1 || c.prevID == "" {
			return "", "", fmt.Errorf("%w: previous terminated container %q in pod %q not found", ErrContainerNotFound, name, w.pod.Name)
		}
		return w.logPath(name, c.inst-1), c.prevID, nil
	}
	if c.inst < 0 {
		reason := c.waitReason
		if reason == "" {
			reason = "ContainerCreating"
		}
		return "", "", fmt.Errorf("%w: container %q in pod %q is waiting to start: %s", ErrNotStarted, name, w.pod.Name, reason)
	}
	return w.logPath(name, c.inst), c.id, nil
}

func (w *podWorker) execTarget(container string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pod == nil {
		return "", fmt.Errorf("%w: %s", ErrPodNotFound, w.uid)
	}
	name := defaultContainer(w.pod, container)
	c := w.ctrs[name]
	if c == nil && containerSpec(w.pod, name) == nil {
		return "", fmt.Errorf("%w: container %q is not valid for pod %q", ErrContainerNotFound, name, w.pod.Name)
	}
	if c == nil || c.id == "" || c.exitHandled {
		return "", fmt.Errorf("%w: container %q in pod %q", runtime.ErrNotRunning, name, w.pod.Name)
	}
	return c.id, nil
}

func defaultContainer(pod *corev1.Pod, name string) string {
	if name != "" {
		return name
	}
	if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" {
		return d
	}
	if len(pod.Spec.Containers) > 0 {
		return pod.Spec.Containers[0].Name
	}
	return ""
}

func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// containerID names a container instance: short, unique per pod, container and
// instance, and valid for containerd.
func containerID(uid types.UID, name string, inst int) string {
	sum := sha256.Sum256([]byte(uid))
	n := name
	if strings.Contains(n, "--") || len(n) > 40 {
		h := sha256.Sum256([]byte(name))
		n = "c" + hex.EncodeToString(h[:])[:12]
	}
	return hex.EncodeToString(sum[:])[:12] + "-" + n + "-" + strconv.Itoa(inst)
}

func podGrace(pod *corev1.Pod, def time.Duration) time.Duration {
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil {
		return time.Duration(*s) * time.Second
	}
	return def
}

func deletionGrace(pod *corev1.Pod, def time.Duration) time.Duration {
	if s := pod.DeletionGracePeriodSeconds; s != nil {
		return time.Duration(*s) * time.Second
	}
	return podGrace(pod, def)
}

func podHostname(pod *corev1.Pod) string {
	h := pod.Name
	if pod.Spec.Hostname != "" {
		h = pod.Spec.Hostname
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// usesObject reports whether the pod's volumes or env refer to the object.
func (w *podWorker) usesObject(kind, namespace, name string) bool {
	w.mu.Lock()
	pod := w.pod
	w.mu.Unlock()
	if pod == nil || pod.Namespace != namespace {
		return false
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case kind == "ConfigMap" && v.ConfigMap != nil && v.ConfigMap.Name == name,
			kind == "Secret" && v.Secret != nil && v.Secret.SecretName == name:
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if kind == "ConfigMap" && s.ConfigMap != nil && s.ConfigMap.Name == name ||
					kind == "Secret" && s.Secret != nil && s.Secret.Name == name {
					return true
				}
			}
		}
	}
	// A container waiting for a missing env source starts once it exists.
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, e := range c.EnvFrom {
			if kind == "ConfigMap" && e.ConfigMapRef != nil && e.ConfigMapRef.Name == name ||
				kind == "Secret" && e.SecretRef != nil && e.SecretRef.Name == name {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if kind == "ConfigMap" && e.ValueFrom.ConfigMapKeyRef != nil && e.ValueFrom.ConfigMapKeyRef.Name == name ||
				kind == "Secret" && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name {
				return true
			}
		}
	}
	return false
}
