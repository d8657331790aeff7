package apps

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"weft.dev/weft/sdk"
)

// The Deployment controller, after kube-controller-manager's (pkg/controller/deployment).

// Condition reasons, as kubectl and kube-controller-manager spell them.
const (
	reasonRSCreateError       = "ReplicaSetCreateError"
	reasonNewRSCreated        = "NewReplicaSetCreated"
	reasonFoundNewRS          = "FoundNewReplicaSet"
	reasonRSUpdated           = "ReplicaSetUpdated"
	reasonNewRSAvailable      = "NewReplicaSetAvailable"
	reasonTimedOut            = "ProgressDeadlineExceeded"
	reasonPaused              = "DeploymentPaused"
	reasonResumed             = "DeploymentResumed"
	reasonMinAvailable        = "MinimumReplicasAvailable"
	reasonMinUnavailable      = "MinimumReplicasUnavailable"
	condAvailable             = "Available"
	condProgressing           = "Progressing"
	condReplicaFailure        = "ReplicaFailure"
	reasonScalingReplicaSet   = "ScalingReplicaSet"
	reasonRolledBack          = "RolledBack"
	reasonSelectingAll        = "SelectingAll"
	messageSelectingAll       = "This deployment is selecting all pods. A non-empty selector is required."
	recreateTerminatingRecall = time.Second
)

// dsync is one sync of one Deployment: a working copy that the writes keep current
// (resourceVersions, replicas, annotations), since the cache shows them only after
// the host feeds them back.
type dsync struct {
	p       *plugin
	c       *sdk.Client
	d       *Deployment
	now     time.Time
	requeue time.Duration
}

func (p *plugin) syncDeployment(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
	o := c.Cache().Get(depGVK, req.Namespace, req.Name)
	if o == nil {
		return sdk.ReconcileResult{}, nil // deleted; the garbage collector removes its ReplicaSets
	}
	d := *o.Value.(*Deployment)
	d.Metadata.Annotations = maps.Clone(d.Metadata.Annotations)
	d.Status.Conditions = append([]sdk.Condition(nil), d.Status.Conditions...)
	s := &dsync{p: p, c: c, d: &d, now: p.now()}
	err := s.sync()
	var res sdk.ReconcileResult
	if s.requeue > 0 {
		res.RequeueAfterMillis = s.requeue.Milliseconds()
	}
	return res, err
}

func (s *dsync) sync() error {
	d := s.d
	if d.Spec.Selector == nil || d.Spec.Selector.Empty() {
		s.event("Warning", reasonSelectingAll, messageSelectingAll)
		if d.Status.ObservedGeneration < d.Metadata.Generation {
			d.Status.ObservedGeneration = d.Metadata.Generation
			return s.updateStatus()
		}
		return nil
	}
	if _, _, err := d.fenceposts(); err != nil && d.rolling() {
		return err
	}
	rsList, err := s.replicaSets()
	if err != nil {
		return err
	}
	if d.Metadata.Deleting() {
		newRS, old, err := s.allReplicaSets(rsList, false)
		if err != nil {
			return err
		}
		return s.syncStatus(withNew(old, newRS), newRS)
	}
	if err := s.checkPausedConditions(); err != nil {
		return err
	}
	if d.Spec.Paused {
		return s.syncScale(rsList)
	}
	scaling, err := s.isScalingEvent(rsList)
	if err != nil {
		return err
	}
	if scaling {
		return s.syncScale(rsList)
	}
	if d.rolling() {
		return s.rolloutRolling(rsList)
	}
	return s.rolloutRecreate(rsList)
}

// replicaSets claims the ReplicaSets the deployment's selector matches and returns
// working copies of those it controls.
func (s *dsync) replicaSets() ([]*ReplicaSet, error) {
	objs, err := claim(s.c, rsRes, rsGVK, depGVK, &s.d.Metadata, s.d.Spec.Selector, nil, false)
	if err != nil {
		return nil, err
	}
	out := make([]*ReplicaSet, len(objs))
	for i, o := range objs {
		orig := o.Value.(*ReplicaSet)
		orig.template() // parsed once per version, shared by the copies
		rs := *orig
		rs.Metadata.Annotations = maps.Clone(rs.Metadata.Annotations)
		out[i] = &rs
	}
	return out, nil
}

func (s *dsync) event(typ, reason, msg string) {
	_ = s.c.Event(depRes, &s.d.Metadata, typ, reason, msg)
}

func (s *dsync) updateStatus() error {
	m, err := s.c.UpdateStatus(depRes, s.d.Metadata.Namespace, statusBody(depGVK, &s.d.Metadata, s.d.Status))
	if err == nil {
		s.d.Metadata.ResourceVersion = m.ResourceVersion
	}
	return err
}

