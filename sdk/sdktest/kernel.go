package sdktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"weft.dev/weft/sdk"
)

// Kind describes a resource the fake kernel serves.
type Kind struct {
	GVK        sdk.GVK
	Resource   string
	Namespaced bool
	// Status: the kind has a status subresource, so writes to the main resource keep
	// the stored status and status writes change nothing else.
	Status bool
}

// Event is an event a plugin recorded.
type Event struct {
	Type, Reason, Message string
	// About: the object the event is about.
	Resource, Namespace, Name, UID string
}

// Kernel is the fake kernel. Its exported fields may be set before Run.
type Kernel struct {
	// Fault, when set, is consulted before every operation (batch items included);
	// a non-nil result fails the operation with that status.
	Fault func(op sdk.Op, req *sdk.CallRequest) *sdk.Status
	// AfterReconcile, when set, is called after every reconcile, to check invariants.
	AfterReconcile func(req sdk.ReconcileRequest, res sdk.ReconcileResult, err error)
	// GracefulPods makes deletes of scheduled pods set a deletionTimestamp, as the API
	// does for pods bound to a node; FinishTerminating removes them.
	GracefulPods bool
	// HoldFeed keeps changes from reaching the plugin's cache (a lagging feed) until
	// it is cleared.
	HoldFeed bool
	// MaxSteps bounds Run (default 10000 reconciles).
	MaxSteps int
	// Config is what OpConfig returns (default {}).
	Config json.RawMessage

	// Reconciles counts reconcile calls; Calls counts operations by op (batch items
	// counted under their own op too).
	Reconciles int
	Calls      map[sdk.Op]int
	// Batches records the ops of every batch call, in order.
	Batches [][]sdk.Op
	// Errors are the errors reconciles returned, in order.
	Errors []error
	Logs   []string

	manifest sdk.Manifest
	handlers sdk.Handlers
	cache    *sdk.Cache
	client   *sdk.Client

	kinds   []Kind
	objs    map[string]map[string]map[string]any // resource -> ns/name -> object
	rv      int64
	uids    int64
	rand    *rand.Rand
	now     time.Time
	events  []Event
	pending []sdk.FeedEvent
	fields  map[sdk.GVK][]string
	// controlledOnly maps a kind fed with sdk.FieldSet.ControlledOnly to the kinds
	// ("group/Kind") whose control gets its objects fed in full; fed holds what was
	// last fed of each object.
	controlledOnly map[sdk.GVK]map[string]bool
	fed            map[string][]byte

	queue    []sdk.ReconcileRequest
	queued   map[sdk.ReconcileRequest]bool
	delayed  map[sdk.ReconcileRequest]time.Time
	failures map[sdk.ReconcileRequest]int
}

// Epoch is where the fake clock starts.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// BuiltinKinds are served besides the manifest's kinds.
var BuiltinKinds = []Kind{
	{GVK: sdk.GVK{Version: "v1", Kind: "Pod"}, Resource: "pods", Namespaced: true, Status: true},
	{GVK: sdk.GVK{Version: "v1", Kind: "ConfigMap"}, Resource: "configmaps", Namespaced: true},
	{GVK: sdk.GVK{Version: "v1", Kind: "Namespace"}, Resource: "namespaces", Status: true},
}

