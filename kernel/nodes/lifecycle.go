package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel/objects"
)

// nodeState is what the lifecycle controller knows of one node. lastSeen is the last
// hello or heartbeat; ready is what the Node's Ready condition says as we last wrote it.
type nodeState struct {
	connected bool
	lastSeen  time.Time
	// ready: Ready=True was written; notReady: Ready=Unknown and the taints were.
	ready, notReady bool
	// unreachableSince is the unreachable taint's timeAdded, the start of eviction.
	unreachableSince time.Time
	lastLease        time.Time
	registered       bool // the node reported its status on this connection
	// nextEviction: no pod of this unreachable node is due before then.
	nextEviction time.Time
}

// evictionRecheck bounds how long an unreachable node's pods go unexamined (pods
// bound to it meanwhile, tolerations added).
const evictionRecheck = 10 * time.Second

// grace is how long a node may be silent before it is NotReady. While the node link
// lags, the kernel itself may be why nodes sound silent, so it waits for the Lease
// duration, as kube-controller-manager judges every node: marking healthy nodes
// unreachable in an overload would taint them, turn the scheduler away from them
// and, at worst, start evictions.
func (m *Manager) grace() time.Duration {
	if m.lagging != nil && m.lagging() {
		return max(m.cfg.GracePeriod, m.cfg.LeaseDuration)
	}
	return m.cfg.GracePeriod
}

func (m *Manager) state(node string) *nodeState {
	st := m.nodes[node]
	if st == nil {
		st = &nodeState{}
		m.nodes[node] = st
	}
	return st
}

func (m *Manager) onConnect(node string) {
	m.mu.Lock()
	st := m.state(node)
	st.connected, st.lastSeen, st.registered = true, m.cfg.Now(), false
	m.mu.Unlock()
}

func (m *Manager) onDisconnect(node string) {
	m.mu.Lock()
	m.state(node).connected = false
	m.mu.Unlock()
	m.log.Info("node disconnected", "node", node)
}

func (m *Manager) onHeartbeat(node string) {
	m.mu.Lock()
	m.state(node).lastSeen = m.cfg.Now()
	m.mu.Unlock()
}

func (m *Manager) controllerCtx(ctx context.Context) context.Context {
	return objects.WithUser(ctx, objects.User{Name: controllerUser, Groups: []string{"system:serviceaccounts", "system:authenticated"}, Agent: fieldManager})
}

// monitor is the node lifecycle controller's loop.
func (m *Manager) monitor(ctx context.Context) {
	ctx = m.controllerCtx(ctx)
	m.adoptExisting(ctx)
	t := time.NewTicker(m.cfg.MonitorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		act, renew := m.sweep()
		for _, n := range act {
			if ctx.Err() != nil {
				return
			}
			m.check(ctx, n)
		}
		m.renewLeases(ctx, renew)
	}
}

// sweep looks at every node in one pass under the lock, and returns those check must
// act on (a registered node not yet marked Ready, a silent one) and those whose Lease
// is due. At 5000 nodes, a lookup and a lock per node twice a second were a few
// percent of the kernel's CPU with nothing to do.
func (m *Manager) sweep() (act, renew []string) {
	now, grace := m.cfg.Now(), m.grace()
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, st := range m.nodes {
		silent := now.Sub(st.lastSeen)
		switch {
		case st.connected && silent < grace:
			if st.registered && (!st.ready || st.notReady) {
				act = append(act, name)
			}
			if st.registered && now.Sub(st.lastLease) >= m.cfg.LeaseRenewInterval {
				renew = append(renew, name)
			}
		case silent >= grace:
			act = append(act, name)
		}
	}
	return act, renew
}

// leaseWriters is how many Lease renewals run at once. At 5000 nodes renewals are
// 500 writes a second; one at a time, each waited for its own commit.
const leaseWriters = 16