// patchAnnotations sets annotations on the deployment.
func (s *dsync) patchAnnotations(set map[string]string) error {
	patch := rawJSON(map[string]any{"metadata": map[string]any{"resourceVersion": s.d.Metadata.ResourceVersion, "annotations": set}})
	m, err := s.c.Patch(depRes, s.d.Metadata.Namespace, s.d.Metadata.Name, sdk.MergePatch, patch)
	if err == nil {
		s.d.Metadata.ResourceVersion = m.ResourceVersion
	}
	return err
}

func withNew(old []*ReplicaSet, newRS *ReplicaSet) []*ReplicaSet {
	all := append([]*ReplicaSet(nil), old...)
	if newRS != nil {
		all = append(all, newRS)
	}
	return all
}

func activeRSs(rss []*ReplicaSet) []*ReplicaSet {
	var out []*ReplicaSet
	for _, rs := range rss {
		if rs != nil && rs.replicas() > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func sumReplicas(rss []*ReplicaSet) (spec, actual, ready, available int32) {
	for _, rs := range rss {
		if rs != nil {
			spec += rs.replicas()
			actual += rs.Status.Replicas
			ready += rs.Status.ReadyReplicas
			available += rs.Status.AvailableReplicas
		}
	}
	return
}

func revision(rs *ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Metadata.Annotations[revisionAnnotation], 10, 64)
	return n
}

func maxRevision(rss []*ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

func olderRS(a, b *ReplicaSet) bool {
	ta, tb := parseTime(a.Metadata.CreationTimestamp), parseTime(b.Metadata.CreationTimestamp)
	if ta.Equal(tb) {
		return a.Metadata.Name < b.Metadata.Name
	}
	return ta.Before(tb)
}

func sortByCreation(rss []*ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool { return olderRS(rss[i], rss[j]) })
}

// findNewRS is the oldest ReplicaSet whose template equals the deployment's,
// ignoring the pod-template-hash label.
func (s *dsync) findNewRS(rsList []*ReplicaSet) *ReplicaSet {
	sorted := append([]*ReplicaSet(nil), rsList...)
	sortByCreation(sorted)
	for _, rs := range sorted {
		if equalIgnoreHash(rs.template(), s.d.template()) {
			return rs
		}
	}
	return nil
}

// allReplicaSets is getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created when
// create is set and there is none) with its revision synced, and the old ones.
func (s *dsync) allReplicaSets(rsList []*ReplicaSet, create bool) (*ReplicaSet, []*ReplicaSet, error) {
	d := s.d
	existing := s.findNewRS(rsList)
	var old []*ReplicaSet
	for _, rs := range rsList {
		if rs != existing {
			old = append(old, rs)
		}
	}
	newRevision := strconv.FormatInt(maxRevision(old)+1, 10)
	_, hasDeadline := d.progressDeadline()

	if existing != nil {
		rs := existing
		ann := maps.Clone(rs.Metadata.Annotations)
		if ann == nil {
			ann = map[string]string{}
		}
		changed := s.setNewRSAnnotations(ann, newRevision, true)
		if changed || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			patch := rawJSON(map[string]any{
				"metadata": map[string]any{"resourceVersion": rs.Metadata.ResourceVersion, "annotations": ann},
				"spec":     map[string]any{"minReadySeconds": d.Spec.MinReadySeconds},
			})
			m, err := s.c.Patch(rsRes, rs.Metadata.Namespace, rs.Metadata.Name, sdk.MergePatch, patch)
			if err != nil {
				return nil, nil, err
			}
			rs.Metadata.ResourceVersion, rs.Metadata.Annotations, rs.Spec.MinReadySeconds = m.ResourceVersion, ann, d.Spec.MinReadySeconds
			return rs, old, nil
		}
		if rev := rs.Metadata.Annotations[revisionAnnotation]; d.Metadata.Annotations[revisionAnnotation] != rev {
			if err := s.setRevision(rev); err != nil {
				return nil, nil, err
			}
		}
		if hasDeadline && sdk.FindCondition(d.Status.Conditions, condProgressing) == nil {
			s.setCondition(newCondition(condProgressing, "True", reasonFoundNewRS, fmt.Sprintf("Found new replica set %q", rs.Metadata.Name), s.now))
			if err := s.updateStatus(); err != nil {
				return nil, nil, err
			}
		}
		return rs, old, nil
	}
	if !create {
		return nil, old, nil
	}

	// A new ReplicaSet: the template plus the pod-template-hash label.
	hash := templateHash(d.Spec.Template, d.Status.CollisionCount)
	var tmpl map[string]any
	if err := json.Unmarshal(d.Spec.Template, &tmpl); err != nil || tmpl == nil {
		tmpl = map[string]any{}
	}
	md, _ := tmpl["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		tmpl["metadata"] = md
	}
	lbls, _ := md["labels"].(map[string]any)
	if lbls == nil {
		lbls = map[string]any{}
		md["labels"] = lbls
	}
	lbls[hashLabel] = hash
	rsLabels := maps.Clone(d.template().Labels)
	if rsLabels == nil {
		rsLabels = map[string]string{}
	}
	rsLabels[hashLabel] = hash
	sel := sdk.LabelSelector{MatchLabels: maps.Clone(d.Spec.Selector.MatchLabels), MatchExpressions: d.Spec.Selector.MatchExpressions}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[hashLabel] = hash
	zero := int32(0)
	newRS := &ReplicaSet{
		Metadata: sdk.ObjectMeta{Name: d.Metadata.Name + "-" + hash, Namespace: d.Metadata.Namespace, Labels: rsLabels,
			Annotations: map[string]string{}, OwnerReferences: []sdk.OwnerReference{sdk.ControllerRef(depGVK, &d.Metadata)}},
		Spec: ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: &sel, Template: rawJSON(tmpl)},
	}
	n := s.newRSNewReplicas(withNew(old, newRS), newRS)
	newRS.Spec.Replicas = &n
	s.setNewRSAnnotations(newRS.Metadata.Annotations, newRevision, false)
	body := rawJSON(map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": newRS.Metadata, "spec": newRS.Spec})
	m, err := s.c.Create(rsRes, d.Metadata.Namespace, body)
	alreadyExists := false
	switch {
	case sdk.IsAlreadyExists(err):
		alreadyExists = true
		if o := s.c.Cache().Get(rsGVK, d.Metadata.Namespace, newRS.Metadata.Name); o != nil {
			rs := o.Value.(*ReplicaSet)
			if ref := rs.Metadata.ControllerOf(); ref != nil && ref.UID == d.Metadata.UID && equalIgnoreHash(rs.template(), d.template()) {
				cp := *rs
				cp.Metadata.Annotations = maps.Clone(cp.Metadata.Annotations)
				newRS, err = &cp, nil
				break
			}
			// A hash collision: bump collisionCount, so the next sync hashes differently.
			cc := int32(0)
			if d.Status.CollisionCount != nil {
				cc = *d.Status.CollisionCount
			}
			cc++
			d.Status.CollisionCount = &cc
			if uerr := s.updateStatus(); uerr != nil {
				return nil, nil, uerr
			}
		}
		return nil, nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", newRS.Metadata.Name, err)
		if hasDeadline {
			s.setCondition(newCondition(condProgressing, "False", reasonRSCreateError, msg, s.now))
			_ = s.updateStatus()
		}
		s.event("Warning", reasonRSCreateError, msg)
		return nil, nil, err
	default:
		newRS.Metadata = m
		if newRS.Metadata.Annotations == nil {
			newRS.Metadata.Annotations = map[string]string{}
		}
	}
	if !alreadyExists && n > 0 {
		s.event("Normal", reasonScalingReplicaSet, fmt.Sprintf("Scaled up replica set %s from 0 to %d", newRS.Metadata.Name, n))
	}
	if d.Metadata.Annotations[revisionAnnotation] != newRevision {
		if err := s.setRevision(newRevision); err != nil {
			return nil, nil, err
		}
	}
	if !alreadyExists && hasDeadline {
		s.setCondition(newCondition(condProgressing, "True", reasonNewRSCreated, fmt.Sprintf("Created new replica set %q", newRS.Metadata.Name), s.now))
		if err := s.updateStatus(); err != nil {
			return nil, nil, err
		}
	}
	return newRS, old, nil
}

