// Package sim is the pod manager of simulated nodes (weft sim), in the spirit of kwok:
// pods bound to a simulated node become Running and Ready with a fake IP from the
// node's pod CIDR, and deleted pods terminate at once. Everything else about a
// simulated node is real: it joins over nodelink, heartbeats, and its status and its
// pods' status go through the kernel's API path.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/node/agent"
	"weft.dev/weft/node/runtime"
)

// ErrSimulated answers logs and exec: a simulated container runs nothing.
var ErrSimulated = errors.New("sim: the container is simulated; it has no logs and runs no commands")

// Pods is an agent.PodManager that pretends.
type Pods struct {
	// StartDelay is how long a pod takes to become Running (0: at once).
	StartDelay time.Duration

	mu      sync.Mutex
	cidr    netip.Prefix
	next    netip.Addr
	ips     map[types.UID]string
	started map[types.UID]metav1.Time
	updates chan agent.Update
}

var _ agent.PodManager = (*Pods)(nil)

// New returns a simulated pod manager handing out IPs from cidr (a node's pod CIDR;
// zero gives 10.254.0.0/16).
func New(cidr netip.Prefix) *Pods {
	if !cidr.IsValid() {
		cidr = netip.MustParsePrefix("10.254.0.0/16")
	}
	return &Pods{cidr: cidr, next: cidr.Addr().Next(), ips: map[types.UID]string{}, started: map[types.UID]metav1.Time{}, updates: make(chan agent.Update, 1024)}
}

// SetCIDR sets the pod CIDR IPs come from, once the kernel has allocated it.
func (p *Pods) SetCIDR(cidr netip.Prefix) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cidr.IsValid() && cidr != p.cidr {
		p.cidr, p.next = cidr, cidr.Addr().Next()
	}
}

func (p *Pods) ip(uid types.UID) string {
	if ip, ok := p.ips[uid]; ok {
		return ip
	}
	ip := p.next
	if !p.cidr.Contains(ip) {
		ip = p.cidr.Addr().Next() // wrapped: a simulation may reuse addresses
	}
	p.next = ip.Next()
	p.ips[uid] = ip.String()
	return ip.String()
}

// Sync implements agent.PodManager.
func (p *Pods) Sync(ctx context.Context, pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		p.mu.Lock()
		delete(p.ips, pod.UID)
		delete(p.started, pod.UID)
		p.mu.Unlock()
		p.send(ctx, agent.Update{Pod: pod, Terminated: true})
		return
	}
	if pod.Status.Phase == corev1.PodRunning && podReady(pod) {
		return // already reported
	}
	if p.StartDelay > 0 {
		time.AfterFunc(p.StartDelay, func() { p.run(ctx, pod) })
		return
	}
	p.run(ctx, pod)
}

func (p *Pods) run(ctx context.Context, pod *corev1.Pod) {
	p.mu.Lock()
	ip := p.ip(pod.UID)
	start, ok := p.started[pod.UID]
	if !ok {
		start = metav1.Now()
		p.started[pod.UID] = start
	}
	p.mu.Unlock()
	// The pod is the agent's cached copy, never changed (agent.PodManager): the
	// update shares its metadata and spec, and gets a status of its own.
	out := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: pod.ObjectMeta, Spec: pod.Spec, Status: *pod.Status.DeepCopy()}
	out.Status.Phase = corev1.PodRunning
	out.Status.PodIP = ip
	out.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	out.Status.StartTime = &start
	out.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
	}
	out.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		out.Status.ContainerStatuses = append(out.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image, ContainerID: fmt.Sprintf("sim://%s-%s", pod.UID, c.Name),
			Ready: true, Started: new(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}},
		})
	}
	p.send(ctx, agent.Update{Pod: out})
}

func (p *Pods) send(ctx context.Context, u agent.Update) {
	select {
	case p.updates <- u:
	case <-ctx.Done():
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Forget implements agent.PodManager.
func (p *Pods) Forget(_ context.Context, uid types.UID) {
	p.mu.Lock()
	delete(p.ips, uid)
	delete(p.started, uid)
	p.mu.Unlock()
}

// Updates implements agent.PodManager.
func (p *Pods) Updates() <-chan agent.Update { return p.updates }

// Logs implements agent.PodManager.
func (p *Pods) Logs(context.Context, string, string, string, bool, runtime.LogOptions, io.Writer, io.Writer) error {
	return ErrSimulated
}

// Exec implements agent.PodManager.
func (p *Pods) Exec(context.Context, string, string, string, runtime.ExecOptions) (int, error) {
	return 0, ErrSimulated
}

// ErrNoNetwork answers port-forward: a simulated pod has a fake IP and nothing
// listening behind it.
var ErrNoNetwork = errors.New("sim: the pod is simulated; it has no network to forward ports to")

// PortForward implements agent.PodManager.
func (p *Pods) PortForward(context.Context, string, string, types.UID, int32, io.ReadWriteCloser) error {
	return ErrNoNetwork
}

// ObjectChanged implements agent.PodManager.
func (p *Pods) ObjectChanged(string, string, string) {}
