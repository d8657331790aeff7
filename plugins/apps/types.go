package apps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
	"time"

	"weft.dev/weft/sdk"
)

// The typed views the cache decodes fed objects into: only the fields the
// controllers read. Pod templates stay raw JSON so unknown fields survive.

var (
	podGVK = sdk.GVK{Version: "v1", Kind: "Pod"}
	rsGVK  = sdk.GVK{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
	depGVK = sdk.GVK{Group: "apps", Version: "v1", Kind: "Deployment"}

	podRes = sdk.Resource{Version: "v1", Resource: "pods"}
	rsRes  = sdk.Resource{Group: "apps", Version: "v1", Resource: "replicasets"}
	depRes = sdk.Resource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// Well-known labels and annotations.
const (
	hashLabel             = "pod-template-hash"
	revisionAnnotation    = "deployment.kubernetes.io/revision"
	revisionHistoryAnn    = "deployment.kubernetes.io/revision-history"
	desiredReplicasAnn    = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnn        = "deployment.kubernetes.io/max-replicas"
	lastAppliedAnn        = "kubectl.kubernetes.io/last-applied-configuration"
	rollbackToAnn         = "deprecated.deployment.rollback.to"
	deletionCostAnn       = "controller.kubernetes.io/pod-deletion-cost"
	autoRollbackAnn       = "weft.dev/auto-rollback"
	rolledBackFromAnn     = "weft.dev/rolled-back-from"
	maxRevHistoryLenChars = 2000
)

// Pod is what the controllers read of a pod, and no more: the ReplicaSet controller
// is fed every pod in the cluster (to adopt orphans, as kube's does), so each field
// kept here is paid for tens of thousands of times within the guest's memory cap.
// Only DecodeJSON fills it.
type Pod struct {
	// Metadata less generateName, generation, deletionGracePeriodSeconds, finalizers
	// and every annotation but the pod-deletion-cost.
	Metadata sdk.ObjectMeta
	Spec     struct {
		NodeName string
	}
	Status struct {
		Phase string
		// Ready is the Ready condition's status, ReadySince its lastTransitionTime.
		Ready, ReadySince string
		// Restarts is the most restarts of any container or init container.
		Restarts int32
	}

	share *podShare // for DecodeJSON, which clears it
}

// ObjectMeta implements sdk.Metadata.
func (p *Pod) ObjectMeta() *sdk.ObjectMeta { return &p.Metadata }

func (p *Pod) active() bool {
	return p.Status.Phase != "Succeeded" && p.Status.Phase != "Failed" && !p.Metadata.Deleting()
}

func (p *Pod) ready() bool { return p.Status.Ready == "True" }

// available: ready for at least minReadySeconds, as kube's IsPodAvailable.
func (p *Pod) available(minReadySeconds int32, now time.Time) bool {
	if !p.ready() {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	t := parseTime(p.Status.ReadySince)
	return !t.IsZero() && t.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// ReplicaSet is apps/v1 ReplicaSet, template kept raw.
type ReplicaSet struct {
	Metadata sdk.ObjectMeta   `json:"metadata"`
	Spec     ReplicaSetSpec   `json:"spec"`
	Status   ReplicaSetStatus `json:"status"`

	tmpl *podTemplate // parsed template, lazily
}

// ObjectMeta implements sdk.Metadata.
func (r *ReplicaSet) ObjectMeta() *sdk.ObjectMeta { return &r.Metadata }

// ReplicaSetSpec is apps/v1 ReplicaSetSpec.
type ReplicaSetSpec struct {
	Replicas        *int32             `json:"replicas,omitempty"`
	MinReadySeconds int32              `json:"minReadySeconds,omitempty"`
	Selector        *sdk.LabelSelector `json:"selector,omitempty"`
	Template        json.RawMessage    `json:"template,omitempty"`
}

// ReplicaSetStatus is apps/v1 ReplicaSetStatus.
type ReplicaSetStatus struct {
	Replicas             int32           `json:"replicas"`
	FullyLabeledReplicas int32           `json:"fullyLabeledReplicas,omitempty"`
	ReadyReplicas        int32           `json:"readyReplicas,omitempty"`
	AvailableReplicas    int32           `json:"availableReplicas,omitempty"`
	ObservedGeneration   int64           `json:"observedGeneration,omitempty"`
	Conditions           []sdk.Condition `json:"conditions,omitempty"`
}

func (r *ReplicaSet) replicas() int32 {
	if r.Spec.Replicas == nil {
		return 1
	}
	return *r.Spec.Replicas
}

func (r *ReplicaSet) template() *podTemplate {
	if r.tmpl == nil {
		r.tmpl = parseTemplate(r.Spec.Template)
	}
	return r.tmpl
}

// podTemplate is a parsed pod template: the metadata a pod inherits, the raw spec,
// and the canonical form templates are compared by.
type podTemplate struct {
	Labels      map[string]string
	Annotations map[string]string
	Finalizers  []string
	Spec        json.RawMessage
	canonical   any // with the pod-template-hash label removed
}

func parseTemplate(raw json.RawMessage) *podTemplate {
	var t struct {
		Metadata struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
			Finalizers  []string          `json:"finalizers"`
		} `json:"metadata"`
		Spec json.RawMessage `json:"spec"`
	}
	_ = json.Unmarshal(raw, &t)
	pt := &podTemplate{Labels: t.Metadata.Labels, Annotations: t.Metadata.Annotations, Finalizers: t.Metadata.Finalizers, Spec: t.Spec}
	if len(pt.Spec) == 0 {
		pt.Spec = json.RawMessage(`{}`)
	}
	pt.canonical = canonicalTemplate(raw, true)
	return pt
}

// canonicalTemplate decodes a template and drops what Kubernetes' semantic equality
// ignores: nulls, empty maps and empty lists; dropHash removes the pod-template-hash
// label, as EqualIgnoreHash does.
func canonicalTemplate(raw json.RawMessage, dropHash bool) any {
	var v any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &v)
	}
	if dropHash {
		if m, ok := v.(map[string]any); ok {
			if md, ok := m["metadata"].(map[string]any); ok {
				if l, ok := md["labels"].(map[string]any); ok {
					delete(l, hashLabel)
				}
			}
		}
	}
	return prune(v)
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if p := prune(e); p == nil {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
		for i := range x {
			x[i] = prune(x[i])
		}
	}
	return v
}

func equalIgnoreHash(a, b *podTemplate) bool { return reflect.DeepEqual(a.canonical, b.canonical) }

// templateHash is the pod-template-hash of a template: FNV-32a of its canonical JSON
// and the collision count, rendered as kube's rand.SafeEncodeString renders it.
func templateHash(raw json.RawMessage, collisionCount *int32) string {
	canon, _ := json.Marshal(canonicalTemplate(raw, true))
	h := fnv.New32a()
	h.Write(canon)
	if collisionCount != nil {
		b := make([]byte, 8)
		b[0], b[1], b[2], b[3] = byte(*collisionCount), byte(*collisionCount>>8), byte(*collisionCount>>16), byte(*collisionCount>>24)
		h.Write(b)
	}
	return safeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

func safeEncodeString(s string) string {
	const alphanums = "bcdfghjklmnpqrstvwxz2456789"
	r := make([]byte, len(s))
	for i, b := range []byte(s) {
		r[i] = alphanums[int(b)%len(alphanums)]
	}
	return string(r)
}

// Deployment is apps/v1 Deployment, template kept raw.
type Deployment struct {
	Metadata sdk.ObjectMeta   `json:"metadata"`
	Spec     DeploymentSpec   `json:"spec"`
	Status   DeploymentStatus `json:"status"`

	tmpl *podTemplate
}

// ObjectMeta implements sdk.Metadata.
func (d *Deployment) ObjectMeta() *sdk.ObjectMeta { return &d.Metadata }

// DeploymentSpec is apps/v1 DeploymentSpec.
type DeploymentSpec struct {
	Replicas                *int32             `json:"replicas,omitempty"`
	Selector                *sdk.LabelSelector `json:"selector,omitempty"`
	Template                json.RawMessage    `json:"template,omitempty"`
	Strategy                Strategy           `json:"strategy"`
	MinReadySeconds         int32              `json:"minReadySeconds,omitempty"`
	RevisionHistoryLimit    *int32             `json:"revisionHistoryLimit,omitempty"`
	Paused                  bool               `json:"paused,omitempty"`
	ProgressDeadlineSeconds *int32             `json:"progressDeadlineSeconds,omitempty"`
}

// Strategy is apps/v1 DeploymentStrategy.
type Strategy struct {
	Type          string `json:"type,omitempty"`
	RollingUpdate *struct {
		MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
		MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
	} `json:"rollingUpdate,omitempty"`
}

// DeploymentStatus is apps/v1 DeploymentStatus.
type DeploymentStatus struct {
	ObservedGeneration  int64           `json:"observedGeneration,omitempty"`
	Replicas            int32           `json:"replicas,omitempty"`
	UpdatedReplicas     int32           `json:"updatedReplicas,omitempty"`
	ReadyReplicas       int32           `json:"readyReplicas,omitempty"`
	AvailableReplicas   int32           `json:"availableReplicas,omitempty"`
	UnavailableReplicas int32           `json:"unavailableReplicas,omitempty"`
	Conditions          []sdk.Condition `json:"conditions,omitempty"`
	CollisionCount      *int32          `json:"collisionCount,omitempty"`
}

func (d *Deployment) template() *podTemplate {
	if d.tmpl == nil {
		d.tmpl = parseTemplate(d.Spec.Template)
	}
	return d.tmpl
}

// Defaults the kernel does not apply yet (the API server's for apps/v1).

func (d *Deployment) replicas() int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func (d *Deployment) rolling() bool { return d.Spec.Strategy.Type != "Recreate" }

func (d *Deployment) revisionHistoryLimit() int32 {
	if d.Spec.RevisionHistoryLimit == nil {
		return 10
	}
	return *d.Spec.RevisionHistoryLimit
}

func (d *Deployment) progressDeadline() (time.Duration, bool) {
	s := int32(600)
	if d.Spec.ProgressDeadlineSeconds != nil {
		s = *d.Spec.ProgressDeadlineSeconds
	}
	if s == 1<<31-1 {
		return 0, false
	}
	return time.Duration(s) * time.Second, true
}

// IntOrString is intstr.IntOrString.
type IntOrString struct {
	IsString bool
	Int      int32
	Str      string
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsString = true
		return json.Unmarshal(b, &v.Str)
	}
	return json.Unmarshal(b, &v.Int)
}

// MarshalJSON implements json.Marshaler.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsString {
		return json.Marshal(v.Str)
	}
	return json.Marshal(v.Int)
}