func (s *dsync) setRevision(rev string) error {
	if s.d.Metadata.Annotations == nil {
		s.d.Metadata.Annotations = map[string]string{}
	}
	s.d.Metadata.Annotations[revisionAnnotation] = rev
	return s.patchAnnotations(map[string]string{revisionAnnotation: rev})
}

// skipCopy are the deployment annotations not copied to its ReplicaSets.
var skipCopy = map[string]bool{lastAppliedAnn: true, revisionAnnotation: true, revisionHistoryAnn: true, desiredReplicasAnn: true, maxReplicasAnn: true, rollbackToAnn: true}

// setNewRSAnnotations is SetNewReplicaSetAnnotations: it copies the deployment's
// annotations, raises the revision (keeping the old one in revision-history when a
// ReplicaSet is reused, as on undo) and, for a ReplicaSet about to be created, sets
// desired-replicas and max-replicas.
func (s *dsync) setNewRSAnnotations(ann map[string]string, newRevision string, exists bool) bool {
	d := s.d
	changed := false
	for k, v := range d.Metadata.Annotations {
		if skipCopy[k] || ann[k] == v {
			continue
		}
		ann[k] = v
		changed = true
	}
	oldRevision, ok := ann[revisionAnnotation]
	oldInt, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return false
		}
		oldInt = 0
	}
	newInt, _ := strconv.ParseInt(newRevision, 10, 64)
	if oldInt < newInt {
		ann[revisionAnnotation] = newRevision
		changed = true
	}
	if ok && oldInt < newInt {
		hist := ann[revisionHistoryAnn]
		olds := strings.Split(hist, ",")
		if olds[0] == "" {
			ann[revisionHistoryAnn] = oldRevision
		} else {
			total := len(hist) + len(oldRevision) + 1
			start := 0
			for total > maxRevHistoryLenChars && start < len(olds) {
				total -= len(olds[start]) + 1
				start++
			}
			if total <= maxRevHistoryLenChars {
				ann[revisionHistoryAnn] = strings.Join(append(olds[start:], oldRevision), ",")
			}
		}
	}
	if !exists {
		desired, maxR := strconv.Itoa(int(d.replicas())), strconv.Itoa(int(d.replicas()+d.maxSurge()))
		if ann[desiredReplicasAnn] != desired || ann[maxReplicasAnn] != maxR {
			ann[desiredReplicasAnn], ann[maxReplicasAnn] = desired, maxR
			changed = true
		}
	}
	return changed
}