// New returns a fake kernel serving the manifest's kinds and BuiltinKinds, feeding a
// fresh cache that decodes with h.Types.
func New(m sdk.Manifest, h sdk.Handlers) *Kernel {
	k := &Kernel{
		manifest: m, handlers: h,
		objs:     map[string]map[string]map[string]any{},
		rand:     rand.New(rand.NewPCG(1, 2)),
		now:      Epoch,
		Calls:    map[sdk.Op]int{},
		queued:   map[sdk.ReconcileRequest]bool{},
		delayed:  map[sdk.ReconcileRequest]time.Time{},
		failures: map[sdk.ReconcileRequest]int{},
		fields:   map[sdk.GVK][]string{},
		fed:      map[string][]byte{},
	}
	k.kinds = append(k.kinds, BuiltinKinds...)
	for _, ks := range m.Kinds {
		k.kinds = append(k.kinds, Kind{GVK: sdk.GVK{Group: ks.Group, Version: ks.Version, Kind: ks.Kind}, Resource: ks.Resource, Namespaced: ks.Namespaced, Status: ks.Status})
	}
	// As the host does: a kind is projected to the union of the declared paths,
	// unless some controller names it without declaring fields (then it is fed whole).
	whole := map[sdk.GVK]bool{}
	for _, c := range m.Controllers {
		for _, g := range append([]sdk.GVK{c.For}, c.Owns...) {
			listed := false
			for _, f := range c.Fields {
				if f.Kind != g {
					continue
				}
				listed = true
				for _, p := range f.Paths {
					if !slices.Contains(k.fields[g], p) {
						k.fields[g] = append(k.fields[g], p)
					}
				}
			}
			if !listed {
				whole[g] = true
			}
		}
	}
	for g := range whole {
		delete(k.fields, g)
	}
	// As the host does; a manifest the host would refuse fails the test at once.
	only, err := m.ControlledOnly()
	if err != nil {
		panic("sdktest: " + err.Error())
	}
	k.controlledOnly = only
	k.cache = sdk.NewCache(h.Types)
	if h.Observe != nil {
		k.cache.Observe(h.Observe)
	}
	_ = k.cache.Apply(sdk.FeedEvent{Type: sdk.Synced})
	k.client = sdk.NewClient(k, k.cache)
	return k
}

// Now is the fake time.
func (k *Kernel) Now() time.Time { return k.now }

// Client is the client handlers receive.
func (k *Kernel) Client() *sdk.Client { return k.client }

// Log implements sdk.Host.
func (k *Kernel) Log(level sdk.Level, msg string) {
	k.Logs = append(k.Logs, fmt.Sprintf("%d %s", level, msg))
}

func (k *Kernel) kindByResource(group, resource string) (Kind, bool) {
	for _, ki := range k.kinds {
		if ki.GVK.Group == group && ki.Resource == resource {
			return ki, true
		}
	}
	return Kind{}, false
}

func (k *Kernel) kindByGVK(g sdk.GVK) (Kind, bool) {
	for _, ki := range k.kinds {
		if ki.GVK == g {
			return ki, true
		}
	}
	return Kind{}, false
}

func qualified(ki Kind) string {
	if ki.GVK.Group == "" {
		return ki.Resource
	}
	return ki.Resource + "." + ki.GVK.Group
}

func statusErr(code int32, reason, msg string) *sdk.Status {
	return &sdk.Status{Code: code, Reason: reason, Message: msg}
}