// scaled is intstr.GetScaledValueFromIntOrPercent.
func scaled(v *IntOrString, def string, total int32, roundUp bool) (int32, error) {
	if v == nil {
		v = &IntOrString{IsString: true, Str: def}
	}
	if !v.IsString {
		return v.Int, nil
	}
	s, ok := strings.CutSuffix(v.Str, "%")
	if !ok {
		return 0, fmt.Errorf("invalid value for IntOrString: invalid type: string is not a percentage")
	}
	pct, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid value %q: %v", v.Str, err)
	}
	n := int64(pct) * int64(total)
	if roundUp {
		return int32((n + 99) / 100), nil
	}
	return int32(n / 100), nil
}

// fenceposts is deploymentutil.ResolveFenceposts: surge rounds up, unavailable
// down, and both zero makes unavailable 1.
func (d *Deployment) fenceposts() (surge, unavailable int32, err error) {
	var ms, mu *IntOrString
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		ms, mu = ru.MaxSurge, ru.MaxUnavailable
	}
	if surge, err = scaled(ms, "25%", d.replicas(), true); err != nil {
		return 0, 0, err
	}
	if unavailable, err = scaled(mu, "25%", d.replicas(), false); err != nil {
		return 0, 0, err
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable, nil
}

func (d *Deployment) maxSurge() int32 {
	if !d.rolling() {
		return 0
	}
	s, _, _ := d.fenceposts()
	return s
}

func (d *Deployment) maxUnavailable() int32 {
	if !d.rolling() || d.replicas() == 0 {
		return 0
	}
	_, u, _ := d.fenceposts()
	return min(u, d.replicas())
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func isStatus(err error, reason string) bool {
	var st *sdk.Status
	return errors.As(err, &st) && st.Reason == reason
}

// rawJSON marshals v; the values marshalled here cannot fail.
func rawJSON(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimRight(buf.Bytes(), "\n")
}