// newRSNewReplicas is NewRSNewReplicas: how big the new ReplicaSet may be now.
func (s *dsync) newRSNewReplicas(all []*ReplicaSet, newRS *ReplicaSet) int32 {
	d := s.d
	if !d.rolling() {
		return d.replicas()
	}
	current, _, _, _ := sumReplicas(all)
	maxTotal := d.replicas() + d.maxSurge()
	if current >= maxTotal {
		return newRS.replicas()
	}
	up := min(maxTotal-current, d.replicas()-newRS.replicas())
	return newRS.replicas() + up
}

// scaleRS is scaleReplicaSetAndRecordEvent.
func (s *dsync) scaleRS(rs *ReplicaSet, n int32) (bool, error) {
	if rs.replicas() == n {
		return false, nil
	}
	op := "down"
	if rs.replicas() < n {
		op = "up"
	}
	return s.scaleReplicaSet(rs, n, op)
}

// scaleReplicaSet sets a ReplicaSet's replicas and its desired-replicas and
// max-replicas annotations, and records ScalingReplicaSet when the size changed.
func (s *dsync) scaleReplicaSet(rs *ReplicaSet, n int32, op string) (bool, error) {
	d := s.d
	sizeChange := rs.replicas() != n
	desired, maxR := strconv.Itoa(int(d.replicas())), strconv.Itoa(int(d.replicas()+d.maxSurge()))
	annChange := rs.Metadata.Annotations[desiredReplicasAnn] != desired || rs.Metadata.Annotations[maxReplicasAnn] != maxR
	if !sizeChange && !annChange {
		return false, nil
	}
	patch := rawJSON(map[string]any{
		"metadata": map[string]any{"resourceVersion": rs.Metadata.ResourceVersion, "annotations": map[string]string{desiredReplicasAnn: desired, maxReplicasAnn: maxR}},
		"spec":     map[string]any{"replicas": n},
	})
	m, err := s.c.Patch(rsRes, rs.Metadata.Namespace, rs.Metadata.Name, sdk.MergePatch, patch)
	if err != nil {
		return false, err
	}
	from := rs.replicas()
	if rs.Metadata.Annotations == nil {
		rs.Metadata.Annotations = map[string]string{}
	}
	rs.Metadata.ResourceVersion = m.ResourceVersion
	rs.Metadata.Annotations[desiredReplicasAnn], rs.Metadata.Annotations[maxReplicasAnn] = desired, maxR
	rs.Spec.Replicas = &n
	if sizeChange {
		s.event("Normal", reasonScalingReplicaSet, fmt.Sprintf("Scaled %s replica set %s from %d to %d", op, rs.Metadata.Name, from, n))
	}
	return sizeChange, nil
}

