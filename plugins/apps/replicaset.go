package apps

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"weft.dev/weft/sdk"
)

// The ReplicaSet controller, after kube-controller-manager's (pkg/controller/replicaset).

const (
	burstReplicas          = 500 // at most this many creates or deletes per sync
	slowStartInitialBatch  = 1
	reasonFailedCreate     = "FailedCreate"
	reasonFailedDelete     = "FailedDelete"
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
)

func (p *plugin) syncReplicaSet(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
	cache := c.Cache()
	key := req.Namespace + "/" + req.Name
	o := cache.Get(rsGVK, req.Namespace, req.Name)
	if o == nil {
		p.exp.forget(key)
		return sdk.ReconcileResult{}, nil
	}
	rs := o.Value.(*ReplicaSet)
	now := p.now()
	needsSync := p.exp.satisfied(key, cache, now)
	sel := rs.Spec.Selector
	if sel == nil {
		c.Log(sdk.LevelWarn, "replicaset "+key+" has no selector")
		return sdk.ReconcileResult{}, nil
	}
	objs, err := claim(c, podRes, podGVK, rsGVK, &rs.Metadata, sel, func(o *sdk.Object) bool { return o.Value.(*Pod).active() }, true)
	if err != nil {
		return sdk.ReconcileResult{}, err
	}
	pods := make([]*Pod, len(objs))
	for i, o := range objs {
		pods[i] = o.Value.(*Pod)
	}
	var manageErr error
	if needsSync && !rs.Metadata.Deleting() {
		manageErr = p.manageReplicas(c, rs, pods, key, now)
	}
	st := p.rsStatus(rs, pods, manageErr, now)
	if err := updateRSStatus(c, rs, st); err != nil {
		return sdk.ReconcileResult{}, err
	}
	var res sdk.ReconcileResult
	if manageErr == nil && rs.Spec.MinReadySeconds > 0 && st.ReadyReplicas == rs.replicas() && st.AvailableReplicas != rs.replicas() {
		res.RequeueAfterMillis = int64(rs.Spec.MinReadySeconds) * 1000
	}
	return res, manageErr
}

// manageReplicas creates or deletes pods to reach spec.replicas.
func (p *plugin) manageReplicas(c *sdk.Client, rs *ReplicaSet, pods []*Pod, key string, now time.Time) error {
	diff := len(pods) - int(rs.replicas())
	switch {
	case diff < 0:
		return p.createPods(c, rs, min(-diff, burstReplicas), key, now)
	case diff > 0:
		return p.deletePods(c, rs, pods, min(diff, burstReplicas), key, now)
	}
	return nil
}

func rsEvent(rs *ReplicaSet, typ, reason, msg string) sdk.BatchItem {
	return sdk.BatchItem{Op: sdk.OpEvent, Request: sdk.CallRequest{
		Group: rsRes.Group, Version: rsRes.Version, Resource: rsRes.Resource,
		Namespace: rs.Metadata.Namespace, Name: rs.Metadata.Name, UID: rs.Metadata.UID,
		EventType: typ, Reason: reason, Message: msg,
	}}
}

// podFromTemplate is kube's GetPodFromTemplate, as JSON: the template's labels,
// annotations, finalizers and spec, named "<rs>-" plus a random suffix.
func podFromTemplate(rs *ReplicaSet) (json.RawMessage, error) {
	t := rs.template()
	if !rs.Spec.Selector.Matches(t.Labels) {
		return nil, errors.New("`selector` does not match template `labels`")
	}
	prefix := rs.Metadata.Name + "-"
	if len(prefix) > 253-5 {
		prefix = rs.Metadata.Name[:253-5-1] + "-"
	}
	type meta struct {
		GenerateName    string               `json:"generateName"`
		Namespace       string               `json:"namespace"`
		Labels          map[string]string    `json:"labels,omitempty"`
		Annotations     map[string]string    `json:"annotations,omitempty"`
		Finalizers      []string             `json:"finalizers,omitempty"`
		OwnerReferences []sdk.OwnerReference `json:"ownerReferences"`
	}
	return rawJSON(struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Metadata   meta            `json:"metadata"`
		Spec       json.RawMessage `json:"spec"`
	}{"v1", "Pod", meta{prefix, rs.Metadata.Namespace, t.Labels, t.Annotations, t.Finalizers, []sdk.OwnerReference{sdk.ControllerRef(rsGVK, &rs.Metadata)}}, t.Spec}), nil
}