func encodeStatus(st *sdk.Status) []byte {
	b, _ := json.Marshal(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": st.Code, "reason": st.Reason, "message": st.Message})
	return b
}

// Call implements sdk.Host.
func (k *Kernel) Call(op sdk.Op, req sdk.CallRequest) (json.RawMessage, error) {
	if op != sdk.OpBatch {
		return k.do(op, &req)
	}
	k.Calls[op]++
	ops := make([]sdk.Op, len(req.Batch))
	for i := range req.Batch {
		ops[i] = req.Batch[i].Op
	}
	k.Batches = append(k.Batches, ops)
	results := make([]sdk.BatchResult, len(req.Batch))
	for i := range req.Batch {
		out, err := k.do(req.Batch[i].Op, &req.Batch[i].Request)
		if err != nil {
			st, ok := err.(*sdk.Status)
			if !ok {
				st = statusErr(500, "InternalError", err.Error())
			}
			results[i] = sdk.BatchResult{Code: st.Code, Body: encodeStatus(st)}
			continue
		}
		results[i] = sdk.BatchResult{Body: out}
	}
	return sdk.EncodeBatchResults(results), nil
}

func (k *Kernel) do(op sdk.Op, req *sdk.CallRequest) (json.RawMessage, error) {
	k.Calls[op]++
	if k.Fault != nil {
		if st := k.Fault(op, req); st != nil {
			return nil, st
		}
	}
	switch op {
	case sdk.OpConfig:
		if k.Config == nil {
			return json.RawMessage(`{}`), nil
		}
		return k.Config, nil
	case sdk.OpEvent:
		k.events = append(k.events, Event{Type: req.EventType, Reason: req.Reason, Message: req.Message, Resource: req.Resource, Namespace: req.Namespace, Name: req.Name, UID: req.UID})
		return json.RawMessage(`{}`), nil
	}
	ki, ok := k.kindByResource(req.Group, req.Resource)
	if !ok {
		return nil, statusErr(404, "NotFound", fmt.Sprintf("the server could not find the requested resource (%s)", req.Resource))
	}
	var obj map[string]any
	var err error
	switch op {
	case sdk.OpGet:
		obj = k.objs[ki.Resource][key(req.Namespace, req.Name)]
		if obj == nil {
			return nil, notFound(ki, req.Name)
		}
	case sdk.OpList:
		sel, err := ParseSelector(req.LabelSelector)
		if err != nil {
			return nil, statusErr(400, "BadRequest", "unable to parse requirement: "+err.Error())
		}
		items := []any{}
		for _, o := range k.list(ki, req.Namespace, sel) {
			if matchFields(o, req.FieldSelector) {
				items = append(items, o)
			}
		}
		return json.Marshal(map[string]any{"apiVersion": ki.GVK.APIVersion(), "kind": ki.GVK.Kind + "List", "metadata": map[string]any{"resourceVersion": strconv.FormatInt(k.rv, 10)}, "items": items})
	case sdk.OpCreate:
		obj, err = k.create(ki, req)
	case sdk.OpUpdate, sdk.OpUpdateStatus:
		obj, err = k.update(ki, req, op == sdk.OpUpdateStatus)
	case sdk.OpPatch:
		obj, err = k.patch(ki, req)
	case sdk.OpDelete:
		obj, err = k.delete(ki, req.Namespace, req.Name, req.PropagationPolicy, req.UID, req.ResourceVersion)
	default:
		return nil, statusErr(400, "BadRequest", fmt.Sprintf("unknown operation %d", op))
	}
	if err != nil {
		return nil, err
	}
	if req.MetaOnly {
		return json.Marshal(map[string]any{"metadata": obj["metadata"]})
	}
	return json.Marshal(obj)
}

func notFound(ki Kind, name string) *sdk.Status {
	return statusErr(404, "NotFound", fmt.Sprintf("%s %q not found", qualified(ki), name))
}

func key(ns, name string) string { return ns + "/" + name }

func metaOf(obj map[string]any) map[string]any {
	m, _ := obj["metadata"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		obj["metadata"] = m
	}
	return m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func labelsOf(obj map[string]any) map[string]string {
	out := map[string]string{}
	if l, ok := metaOf(obj)["labels"].(map[string]any); ok {
		for k, v := range l {
			out[k], _ = v.(string)
		}
	}
	return out
}

func (k *Kernel) list(ki Kind, ns string, sel Selector) []map[string]any {
	var keys []string
	for kk, o := range k.objs[ki.Resource] {
		if ns != "" && str(metaOf(o), "namespace") != ns {
			continue
		}
		if sel.Matches(labelsOf(o)) {
			keys = append(keys, kk)
		}
	}
	sort.Strings(keys)
	out := make([]map[string]any, len(keys))
	for i, kk := range keys {
		out[i] = k.objs[ki.Resource][kk]
	}
	return out
}

// matchFields supports "a.b=v", "a.b==v" and "a.b!=v", joined by commas.
func matchFields(obj map[string]any, sel string) bool {
	for _, part := range strings.Split(sel, ",") {
		if part == "" {
			continue
		}
		neg := strings.Contains(part, "!=")
		p, v, _ := strings.Cut(strings.Replace(strings.Replace(part, "!=", "=", 1), "==", "=", 1), "=")
		got := fmt.Sprint(lookup(obj, strings.Split(p, ".")))
		if (got == v) == neg {
			return false
		}
	}
	return true
}

func lookup(obj any, path []string) any {
	for _, p := range path {
		m, ok := obj.(map[string]any)
		if !ok {
			return ""
		}
		obj = m[p]
	}
	if obj == nil {
		return ""
	}
	return obj
}

func (k *Kernel) nextRV() string {
	k.rv++
	return strconv.FormatInt(k.rv, 10)
}

func (k *Kernel) timestamp() string { return k.now.UTC().Format(time.RFC3339) }

const suffixChars = "bcdfghjklmnpqrstvwxz2456789"

func (k *Kernel) suffix() string {
	b := make([]byte, 5)
	for i := range b {
		b[i] = suffixChars[k.rand.IntN(len(suffixChars))]
	}
	return string(b)
}

func decodeObject(raw []byte) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, statusErr(400, "BadRequest", "the body of the request was in an unknown format")
	}
	return obj, nil
}