func (s *dsync) rolloutRolling(rsList []*ReplicaSet) error {
	newRS, old, err := s.allReplicaSets(rsList, true)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)
	// reconcileNewReplicaSet
	scaledUp := false
	if newRS.replicas() > s.d.replicas() {
		scaledUp, err = s.scaleRS(newRS, s.d.replicas())
	} else if newRS.replicas() < s.d.replicas() {
		scaledUp, err = s.scaleRS(newRS, s.newRSNewReplicas(all, newRS))
	}
	if err != nil {
		return err
	}
	if scaledUp {
		return s.syncRolloutStatus(all, newRS)
	}
	scaledDown, err := s.reconcileOld(all, activeRSs(old), newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return s.syncRolloutStatus(all, newRS)
	}
	if deploymentComplete(s.d, &s.d.Status) {
		if err := s.cleanup(old); err != nil {
			return err
		}
	}
	return s.syncRolloutStatus(all, newRS)
}

// reconcileOld is reconcileOldReplicaSets: scale old ReplicaSets down as far as
// maxUnavailable allows, unhealthy replicas first.
func (s *dsync) reconcileOld(all, old []*ReplicaSet, newRS *ReplicaSet) (bool, error) {
	d := s.d
	oldPods, _, _, _ := sumReplicas(old)
	if oldPods == 0 {
		return false, nil
	}
	allPods, _, _, _ := sumReplicas(all)
	minAvailable := d.replicas() - d.maxUnavailable()
	newUnavailable := newRS.replicas() - newRS.Status.AvailableReplicas
	maxScaledDown := allPods - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	// cleanupUnhealthyReplicas
	sortByCreation(old)
	var cleaned int32
	for _, rs := range old {
		if cleaned >= maxScaledDown {
			break
		}
		if rs.replicas() == 0 || rs.replicas() == rs.Status.AvailableReplicas {
			continue
		}
		n := min(maxScaledDown-cleaned, rs.replicas()-rs.Status.AvailableReplicas)
		if _, err := s.scaleRS(rs, rs.replicas()-n); err != nil {
			return false, err
		}
		cleaned += n
	}
	// scaleDownOldReplicaSetsForRollingUpdate
	_, _, _, available := sumReplicas(withNew(old, newRS))
	var scaled int32
	if available > minAvailable {
		total := available - minAvailable
		for _, rs := range old {
			if scaled >= total {
				break
			}
			if rs.replicas() == 0 {
				continue
			}
			n := min(rs.replicas(), total-scaled)
			if _, err := s.scaleRS(rs, rs.replicas()-n); err != nil {
				return false, err
			}
			scaled += n
		}
	}
	return cleaned+scaled > 0, nil
}

func (s *dsync) rolloutRecreate(rsList []*ReplicaSet) error {
	newRS, old, err := s.allReplicaSets(rsList, false)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)
	scaledDown := false
	for _, rs := range activeRSs(old) {
		if _, err := s.scaleRS(rs, 0); err != nil {
			return err
		}
		scaledDown = true
	}
	if scaledDown {
		return s.syncRolloutStatus(all, newRS)
	}
	if s.oldPodsRunning(newRS, old) {
		return s.syncRolloutStatus(all, newRS)
	}
	if newRS == nil {
		if newRS, old, err = s.allReplicaSets(rsList, true); err != nil {
			return err
		}
		all = withNew(old, newRS)
	}
	if _, err := s.scaleRS(newRS, s.d.replicas()); err != nil {
		return err
	}
	if deploymentComplete(s.d, &s.d.Status) {
		if err := s.cleanup(old); err != nil {
			return err
		}
	}
	return s.syncRolloutStatus(all, newRS)
}

// oldPodsRunning: old ReplicaSets still report pods, or the cache still holds pods of
// theirs in a non-terminal phase (terminating ones included). Pod removals do not
// requeue the deployment, so waiting on the latter asks for a look a second later.
func (s *dsync) oldPodsRunning(newRS *ReplicaSet, old []*ReplicaSet) bool {
	if _, actual, _, _ := sumReplicas(old); actual > 0 {
		return true
	}
	for _, rs := range old {
		for _, o := range s.c.Cache().Controlled(podGVK, rs.Metadata.UID) {
			if ph := o.Value.(*Pod).Status.Phase; ph != "Failed" && ph != "Succeeded" {
				s.requeue = recreateTerminatingRecall
				return true
			}
		}
	}
	return false
}