// createPods creates n pods in slow-start batches of 1, 2, 4, ..., one host call per
// batch, stopping at the first batch with a failure.
func (p *plugin) createPods(c *sdk.Client, rs *ReplicaSet, n int, key string, now time.Time) error {
	body, err := podFromTemplate(rs)
	if err != nil {
		_, _ = c.Batch([]sdk.BatchItem{rsEvent(rs, "Warning", reasonFailedCreate, "Error creating: "+err.Error())})
		return err
	}
	x := p.exp.reset(key, now)
	var events []sdk.BatchItem
	defer func() {
		if len(events) > 0 {
			_, _ = c.Batch(events)
		}
	}()
	remaining := n
	for batch := min(remaining, slowStartInitialBatch); batch > 0; batch = min(2*batch, remaining) {
		items := make([]sdk.BatchItem, batch)
		for i := range items {
			items[i] = sdk.BatchItem{Op: sdk.OpCreate, Request: sdk.CallRequest{Group: podRes.Group, Version: podRes.Version, Resource: podRes.Resource, Namespace: rs.Metadata.Namespace, Object: body}}
		}
		results, err := c.Batch(items)
		if err != nil {
			return err
		}
		var first error
		for _, r := range results {
			if err := r.Err(); err != nil {
				if isNamespaceTerminating(err) {
					continue
				}
				events = append(events, rsEvent(rs, "Warning", reasonFailedCreate, "Error creating: "+err.Error()))
				if first == nil {
					first = err
				}
				continue
			}
			m, err := r.Meta()
			if err != nil {
				return err
			}
			p.exp.expectCreate(key, x, objKey(&m))
			events = append(events, rsEvent(rs, "Normal", reasonSuccessfulCreate, "Created pod: "+m.Name))
		}
		if first != nil {
			return first
		}
		remaining -= batch
	}
	return nil
}

func isNamespaceTerminating(err error) bool {
	var st *sdk.Status
	return errors.As(err, &st) && st.Code == 403 && st.Reason == "Forbidden" && strings.Contains(st.Message, "because it is being terminated")
}

// deletePods deletes the n least valuable pods, in one host call.
func (p *plugin) deletePods(c *sdk.Client, rs *ReplicaSet, pods []*Pod, n int, key string, now time.Time) error {
	victims := podsToDelete(pods, p.relatedPods(c.Cache(), rs), n, now)
	x := p.exp.reset(key, now)
	items := make([]sdk.BatchItem, len(victims))
	for i, v := range victims {
		x.deletes[objKey(&v.Metadata)] = v.Metadata.UID
		items[i] = sdk.DeleteItem(podRes, v.Metadata.Namespace, v.Metadata.Name, sdk.DeleteOptions{UID: v.Metadata.UID})
	}
	results, err := c.Batch(items)
	if err != nil {
		p.exp.forget(key)
		return err
	}
	var first error
	events := make([]sdk.BatchItem, 0, len(results))
	for i, r := range results {
		v := victims[i]
		if err := r.Err(); err != nil {
			delete(x.deletes, objKey(&v.Metadata))
			if sdk.IsNotFound(err) || sdk.IsConflict(err) {
				continue // gone already, or replaced by another pod of that name
			}
			events = append(events, rsEvent(rs, "Warning", reasonFailedDelete, "Error deleting: "+err.Error()))
			if first == nil {
				first = err
			}
			continue
		}
		events = append(events, rsEvent(rs, "Normal", reasonSuccessfulDelete, "Deleted pod: "+v.Metadata.Name))
	}
	if len(events) > 0 {
		_, _ = c.Batch(events)
	}
	return first
}