func (k *Kernel) create(ki Kind, req *sdk.CallRequest) (map[string]any, error) {
	obj, err := decodeObject(req.Object)
	if err != nil {
		return nil, err
	}
	m := metaOf(obj)
	if ki.Namespaced {
		if ns := str(m, "namespace"); ns != "" && ns != req.Namespace {
			return nil, statusErr(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
		}
		if req.Namespace == "" {
			return nil, statusErr(400, "BadRequest", "a namespace is required")
		}
		m["namespace"] = req.Namespace
	} else {
		delete(m, "namespace")
	}
	name := str(m, "name")
	if name == "" {
		gn := str(m, "generateName")
		if gn == "" {
			return nil, statusErr(422, "Invalid", fmt.Sprintf("%s is invalid: metadata.name: Required value: name or generateName is required", ki.GVK.Kind))
		}
		name = gn + k.suffix()
		for k.objs[ki.Resource][key(req.Namespace, name)] != nil {
			name = gn + k.suffix()
		}
		m["name"] = name
	}
	kk := key(str(m, "namespace"), name)
	if k.objs[ki.Resource][kk] != nil {
		return nil, statusErr(409, "AlreadyExists", fmt.Sprintf("%s %q already exists", qualified(ki), name))
	}
	k.uids++
	m["uid"] = fmt.Sprintf("00000000-0000-4000-8000-%012d", k.uids)
	m["resourceVersion"] = k.nextRV()
	m["creationTimestamp"] = k.timestamp()
	m["generation"] = float64(1)
	delete(m, "deletionTimestamp")
	delete(m, "deletionGracePeriodSeconds")
	obj["apiVersion"], obj["kind"] = ki.GVK.APIVersion(), ki.GVK.Kind
	if ki.Status {
		delete(obj, "status")
	}
	if ki.Resource == "pods" && ki.GVK.Group == "" {
		obj["status"] = map[string]any{"phase": "Pending"}
	}
	if k.objs[ki.Resource] == nil {
		k.objs[ki.Resource] = map[string]map[string]any{}
	}
	k.objs[ki.Resource][kk] = obj
	k.changed(sdk.Added, ki, obj)
	return obj, nil
}

func conflict(ki Kind, name string) *sdk.Status {
	return statusErr(409, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", qualified(ki), name))
}

func (k *Kernel) update(ki Kind, req *sdk.CallRequest, statusOnly bool) (map[string]any, error) {
	obj, err := decodeObject(req.Object)
	if err != nil {
		return nil, err
	}
	m := metaOf(obj)
	name := str(m, "name")
	if name == "" {
		name = req.Name
	}
	cur := k.objs[ki.Resource][key(req.Namespace, name)]
	if cur == nil {
		return nil, notFound(ki, name)
	}
	if rv := str(m, "resourceVersion"); rv != "" && rv != str(metaOf(cur), "resourceVersion") {
		return nil, conflict(ki, name)
	}
	return k.replace(ki, cur, obj, statusOnly), nil
}

func (k *Kernel) patch(ki Kind, req *sdk.CallRequest) (map[string]any, error) {
	cur := k.objs[ki.Resource][key(req.Namespace, req.Name)]
	if cur == nil {
		return nil, notFound(ki, req.Name)
	}
	doc := deepCopy(cur)
	var next any
	switch sdk.PatchType(req.PatchType) {
	case sdk.JSONPatch:
		var err error
		if next, err = jsonPatch(doc, req.Patch); err != nil {
			return nil, statusErr(422, "Invalid", "json patch: "+err.Error())
		}
	case sdk.MergePatch, sdk.StrategicPatch, sdk.ApplyPatch, "":
		var p any
		if err := json.Unmarshal(req.Patch, &p); err != nil {
			return nil, statusErr(400, "BadRequest", "patch: "+err.Error())
		}
		next = mergePatch(doc, p)
	default:
		return nil, statusErr(415, "UnsupportedMediaType", "unsupported patch type "+req.PatchType)
	}
	obj, ok := next.(map[string]any)
	if !ok {
		return nil, statusErr(422, "Invalid", "patch result is not an object")
	}
	if rv := str(metaOf(obj), "resourceVersion"); rv != str(metaOf(cur), "resourceVersion") {
		return nil, conflict(ki, req.Name)
	}
	return k.replace(ki, cur, obj, false), nil
}

// replace stores next in place of cur, as the API's update strategy would.
func (k *Kernel) replace(ki Kind, cur, next map[string]any, statusOnly bool) map[string]any {
	var out map[string]any
	if statusOnly {
		out = deepCopy(cur).(map[string]any)
		if st, ok := next["status"]; ok {
			out["status"] = st
		} else {
			delete(out, "status")
		}
	} else {
		out = next
		om, cm := metaOf(out), metaOf(cur)
		for _, f := range []string{"name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"} {
			if v, ok := cm[f]; ok {
				om[f] = v
			} else {
				delete(om, f)
			}
		}
		out["apiVersion"], out["kind"] = ki.GVK.APIVersion(), ki.GVK.Kind
		if ki.Status {
			if st, ok := cur["status"]; ok {
				out["status"] = st
			} else {
				delete(out, "status")
			}
		}
		if !jsonEqual(specOf(cur), specOf(out)) {
			g, _ := cm["generation"].(float64)
			om["generation"] = g + 1
		}
	}
	metaOf(out)["resourceVersion"] = metaOf(cur)["resourceVersion"]
	if jsonEqual(out, cur) {
		return cur // a no-op write changes nothing, not even the resourceVersion
	}
	metaOf(out)["resourceVersion"] = k.nextRV()
	m := metaOf(out)
	k.objs[ki.Resource][key(str(m, "namespace"), str(m, "name"))] = out
	k.changed(sdk.Modified, ki, out)
	return out
}

// specOf is everything but metadata and status: what generation tracks.
func specOf(obj map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range obj {
		if k != "metadata" && k != "status" {
			out[k] = v
		}
	}
	return out
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func (k *Kernel) delete(ki Kind, ns, name, policy, uid, rv string) (map[string]any, error) {
	cur := k.objs[ki.Resource][key(ns, name)]
	if cur == nil {
		return nil, notFound(ki, name)
	}
	m := metaOf(cur)
	if uid != "" && uid != str(m, "uid") {
		return nil, statusErr(409, "Conflict", fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, str(m, "uid")))
	}
	if rv != "" && rv != str(m, "resourceVersion") {
		return nil, statusErr(409, "Conflict", fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", rv, str(m, "resourceVersion")))
	}
	if k.GracefulPods && ki.Resource == "pods" && ki.GVK.Group == "" && str(m, "deletionTimestamp") == "" && lookup(cur, []string{"spec", "nodeName"}) != "" {
		phase := lookup(cur, []string{"status", "phase"})
		if phase != "Succeeded" && phase != "Failed" {
			next := deepCopy(cur).(map[string]any)
			nm := metaOf(next)
			nm["deletionTimestamp"] = k.timestamp()
			nm["deletionGracePeriodSeconds"] = float64(30)
			// replace keeps deletionTimestamp from cur; set it on the stored copy.
			nm["resourceVersion"] = k.nextRV()
			k.objs[ki.Resource][key(ns, name)] = next
			k.changed(sdk.Modified, ki, next)
			return next, nil
		}
	}
	k.remove(ki, cur, policy)
	return cur, nil
}

// remove deletes an object and collects its dependents: orphaned with the Orphan
// policy, deleted otherwise once no other owner of theirs exists.
func (k *Kernel) remove(ki Kind, obj map[string]any, policy string) {
	m := metaOf(obj)
	delete(k.objs[ki.Resource], key(str(m, "namespace"), str(m, "name")))
	k.changed(sdk.Deleted, ki, obj)
	uid := str(m, "uid")
	for _, dk := range k.kinds {
		for _, dep := range k.list(dk, "", nil) {
			refs, _ := metaOf(dep)["ownerReferences"].([]any)
			var keep []any
			owned := false
			for _, r := range refs {
				rm, _ := r.(map[string]any)
				if str(rm, "uid") == uid {
					owned = true
					continue
				}
				keep = append(keep, r)
			}
			if !owned {
				continue
			}
			dm := metaOf(dep)
			if policy == "Orphan" || k.ownersAlive(keep) {
				next := deepCopy(dep).(map[string]any)
				if len(keep) == 0 {
					delete(metaOf(next), "ownerReferences")
				} else {
					metaOf(next)["ownerReferences"] = keep
				}
				k.replace(dk, dep, next, false)
				continue
			}
			_, _ = k.delete(dk, str(dm, "namespace"), str(dm, "name"), "Background", "", "")
		}
	}
}

func (k *Kernel) ownersAlive(refs []any) bool {
	for _, r := range refs {
		uid := str(r.(map[string]any), "uid")
		for _, byKey := range k.objs {
			for _, o := range byKey {
				if str(metaOf(o), "uid") == uid {
					return true
				}
			}
		}
	}
	return false
}

// changed feeds a change and enqueues the reconcile keys it maps to.
func (k *Kernel) changed(t sdk.EventType, ki Kind, obj map[string]any) {
	watched := false
	m := metaOf(obj)
	ns := str(m, "namespace")
	for _, c := range k.manifest.Controllers {
		if c.For == ki.GVK {
			watched = true
			k.enqueue(sdk.ReconcileRequest{Controller: c.Name, Kind: c.For, Namespace: ns, Name: str(m, "name")})
		}
		if slices.Contains(c.Owns, ki.GVK) {
			watched = true
			refs, _ := m["ownerReferences"].([]any)
			for _, r := range refs {
				rm, _ := r.(map[string]any)
				if ctl, _ := rm["controller"].(bool); ctl && str(rm, "kind") == c.For.Kind && str(rm, "apiVersion") == c.For.APIVersion() {
					k.enqueue(sdk.ReconcileRequest{Controller: c.Name, Kind: c.For, Namespace: ns, Name: str(rm, "name")})
				}
			}
		}
	}
	if !watched {
		return
	}
	var b []byte
	if primaries := k.controlledOnly[ki.GVK]; primaries != nil && !controlledBy(m, primaries) {
		meta := map[string]any{}
		for k, v := range m {
			if k != "managedFields" && k != "resourceVersion" {
				meta[k] = v
			}
		}
		b, _ = json.Marshal(map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": meta})
	} else {
		b, _ = json.Marshal(project(obj, k.fields[ki.GVK]))
	}
	// As the host does: a change that leaves the projection as it was is not fed.
	fk := ki.GVK.String() + "/" + ns + "/" + str(m, "name")
	if t == sdk.Modified && bytes.Equal(k.fed[fk], b) {
		return
	}
	if t == sdk.Deleted {
		delete(k.fed, fk)
	} else {
		k.fed[fk] = b
	}
	k.pending = append(k.pending, sdk.FeedEvent{Type: t, Kind: ki.GVK, Object: b})
}

// controlledBy reports whether meta's controller reference names one of primaries
// ("group/Kind").
func controlledBy(meta map[string]any, primaries map[string]bool) bool {
	refs, _ := meta["ownerReferences"].([]any)
	for _, r := range refs {
		rm, _ := r.(map[string]any)
		if ctl, _ := rm["controller"].(bool); ctl {
			group, _, found := strings.Cut(str(rm, "apiVersion"), "/")
			if !found {
				group = ""
			}
			return primaries[group+"/"+str(rm, "kind")]
		}
	}
	return false
}

// project keeps apiVersion, kind, metadata (less managedFields) and paths.
func project(obj map[string]any, paths []string) map[string]any {
	if len(paths) == 0 {
		return obj
	}
	out := map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"]}
	m := map[string]any{}
	for k, v := range metaOf(obj) {
		if k != "managedFields" {
			m[k] = v
		}
	}
	out["metadata"] = m
	for _, p := range paths {
		segs := strings.Split(strings.TrimPrefix(p, "."), ".")
		src, dst := any(obj), out
		for i, s := range segs {
			sm, ok := src.(map[string]any)
			if !ok {
				break
			}
			v, ok := sm[s]
			if !ok {
				break
			}
			if i == len(segs)-1 {
				dst[s] = v
				break
			}
			next, _ := dst[s].(map[string]any)
			if next == nil {
				next = map[string]any{}
				dst[s] = next
			}
			src, dst = v, next
		}
	}
	return out
}

func (k *Kernel) enqueue(r sdk.ReconcileRequest) {
	if !k.queued[r] {
		k.queued[r] = true
		k.queue = append(k.queue, r)
	}
}

// Flush feeds the pending changes to the cache, unless HoldFeed is set.
func (k *Kernel) Flush() error {
	if k.HoldFeed {
		return nil
	}
	evs := k.pending
	k.pending = nil
	for _, ev := range evs {
		if err := k.cache.Apply(ev); err != nil {
			return err
		}
	}
	return nil
}

// Pending returns the queued reconcile requests.
func (k *Kernel) Pending() []sdk.ReconcileRequest { return slices.Clone(k.queue) }

// Reconcile feeds pending changes and makes one reconcile call.
func (k *Kernel) Reconcile(req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
	if err := k.Flush(); err != nil {
		return sdk.ReconcileResult{}, err
	}
	k.Reconciles++
	res, err := k.handlers.Reconciler.Reconcile(k.client, req)
	if err == nil && res.Error != "" {
		err = fmt.Errorf("%s", res.Error)
	}
	if k.AfterReconcile != nil {
		k.AfterReconcile(req, res, err)
	}
	if err != nil {
		k.Errors = append(k.Errors, err)
		k.failures[req]++
		backoff := 5 * time.Millisecond << min(k.failures[req], 14)
		k.after(req, min(backoff, time.Minute))
	} else {
		delete(k.failures, req)
		if res.RequeueAfterMillis > 0 {
			k.after(req, time.Duration(res.RequeueAfterMillis)*time.Millisecond)
		}
	}
	return res, err
}

func (k *Kernel) after(req sdk.ReconcileRequest, d time.Duration) {
	at := k.now.Add(d)
	if cur, ok := k.delayed[req]; !ok || at.Before(cur) {
		k.delayed[req] = at
	}
}

// Run reconciles until the queue is empty. Requests delayed by RequeueAfterMillis or
// by an error's backoff wait for Advance. It fails the test after MaxSteps reconciles
// and returns how many it made.
func (k *Kernel) Run(t testingT) int {
	t.Helper()
	limit := k.MaxSteps
	if limit == 0 {
		limit = 10000
	}
	n := 0
	for len(k.queue) > 0 {
		if n >= limit {
			t.Fatalf("sdktest: no convergence after %d reconciles; queue: %v", n, k.queue)
			return n
		}
		req := k.queue[0]
		k.queue = k.queue[1:]
		delete(k.queued, req)
		_, _ = k.Reconcile(req)
		n++
	}
	return n
}

// Advance moves the fake clock and queues the delayed requests that came due.
func (k *Kernel) Advance(d time.Duration) {
	k.now = k.now.Add(d)
	type due struct {
		at  time.Time
		req sdk.ReconcileRequest
	}
	var ds []due
	for r, at := range k.delayed {
		if !at.After(k.now) {
			ds = append(ds, due{at, r})
			delete(k.delayed, r)
		}
	}
	sort.Slice(ds, func(i, j int) bool {
		if !ds[i].at.Equal(ds[j].at) {
			return ds[i].at.Before(ds[j].at)
		}
		return ds[i].req.Name < ds[j].req.Name
	})
	for _, d := range ds {
		k.enqueue(d.req)
	}
}

// testingT is the part of testing.TB the kernel uses.
type testingT interface {
	Helper()
	Fatalf(format string, args ...any)
}