// cleanup deletes the oldest fully scaled-down ReplicaSets beyond
// revisionHistoryLimit.
func (s *dsync) cleanup(old []*ReplicaSet) error {
	var alive []*ReplicaSet
	for _, rs := range old {
		if !rs.Metadata.Deleting() {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(s.d.revisionHistoryLimit())
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := revision(alive[i]), revision(alive[j])
		if ri == rj {
			return olderRS(alive[i], alive[j])
		}
		return ri < rj
	})
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || rs.replicas() != 0 || rs.Metadata.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := s.c.Delete(rsRes, rs.Metadata.Namespace, rs.Metadata.Name, sdk.DeleteOptions{UID: rs.Metadata.UID})
		if err != nil && !sdk.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// syncScale is sync: scaling (and history cleanup while paused), no rollout.
func (s *dsync) syncScale(rsList []*ReplicaSet) error {
	newRS, old, err := s.allReplicaSets(rsList, false)
	if err != nil {
		return err
	}
	if err := s.scale(newRS, old); err != nil {
		return err
	}
	if s.d.Spec.Paused {
		if err := s.cleanup(old); err != nil {
			return err
		}
	}
	return s.syncStatus(withNew(old, newRS), newRS)
}

func (s *dsync) isScalingEvent(rsList []*ReplicaSet) (bool, error) {
	newRS, old, err := s.allReplicaSets(rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range activeRSs(withNew(old, newRS)) {
		if v, ok := rs.Metadata.Annotations[desiredReplicasAnn]; ok {
			if n, err := strconv.Atoi(v); err == nil && int32(n) != s.d.replicas() {
				return true, nil
			}
		}
	}
	return false, nil
}

// scale resizes the ReplicaSets to the deployment's replicas: the only active one
// wholly, or, mid-rollout, all active ones in proportion to their sizes.
func (s *dsync) scale(newRS *ReplicaSet, old []*ReplicaSet) error {
	d := s.d
	if rs := findActiveOrLatest(newRS, old); rs != nil {
		if rs.replicas() == d.replicas() {
			return nil
		}
		_, err := s.scaleRS(rs, d.replicas())
		return err
	}
	if isSaturated(d, newRS) {
		for _, rs := range activeRSs(old) {
			if _, err := s.scaleRS(rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !d.rolling() {
		return nil
	}
	all := activeRSs(withNew(old, newRS))
	total, _, _, _ := sumReplicas(all)
	allowed := int32(0)
	if d.replicas() > 0 {
		allowed = d.replicas() + d.maxSurge()
	}
	toAdd := allowed - total
	op := ""
	switch {
	case toAdd > 0:
		sort.SliceStable(all, func(i, j int) bool { // bigger first, newer first
			if all[i].replicas() == all[j].replicas() {
				return olderRS(all[j], all[i])
			}
			return all[i].replicas() > all[j].replicas()
		})
		op = "up"
	case toAdd < 0:
		sort.SliceStable(all, func(i, j int) bool { // bigger first, older first
			if all[i].replicas() == all[j].replicas() {
				return olderRS(all[i], all[j])
			}
			return all[i].replicas() > all[j].replicas()
		})
		op = "down"
	}
	added := int32(0)
	sizes := make([]int32, len(all))
	for i, rs := range all {
		sizes[i] = rs.replicas()
		if toAdd != 0 {
			p := s.proportion(rs, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	for i, rs := range all {
		if i == 0 && toAdd != 0 {
			sizes[i] = max(sizes[i]+toAdd-added, 0)
		}
		if _, err := s.scaleReplicaSet(rs, sizes[i], op); err != nil {
			return err
		}
	}
	return nil
}

// proportion is GetProportion.
func (s *dsync) proportion(rs *ReplicaSet, toAdd, added int32) int32 {
	if rs.replicas() == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	d := s.d
	var fraction int32
	if d.replicas() == 0 {
		fraction = -rs.replicas()
	} else {
		target := d.replicas() + d.maxSurge()
		annotated := d.Status.Replicas
		if v, ok := rs.Metadata.Annotations[maxReplicasAnn]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				annotated = int32(n)
			}
		}
		size := float64(rs.replicas()*target) / float64(annotated)
		fraction = int32(roundHalfAway(size)) - rs.replicas()
	}
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

func roundHalfAway(f float64) float64 {
	if f < 0 {
		return -roundHalfAway(-f)
	}
	return float64(int64(f + 0.5))
}

func findActiveOrLatest(newRS *ReplicaSet, old []*ReplicaSet) *ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*ReplicaSet(nil), old...)
	sort.SliceStable(sorted, func(i, j int) bool { return olderRS(sorted[j], sorted[i]) })
	all := activeRSs(withNew(sorted, newRS))
	switch len(all) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return all[0]
	}
	return nil
}

func isSaturated(d *Deployment, rs *ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, err := strconv.Atoi(rs.Metadata.Annotations[desiredReplicasAnn])
	if err != nil {
		return false
	}
	return rs.replicas() == d.replicas() && int32(desired) == d.replicas() && rs.Status.AvailableReplicas == d.replicas()
}

func (s *dsync) checkPausedConditions() error {
	d := s.d
	if _, ok := d.progressDeadline(); !ok {
		return nil
	}
	cond := sdk.FindCondition(d.Status.Conditions, condProgressing)
	if cond != nil && cond.Reason == reasonTimedOut {
		return nil
	}
	pausedExists := cond != nil && cond.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !pausedExists:
		s.setCondition(newCondition(condProgressing, "Unknown", reasonPaused, "Deployment is paused", s.now))
	case !d.Spec.Paused && pausedExists:
		s.setCondition(newCondition(condProgressing, "Unknown", reasonResumed, "Deployment is resumed", s.now))
	default:
		return nil
	}
	return s.updateStatus()
}

func newCondition(t, status, reason, msg string, now time.Time) sdk.Condition {
	ts := formatTime(now)
	return sdk.Condition{Type: t, Status: status, LastUpdateTime: ts, LastTransitionTime: ts, Reason: reason, Message: msg}
}

// setConditionIn is SetDeploymentCondition: no change when status and reason are the
// same; the transition time is kept when only the reason changes.
func setConditionIn(st *DeploymentStatus, c sdk.Condition) {
	cur := sdk.FindCondition(st.Conditions, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	st.Conditions = append(removeCondition(st.Conditions, c.Type), c)
}

func (s *dsync) setCondition(c sdk.Condition) { setConditionIn(&s.d.Status, c) }

// status is calculateStatus.
func (s *dsync) status(all []*ReplicaSet, newRS *ReplicaSet) DeploymentStatus {
	d := s.d
	spec, actual, ready, available := sumReplicas(all)
	var updated int32
	if newRS != nil {
		updated = newRS.Status.Replicas
	}
	st := DeploymentStatus{
		ObservedGeneration: d.Metadata.Generation, Replicas: actual, UpdatedReplicas: updated,
		ReadyReplicas: ready, AvailableReplicas: available, UnavailableReplicas: max(spec-available, 0),
		CollisionCount: d.Status.CollisionCount,
		Conditions:     append([]sdk.Condition(nil), d.Status.Conditions...),
	}
	if available >= d.replicas()-d.maxUnavailable() {
		setConditionIn(&st, newCondition(condAvailable, "True", reasonMinAvailable, "Deployment has minimum availability.", s.now))
	} else {
		setConditionIn(&st, newCondition(condAvailable, "False", reasonMinUnavailable, "Deployment does not have minimum availability.", s.now))
	}
	return st
}

func statusEqual(a, b *DeploymentStatus) bool {
	x, y := *a, *b
	x.Conditions, y.Conditions = normConds(x.Conditions), normConds(y.Conditions)
	return reflect.DeepEqual(x, y)
}

func (s *dsync) syncStatus(all []*ReplicaSet, newRS *ReplicaSet) error {
	st := s.status(all, newRS)
	if statusEqual(&s.d.Status, &st) {
		return nil
	}
	s.d.Status = st
	return s.updateStatus()
}

func deploymentComplete(d *Deployment, st *DeploymentStatus) bool {
	n := d.replicas()
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n && st.ObservedGeneration >= d.Metadata.Generation
}

func deploymentProgressing(d *Deployment, st *DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas || st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas || st.AvailableReplicas > old.AvailableReplicas
}

func (s *dsync) timedOut(st *DeploymentStatus) bool {
	deadline, ok := s.d.progressDeadline()
	if !ok {
		return false
	}
	c := sdk.FindCondition(st.Conditions, condProgressing)
	if c == nil || c.Reason == reasonNewRSAvailable {
		return false
	}
	if c.Reason == reasonTimedOut {
		return true
	}
	return parseTime(c.LastUpdateTime).Add(deadline).Before(s.now)
}

// syncRolloutStatus updates the status and the Progressing condition, and asks to be
// called again when the progress deadline would pass.
func (s *dsync) syncRolloutStatus(all []*ReplicaSet, newRS *ReplicaSet) error {
	d := s.d
	st := s.status(all, newRS)
	_, hasDeadline := d.progressDeadline()
	if !hasDeadline {
		st.Conditions = removeCondition(st.Conditions, condProgressing)
	}
	cur := sdk.FindCondition(d.Status.Conditions, condProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	subject := fmt.Sprintf("Deployment %q", d.Metadata.Name)
	if newRS != nil {
		subject = fmt.Sprintf("ReplicaSet %q", newRS.Metadata.Name)
	}
	if hasDeadline && !complete {
		switch {
		case deploymentComplete(d, &st):
			setConditionIn(&st, newCondition(condProgressing, "True", reasonNewRSAvailable, subject+" has successfully progressed.", s.now))
		case deploymentProgressing(d, &st):
			c := newCondition(condProgressing, "True", reasonRSUpdated, subject+" is progressing.", s.now)
			if cur != nil {
				if cur.Status == "True" {
					c.LastTransitionTime = cur.LastTransitionTime
				}
				st.Conditions = removeCondition(st.Conditions, condProgressing)
			}
			setConditionIn(&st, c)
		case s.timedOut(&st):
			setConditionIn(&st, newCondition(condProgressing, "False", reasonTimedOut, subject+" has timed out progressing.", s.now))
		}
	}
	if failures := replicaFailures(all, newRS); len(failures) > 0 {
		setConditionIn(&st, failures[0])
	} else {
		st.Conditions = removeCondition(st.Conditions, condReplicaFailure)
	}
	if !statusEqual(&d.Status, &st) {
		d.Status = st
		if err := s.updateStatus(); err != nil {
			return err
		}
	}
	// The timed-out status is written first, so `kubectl rollout status` reports the
	// failed rollout; then the rollback starts a new one.
	if c := sdk.FindCondition(st.Conditions, condProgressing); c != nil && c.Reason == reasonTimedOut && d.Metadata.Annotations[autoRollbackAnn] == "true" {
		if err := s.autoRollback(all, newRS); err != nil {
			return err
		}
	}
	s.requeueStuck(&st)
	return nil
}

func replicaFailures(all []*ReplicaSet, newRS *ReplicaSet) []sdk.Condition {
	conv := func(rs *ReplicaSet) []sdk.Condition {
		var out []sdk.Condition
		for _, c := range rs.Status.Conditions {
			if c.Type == condReplicaFailure {
				out = append(out, sdk.Condition{Type: c.Type, Status: c.Status, LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message})
			}
		}
		return out
	}
	if newRS != nil {
		if out := conv(newRS); len(out) > 0 {
			return out
		}
	}
	var out []sdk.Condition
	for _, rs := range all {
		out = append(out, conv(rs)...)
	}
	return out
}

// requeueStuck is requeueStuckDeployment: look again just after the progress
// deadline of a rollout still in progress.
func (s *dsync) requeueStuck(st *DeploymentStatus) {
	deadline, ok := s.d.progressDeadline()
	c := sdk.FindCondition(st.Conditions, condProgressing)
	if !ok || c == nil || deploymentComplete(s.d, st) || c.Reason == reasonTimedOut {
		return
	}
	after := parseTime(c.LastUpdateTime).Add(deadline).Sub(s.now) + time.Second
	if after < time.Second {
		after = time.Second
	}
	if s.requeue == 0 || after < s.requeue {
		s.requeue = after
	}
}

// autoRollback (weft.dev/auto-rollback: "true") rolls a deployment whose rollout
// exceeded its progress deadline back to the previous revision's template, as
// `kubectl rollout undo` would, and records which revision it rolled back from.
func (s *dsync) autoRollback(all []*ReplicaSet, newRS *ReplicaSet) error {
	d := s.d
	byRev := append([]*ReplicaSet(nil), all...)
	sort.SliceStable(byRev, func(i, j int) bool { return revision(byRev[i]) > revision(byRev[j]) })
	if len(byRev) < 2 || newRS == nil || revision(byRev[0]) != revision(newRS) {
		return nil // no history, or the new ReplicaSet is not the latest revision
	}
	target := byRev[1]
	from := strconv.FormatInt(revision(newRS), 10)
	to := strconv.FormatInt(revision(target), 10)
	// Once per failed revision; never back to the revision an earlier rollback left;
	// not when the template is the target's already (the rollback is under way).
	if revision(target) == 0 || d.Metadata.Annotations[rolledBackFromAnn] == from || d.Metadata.Annotations[rolledBackFromAnn] == to || equalIgnoreHash(target.template(), d.template()) {
		return nil
	}
	var tmpl map[string]any
	if err := json.Unmarshal(target.Spec.Template, &tmpl); err != nil {
		return err
	}
	if md, ok := tmpl["metadata"].(map[string]any); ok {
		if l, ok := md["labels"].(map[string]any); ok {
			delete(l, hashLabel)
		}
	}
	ann := maps.Clone(d.Metadata.Annotations)
	if cc, ok := target.Metadata.Annotations["kubernetes.io/change-cause"]; ok {
		ann["kubernetes.io/change-cause"] = cc
	}
	ann[rolledBackFromAnn] = from
	patch := rawJSON([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": d.Metadata.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": ann},
	})
	m, err := s.c.Patch(depRes, d.Metadata.Namespace, d.Metadata.Name, sdk.JSONPatch, patch)
	if err != nil {
		return err
	}
	d.Metadata.ResourceVersion = m.ResourceVersion
	d.Metadata.Annotations = ann
	s.event("Warning", reasonRolledBack, fmt.Sprintf("Rolled back deployment %q from revision %s to revision %s: it exceeded its progress deadline", d.Metadata.Name, from, to))
	return nil
}