// relatedPods are the active pods of every ReplicaSet with the same controller as rs
// (rs included), used to rank pods by how many siblings share their node.
func (p *plugin) relatedPods(cache *sdk.Cache, rs *ReplicaSet) []*Pod {
	ref := rs.Metadata.ControllerOf()
	if ref == nil {
		return nil
	}
	var out []*Pod
	for _, sib := range cache.Controlled(rsGVK, ref.UID) {
		for _, o := range cache.Controlled(podGVK, sib.Meta.UID) {
			if pod := o.Value.(*Pod); pod.active() {
				out = append(out, pod)
			}
		}
	}
	return out
}

// podsToDelete is kube's getPodsToDelete: the n pods that ActivePodsWithRanks orders
// first.
func podsToDelete(pods, related []*Pod, n int, now time.Time) []*Pod {
	pods = append([]*Pod(nil), pods...)
	if n < len(pods) {
		onNode := map[string]int{}
		for _, p := range related {
			onNode[p.Spec.NodeName]++
		}
		r := rankedPods{pods: pods, rank: make([]int, len(pods)), now: now}
		for i, p := range pods {
			r.rank[i] = onNode[p.Spec.NodeName]
		}
		sort.Sort(r)
	}
	return pods[:n]
}

// rankedPods is kube's ActivePodsWithRanks (with PodDeletionCost and
// LogarithmicScaleDown, both on by default in 1.32).
type rankedPods struct {
	pods []*Pod
	rank []int
	now  time.Time
}

func (s rankedPods) Len() int { return len(s.pods) }
func (s rankedPods) Swap(i, j int) {
	s.pods[i], s.pods[j] = s.pods[j], s.pods[i]
	s.rank[i], s.rank[j] = s.rank[j], s.rank[i]
}

var phaseOrdinal = map[string]int{"Pending": 0, "Unknown": 1, "Running": 2}