// renewLeases renews the given nodes' Leases, several at a time so that the store
// commits them together.
func (m *Manager) renewLeases(ctx context.Context, nodes []string) {
	next := make(chan string)
	var wg sync.WaitGroup
	for range min(leaseWriters, len(nodes)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for node := range next {
				if err := m.renewLease(ctx, node); err != nil {
					m.log.Warn("renew node lease", "node", node, "err", err)
				}
			}
		}()
	}
	for _, n := range nodes {
		next <- n
	}
	close(next)
	wg.Wait()
}

// adoptExisting takes over the Nodes stored before this kernel started: none is
// connected yet, so each counts as last seen now and gets one grace period to come
// back; nodes already unreachable keep their taint's time for eviction.
func (m *Manager) adoptExisting(ctx context.Context) {
	var list *unstructured.UnstructuredList
	for ctx.Err() == nil {
		e, err := m.entry(nodeGVK)
		if err == nil {
			if list, err = m.objects.List(ctx, e, "", objects.ListOptions{}); err == nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	if list == nil {
		return
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range list.Items {
		n := &list.Items[i]
		if _, ok := m.nodes[n.GetName()]; ok {
			continue
		}
		st := m.state(n.GetName())
		st.lastSeen = now
		switch readyStatus(n) {
		case "True":
			st.ready = true
		default:
			if t, ok := taintTime(n, TaintUnreachable); ok {
				st.notReady, st.unreachableSince = true, t
			}
		}
	}
}

// check judges one node's liveness again, as it is now (the sweep that picked it
// may have acted on others meanwhile), and acts on it.
func (m *Manager) check(ctx context.Context, node string) {
	now, grace := m.cfg.Now(), m.grace()
	m.mu.Lock()
	st, ok := m.nodes[node]
	if ok {
		st = new(*st)
	}
	m.mu.Unlock()
	if !ok {
		return
	}
	silent := now.Sub(st.lastSeen)
	switch {
	case st.connected && silent < grace:
		if st.registered && (!st.ready || st.notReady) {
			if err := m.markReady(ctx, node); err != nil {
				m.log.Warn("mark node ready", "node", node, "err", err)
			}
		}
	case silent >= grace:
		if !st.notReady {
			if err := m.markNotReady(ctx, node, silent); err != nil {
				m.log.Warn("mark node not ready", "node", node, "err", err)
				return
			}
		}
		m.evict(ctx, node)
	}
}

// markReady sets Ready=True and removes the taints a silent spell left.
func (m *Manager) markReady(ctx context.Context, node string) error {
	e, err := m.entry(nodeGVK)
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	if _, err := m.objects.Mutate(ctx, e, "", node, "", func(cur *unstructured.Unstructured) error {
		removeTaints(cur, TaintUnreachable, TaintNotReady)
		return nil
	}, objects.WriteOptions{FieldManager: fieldManager}); err != nil {
		return err
	}
	if _, err := m.objects.Mutate(ctx, e, "", node, "status", func(cur *unstructured.Unstructured) error {
		setCondition(cur, "Ready", "True", "KubeletReady", "weft node agent is posting ready status", now)
		return nil
	}, objects.WriteOptions{FieldManager: fieldManager}); err != nil {
		return err
	}
	m.mu.Lock()
	st := m.state(node)
	st.ready, st.notReady, st.unreachableSince, st.nextEviction = true, false, time.Time{}, time.Time{}
	m.mu.Unlock()
	m.log.Info("node ready", "node", node)
	return nil
}

// markNotReady sets Ready=Unknown and taints the node unreachable.
func (m *Manager) markNotReady(ctx context.Context, node string, silent time.Duration) error {
	e, err := m.entry(nodeGVK)
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	_, err = m.objects.Mutate(ctx, e, "", node, "status", func(cur *unstructured.Unstructured) error {
		setCondition(cur, "Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", now)
		return nil
	}, objects.WriteOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		// A node that never registered, or was deleted: forget it.
		m.mu.Lock()
		if st := m.nodes[node]; st != nil && !st.connected {
			delete(m.nodes, node)
		}
		m.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	var since time.Time
	if _, err := m.objects.Mutate(ctx, e, "", node, "", func(cur *unstructured.Unstructured) error {
		since = addTaint(cur, TaintUnreachable, corev1.TaintEffectNoExecute, now)
		addTaint(cur, TaintUnreachable, corev1.TaintEffectNoSchedule, now)
		return nil
	}, objects.WriteOptions{FieldManager: fieldManager}); err != nil {
		return err
	}
	m.mu.Lock()
	st := m.state(node)
	st.ready, st.notReady, st.unreachableSince, st.nextEviction = false, true, since, time.Time{}
	m.mu.Unlock()
	m.log.Warn("node not ready", "node", node, "silent", silent.Round(time.Millisecond))
	return nil
}

// evict deletes the pods of an unreachable node whose toleration has run out.
func (m *Manager) evict(ctx context.Context, node string) {
	now := m.cfg.Now()
	m.mu.Lock()
	st := m.nodes[node]
	var since, next time.Time
	if st != nil {
		since, next = st.unreachableSince, st.nextEviction
	}
	m.mu.Unlock()
	if since.IsZero() || now.Before(next) {
		return
	}
	next = now.Add(evictionRecheck)
	defer func() {
		m.mu.Lock()
		if st := m.nodes[node]; st != nil && st.unreachableSince.Equal(since) {
			st.nextEviction = next
		}
		m.mu.Unlock()
	}()
	e, err := m.entry(podGVK)
	if err != nil {
		return
	}
	pods, err := m.objects.List(ctx, e, "", objects.ListOptions{Selector: objects.Selector{Fields: fields.OneTermEqualSelector("spec.nodeName", node)}})
	if err != nil {
		m.log.Warn("list pods of unreachable node", "node", node, "err", err)
		next = now
		return
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		secs, forever := m.tolerationSeconds(p)
		if forever {
			continue
		}
		if due := since.Add(time.Duration(secs) * time.Second); now.Before(due) {
			if due.Before(next) {
				next = due
			}
			continue
		}
		zero := int64(0)
		uid := p.GetUID()
		_, err := m.objects.Delete(ctx, e, p.GetNamespace(), p.GetName(), objects.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			m.log.Warn("evict pod", "node", node, "pod", p.GetNamespace()+"/"+p.GetName(), "err", err)
			next = now // try again at the next check
			continue
		}
		m.log.Info("evicted pod from unreachable node", "node", node, "pod", p.GetNamespace()+"/"+p.GetName(), "tolerationSeconds", secs)
	}
}

// tolerationSeconds is how long p tolerates the unreachable NoExecute taint; forever
// when a matching toleration has no tolerationSeconds. Several matches: the shortest.
func (m *Manager) tolerationSeconds(p *unstructured.Unstructured) (int64, bool) {
	ts, _, _ := unstructured.NestedSlice(p.Object, "spec", "tolerations")
	found, best := false, int64(0)
	for _, raw := range ts {
		t, _ := raw.(map[string]any)
		key, _ := t["key"].(string)
		op, _ := t["operator"].(string)
		effect, _ := t["effect"].(string)
		value, _ := t["value"].(string)
		if effect != "" && effect != string(corev1.TaintEffectNoExecute) {
			continue
		}
		switch {
		case key == "" && op == string(corev1.TolerationOpExists):
		case key == TaintUnreachable && (op == string(corev1.TolerationOpExists) || value == ""):
		default:
			continue
		}
		s, ok := toInt64(t["tolerationSeconds"])
		if !ok {
			return 0, true
		}
		if !found || s < best {
			found, best = true, max(s, 0)
		}
	}
	if found {
		return best, false
	}
	return m.cfg.DefaultTolerationSeconds, false
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case int:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// register creates or refreshes node's Node from the status its agent reports, gives
// it a pod CIDR, and marks it Ready. It returns the Node.
func (m *Manager) register(ctx context.Context, node string, reported *corev1.NodeStatus, labels map[string]string, taints []corev1.Taint) (*unstructured.Unstructured, error) {
	e, err := m.entry(nodeGVK)
	if err != nil {
		return nil, err
	}
	if err := m.ensureNode(ctx, node, labels, taints); err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	remote := m.srv.RemoteAddr(node)
	res, err := m.objects.Mutate(ctx, e, "", node, "status", func(cur *unstructured.Unstructured) error {
		st := map[string]any{}
		if old, ok := cur.Object["status"].(map[string]any); ok {
			st = old
		}
		rep := map[string]any{}
		raw, _ := json.Marshal(reported)
		_ = json.Unmarshal(raw, &rep)
		for _, f := range []string{"capacity", "allocatable", "nodeInfo", "addresses", "daemonEndpoints", "images"} {
			if v, ok := rep[f]; ok {
				st[f] = v
			} else if f == "addresses" {
				delete(st, f) // the report is the whole list
			}
		}
		if !hasAddress(reported, corev1.NodeInternalIP) && remote != nil {
			if ua, ok := remote.(*net.UDPAddr); ok {
				addrs, _ := st["addresses"].([]any)
				st["addresses"] = append([]any{map[string]any{"type": string(corev1.NodeInternalIP), "address": ua.IP.String()}}, addrs...)
			}
		}
		cur.Object["status"] = st
		setCondition(cur, "Ready", "True", "KubeletReady", "weft node agent is posting ready status", now)
		return nil
	}, objects.WriteOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, err
	}
	// Taints left by a silent spell go with the first report of a new connection.
	obj := res.Object
	if _, ok := taintTime(obj, TaintUnreachable); ok {
		r2, err := m.objects.Mutate(ctx, e, "", node, "", func(cur *unstructured.Unstructured) error {
			removeTaints(cur, TaintUnreachable, TaintNotReady)
			return nil
		}, objects.WriteOptions{FieldManager: fieldManager})
		if err != nil {
			return nil, err
		}
		obj = r2.Object
	}
	m.mu.Lock()
	st := m.state(node)
	st.ready, st.notReady, st.unreachableSince, st.registered = true, false, time.Time{}, true
	st.lastSeen = now
	m.mu.Unlock()
	if err := m.renewLease(ctx, node); err != nil {
		m.log.Warn("renew node lease", "node", node, "err", err)
	}
	return obj, nil
}

func hasAddress(s *corev1.NodeStatus, t corev1.NodeAddressType) bool {
	for _, a := range s.Addresses {
		if a.Type == t {
			return true
		}
	}
	return false
}

// ensureNode creates the Node if missing, with the standard labels plus labels and
// taints the node asked for, and gives it a pod CIDR if it has none. Allocation is
// serialized: the Nodes are the record of which CIDRs are taken, read once.
func (m *Manager) ensureNode(ctx context.Context, node string, labels map[string]string, taints []corev1.Taint) error {
	e, err := m.entry(nodeGVK)
	if err != nil {
		return err
	}
	cur, err := m.objects.Get(ctx, e, "", node, "")
	if err == nil {
		if c, _, _ := unstructured.NestedString(cur.Object, "spec", "podCIDR"); c != "" {
			return nil
		}
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	m.ipamMu.Lock()
	if m.usedCIDRs == nil {
		list, err := m.objects.List(ctx, e, "", objects.ListOptions{})
		if err != nil {
			m.ipamMu.Unlock()
			return err
		}
		m.usedCIDRs = map[string]bool{}
		for i := range list.Items {
			if c, _, _ := unstructured.NestedString(list.Items[i].Object, "spec", "podCIDR"); m.cidr.contains(c) {
				m.usedCIDRs[c] = true
			}
		}
	}
	cidr, next, err := m.cidr.firstFrom(m.usedCIDRs, m.nextCIDR)
	if err != nil {
		m.ipamMu.Unlock()
		return err
	}
	m.usedCIDRs[cidr], m.nextCIDR = true, next
	// The CIDR is reserved; the write runs unlocked, or thousands of nodes joining
	// at once would register one store commit at a time.
	m.ipamMu.Unlock()
	// The reservation is given back only when the Node surely did not take it; after
	// an error whose write may still have committed, it stays taken.
	unused := false
	defer func() {
		if unused {
			m.ipamMu.Lock()
			delete(m.usedCIDRs, cidr)
			m.ipamMu.Unlock()
		}
	}()
	if cur == nil {
		lbls := map[string]any{}
		for k, v := range labels {
			lbls[k] = v
		}
		lbls["kubernetes.io/hostname"], lbls["kubernetes.io/os"], lbls["kubernetes.io/arch"] = node, "linux", runtime.GOARCH
		spec := map[string]any{"podCIDR": cidr, "podCIDRs": []any{cidr}}
		if len(taints) > 0 {
			var ts []any
			for _, t := range taints {
				ts = append(ts, map[string]any{"key": t.Key, "value": t.Value, "effect": string(t.Effect)})
			}
			spec["taints"] = ts
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Node",
			"metadata": map[string]any{"name": node, "labels": lbls},
			"spec":     spec,
		}}
		_, err := m.objects.Create(ctx, e, "", obj, objects.WriteOptions{FieldManager: fieldManager})
		if err == nil {
			m.log.Info("node registered", "node", node, "podCIDR", cidr)
		}
		if apierrors.IsAlreadyExists(err) {
			unused = true
			return nil // registered meanwhile by another request of the same node
		}
		return err
	}
	_, err = m.objects.Mutate(ctx, e, "", node, "", func(cur *unstructured.Unstructured) error {
		// The last attempt's decision stands.
		c, _, _ := unstructured.NestedString(cur.Object, "spec", "podCIDR")
		if unused = c != ""; unused {
			return nil
		}
		_ = unstructured.SetNestedField(cur.Object, cidr, "spec", "podCIDR")
		_ = unstructured.SetNestedSlice(cur.Object, []any{cidr}, "spec", "podCIDRs")
		return nil
	}, objects.WriteOptions{FieldManager: fieldManager})
	return err
}

// renewLease creates or renews kube-node-lease/<node>, owned by the Node.
func (m *Manager) renewLease(ctx context.Context, node string) error {
	le, err := m.entry(leaseGVK)
	if err != nil {
		return err
	}
	ne, err := m.entry(nodeGVK)
	if err != nil {
		return err
	}
	now := metav1.NewMicroTime(m.cfg.Now())
	renew, _ := now.MarshalJSON()
	renewStr, _ := strconv.Unquote(string(renew))
	// A renewal changes only fields this manager created the Lease with, so it is
	// written to storage directly: at 5000 nodes renewals are 500 writes a second, and
	// tracking managed fields and validating again was most of their cost.
	_, err = m.objects.Assign(ctx, le, LeaseNamespace, node, "", func(cur *unstructured.Unstructured) error {
		_ = unstructured.SetNestedField(cur.Object, renewStr, "spec", "renewTime")
		_ = unstructured.SetNestedField(cur.Object, node, "spec", "holderIdentity")
		return nil
	}, objects.WriteOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		n, gerr := m.objects.Get(ctx, ne, "", node, "")
		if gerr != nil {
			return gerr
		}
		lease := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
			"metadata": map[string]any{"name": node, "namespace": LeaseNamespace, "ownerReferences": []any{map[string]any{
				"apiVersion": "v1", "kind": "Node", "name": node, "uid": string(n.GetUID()),
			}}},
			"spec": map[string]any{"holderIdentity": node, "leaseDurationSeconds": int64(m.cfg.LeaseDuration / time.Second), "renewTime": renewStr},
		}}
		_, err = m.objects.Create(ctx, le, LeaseNamespace, lease, objects.WriteOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err == nil {
		m.mu.Lock()
		m.state(node).lastLease = m.cfg.Now()
		m.mu.Unlock()
	}
	return err
}

func readyStatus(n *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(n.Object, "status", "conditions")
	for _, c := range conds {
		if cm, ok := c.(map[string]any); ok && cm["type"] == "Ready" {
			s, _ := cm["status"].(string)
			return s
		}
	}
	return ""
}

// setCondition sets a condition of n's status; lastTransitionTime changes only with
// the status.
func setCondition(n *unstructured.Unstructured, typ, status, reason, msg string, now time.Time) {
	ts := now.UTC().Format(time.RFC3339)
	conds, _, _ := unstructured.NestedSlice(n.Object, "status", "conditions")
	for i, c := range conds {
		cm, ok := c.(map[string]any)
		if !ok || cm["type"] != typ {
			continue
		}
		if cm["status"] != status {
			cm["lastTransitionTime"] = ts
		}
		cm["status"], cm["reason"], cm["message"], cm["lastHeartbeatTime"] = status, reason, msg, ts
		conds[i] = cm
		_ = unstructured.SetNestedSlice(n.Object, conds, "status", "conditions")
		return
	}
	conds = append(conds, map[string]any{
		"type": typ, "status": status, "reason": reason, "message": msg,
		"lastHeartbeatTime": ts, "lastTransitionTime": ts,
	})
	_ = unstructured.SetNestedSlice(n.Object, conds, "status", "conditions")
}

// addTaint adds key:effect unless present and returns its timeAdded.
func addTaint(n *unstructured.Unstructured, key string, effect corev1.TaintEffect, now time.Time) time.Time {
	taints, _, _ := unstructured.NestedSlice(n.Object, "spec", "taints")
	for _, t := range taints {
		tm, _ := t.(map[string]any)
		if tm["key"] == key && tm["effect"] == string(effect) {
			if ts, ok := tm["timeAdded"].(string); ok {
				if parsed, err := time.Parse(time.RFC3339, ts); err == nil {
					return parsed
				}
			}
			return now
		}
	}
	taint := map[string]any{"key": key, "effect": string(effect)}
	if effect == corev1.TaintEffectNoExecute {
		taint["timeAdded"] = now.UTC().Format(time.RFC3339)
	}
	_ = unstructured.SetNestedSlice(n.Object, append(taints, taint), "spec", "taints")
	return now
}

func removeTaints(n *unstructured.Unstructured, keys ...string) {
	taints, _, _ := unstructured.NestedSlice(n.Object, "spec", "taints")
	out := taints[:0]
	for _, t := range taints {
		tm, _ := t.(map[string]any)
		k, _ := tm["key"].(string)
		drop := false
		for _, key := range keys {
			drop = drop || k == key
		}
		if !drop {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		unstructured.RemoveNestedField(n.Object, "spec", "taints")
		return
	}
	_ = unstructured.SetNestedSlice(n.Object, out, "spec", "taints")
}

func taintTime(n *unstructured.Unstructured, key string) (time.Time, bool) {
	taints, _, _ := unstructured.NestedSlice(n.Object, "spec", "taints")
	for _, t := range taints {
		tm, _ := t.(map[string]any)
		if tm["key"] == key && tm["effect"] == string(corev1.TaintEffectNoExecute) {
			ts, _ := tm["timeAdded"].(string)
			parsed, err := time.Parse(time.RFC3339, ts)
			if err != nil {
				parsed = time.Now()
			}
			return parsed, true
		}
	}
	return time.Time{}, false
}

// podOnNode reads a pod and checks that it is bound to node (and has uid, if given).
func (m *Manager) podOnNode(ctx context.Context, node, namespace, name string, uid types.UID) (*unstructured.Unstructured, error) {
	e, err := m.entry(podGVK)
	if err != nil {
		return nil, err
	}
	p, err := m.objects.Get(ctx, e, namespace, name, "")
	if err != nil {
		return nil, err
	}
	if n, _, _ := unstructured.NestedString(p.Object, "spec", "nodeName"); n != node {
		return nil, apierrors.NewForbidden(gr(e.Resource), name, fmt.Errorf("pod %s/%s is not bound to node %q", namespace, name, node))
	}
	if uid != "" && p.GetUID() != uid {
		return nil, apierrors.NewConflict(gr(e.Resource), name, fmt.Errorf("pod UID %s does not match %s: the pod was replaced", p.GetUID(), uid))
	}
	return p, nil
}