func (s rankedPods) Less(i, j int) bool {
	a, b := s.pods[i], s.pods[j]
	// 1. Unassigned < assigned.
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	// 2. Pending < Unknown < Running.
	if pa, pb := phaseOrdinal[a.Status.Phase], phaseOrdinal[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	// 3. Not ready < ready.
	if a.ready() != b.ready() {
		return !a.ready()
	}
	// 4. Lower pod-deletion-cost < higher.
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	// 5. Doubled up < not doubled up.
	if s.rank[i] != s.rank[j] {
		return s.rank[i] > s.rank[j]
	}
	// 6. Ready for less time < more time (in logarithmic buckets).
	if a.ready() && b.ready() {
		ta, tb := parseTime(a.Status.ReadySince), parseTime(b.Status.ReadySince)
		if !ta.Equal(tb) {
			if ta.IsZero() || tb.IsZero() {
				return afterOrZero(ta, tb)
			}
			if d := logRankDiff(ta, tb, s.now); d != 0 {
				return d < 0
			}
			return a.Metadata.UID < b.Metadata.UID
		}
	}
	// 7. Higher restart counts < lower.
	if ra, rb := a.Status.Restarts, b.Status.Restarts; ra != rb {
		return ra > rb
	}
	// 8. Newer < older.
	ca, cb := parseTime(a.Metadata.CreationTimestamp), parseTime(b.Metadata.CreationTimestamp)
	if !ca.Equal(cb) {
		if ca.IsZero() || cb.IsZero() {
			return afterOrZero(ca, cb)
		}
		if d := logRankDiff(ca, cb, s.now); d != 0 {
			return d < 0
		}
		return a.Metadata.UID < b.Metadata.UID
	}
	return false
}

func afterOrZero(t1, t2 time.Time) bool {
	if t1.IsZero() || t2.IsZero() {
		return t1.IsZero()
	}
	return t1.After(t2)
}

func logRankDiff(t1, t2, now time.Time) int {
	d1, d2 := now.Sub(t1), now.Sub(t2)
	r1, r2 := -1, -1
	if d1 > 0 {
		r1 = int(math.Log2(float64(d1)))
	}
	if d2 > 0 {
		r2 = int(math.Log2(float64(d2)))
	}
	return r1 - r2
}

func deletionCost(p *Pod) int32 {
	var n int32
	if s, ok := p.Metadata.Annotations[deletionCostAnn]; ok {
		_, _ = fmt.Sscan(s, &n)
	}
	return n
}

// rsStatus is kube's calculateStatus.
func (p *plugin) rsStatus(rs *ReplicaSet, pods []*Pod, manageErr error, now time.Time) ReplicaSetStatus {
	st := rs.Status
	st.Conditions = append([]sdk.Condition(nil), rs.Status.Conditions...)
	tl := rs.template().Labels
	var full, ready, avail int32
	for _, pod := range pods {
		if labelsMatch(tl, pod.Metadata.Labels) {
			full++
		}
		if pod.ready() {
			ready++
			if pod.available(rs.Spec.MinReadySeconds, now) {
				avail++
			}
		}
	}
	failure := sdk.FindCondition(st.Conditions, "ReplicaFailure")
	if manageErr != nil && failure == nil {
		reason := ""
		if diff := len(pods) - int(rs.replicas()); diff < 0 {
			reason = reasonFailedCreate
		} else if diff > 0 {
			reason = reasonFailedDelete
		}
		st.Conditions = append(st.Conditions, sdk.Condition{Type: "ReplicaFailure", Status: "True", LastTransitionTime: formatTime(now), Reason: reason, Message: manageErr.Error()})
	} else if manageErr == nil && failure != nil {
		st.Conditions = removeCondition(st.Conditions, "ReplicaFailure")
	}
	st.Replicas, st.FullyLabeledReplicas, st.ReadyReplicas, st.AvailableReplicas = int32(len(pods)), full, ready, avail
	st.ObservedGeneration = rs.Metadata.Generation
	return st
}

// labelsMatch: every label of want is in have (a selector built from a label set).
func labelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if h, ok := have[k]; !ok || h != v {
			return false
		}
	}
	return true
}

func removeCondition(cs []sdk.Condition, t string) []sdk.Condition {
	out := cs[:0:0]
	for _, c := range cs {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// updateRSStatus writes st unless the stored status already says it.
func updateRSStatus(c *sdk.Client, rs *ReplicaSet, st ReplicaSetStatus) error {
	cur := rs.Status
	if cur.Replicas == st.Replicas && cur.FullyLabeledReplicas == st.FullyLabeledReplicas && cur.ReadyReplicas == st.ReadyReplicas &&
		cur.AvailableReplicas == st.AvailableReplicas && cur.ObservedGeneration == st.ObservedGeneration &&
		reflect.DeepEqual(normConds(cur.Conditions), normConds(st.Conditions)) {
		return nil
	}
	_, err := c.UpdateStatus(rsRes, rs.Metadata.Namespace, statusBody(rsGVK, &rs.Metadata, st))
	return err
}

func normConds(cs []sdk.Condition) []sdk.Condition {
	if len(cs) == 0 {
		return nil
	}
	return cs
}

// statusBody is what a status update sends: the object's identity, its
// resourceVersion (a compare-and-swap) and the new status.
func statusBody(k sdk.GVK, m *sdk.ObjectMeta, status any) json.RawMessage {
	return rawJSON(map[string]any{
		"apiVersion": k.APIVersion(), "kind": k.Kind,
		"metadata": map[string]any{"name": m.Name, "namespace": m.Namespace, "resourceVersion": m.ResourceVersion},
		"status":   status,
	})
}
