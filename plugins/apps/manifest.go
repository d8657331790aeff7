package apps

import (
	_ "embed"
	"time"

	"weft.dev/weft/sdk"
)

var (
	//go:embed schemas/apps_v1_ReplicaSet.json
	replicaSetSchema []byte
	//go:embed schemas/apps_v1_Deployment.json
	deploymentSchema []byte
)

// plugin holds the controllers' state across calls within one instance.
type plugin struct {
	now   func() time.Time
	exp   *expectations
	share *podShare
}

// Plugin returns the apps plugin's manifest and handlers.
func Plugin() (sdk.Manifest, sdk.Handlers) {
	m, h, _ := newPlugin(time.Now)
	return m, h
}

func newPlugin(now func() time.Time) (sdk.Manifest, sdk.Handlers, *plugin) {
	p := &plugin{now: now, exp: newExpectations(), share: newPodShare()}
	h := sdk.Handlers{
		Reconciler: sdk.ReconcileFunc(p.reconcile),
		Admitter:   sdk.AdmitFunc(p.admit),
		Types: map[sdk.GVK]func() any{
			podGVK: func() any { return &Pod{share: p.share} },
			rsGVK:  func() any { return &ReplicaSet{} },
			depGVK: func() any { return &Deployment{} },
		},
		Observe: func(t sdk.EventType, o *sdk.Object) {
			if pod, ok := o.Value.(*Pod); ok && t != sdk.Deleted {
				p.exp.observe(pod)
			}
		},
	}
	return manifest(), h, p
}

func (p *plugin) reconcile(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
	switch req.Controller {
	case "replicaset":
		return p.syncReplicaSet(c, req)
	case "deployment":
		return p.syncDeployment(c, req)
	}
	return sdk.ReconcileResult{}, nil
}

func manifest() sdk.Manifest {
	wide := func(prefix string) []sdk.Column {
		return []sdk.Column{
			{Name: "Containers", Type: "string", JSONPath: prefix + ".containers[*].name", Priority: 1, Description: "Names of each container in the template."},
			{Name: "Images", Type: "string", JSONPath: prefix + ".containers[*].image", Priority: 1, Description: "Images referenced by each container in the template."},
			{Name: "Selector", Type: "string", Format: "label-selector", JSONPath: ".spec.selector", Priority: 1, Description: "Label selector for pods."},
		}
	}
	return sdk.Manifest{
		Name:    "apps",
		Version: "1.1.0",
		Kinds: []sdk.KindSpec{
			{
				Group: "apps", Version: "v1", Kind: "ReplicaSet", Resource: "replicasets", Singular: "replicaset",
				ShortNames: []string{"rs"}, Categories: []string{"all"}, Namespaced: true, Schema: replicaSetSchema, Status: true,
				Scale: &sdk.ScaleSpec{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas", LabelSelectorPath: ".spec.selector"},
				Columns: append([]sdk.Column{
					{Name: "Desired", Type: "integer", JSONPath: "{+.spec.replicas}", Description: "Number of desired pods."},
					{Name: "Current", Type: "integer", JSONPath: "{+.status.replicas}", Description: "Number of actual pods."},
					{Name: "Ready", Type: "integer", JSONPath: "{+.status.readyReplicas}", Description: "Number of ready pods."},
				}, wide(".spec.template.spec")...),
			},
			{
				Group: "apps", Version: "v1", Kind: "Deployment", Resource: "deployments", Singular: "deployment",
				ShortNames: []string{"deploy"}, Categories: []string{"all"}, Namespaced: true, Schema: deploymentSchema, Status: true,
				Scale: &sdk.ScaleSpec{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas", LabelSelectorPath: ".spec.selector"},
				Columns: append([]sdk.Column{
					{Name: "Ready", Type: "string", JSONPath: "{+.status.readyReplicas}/{+.spec.replicas}", Description: "Number of ready pods out of desired."},
					{Name: "Up-to-date", Type: "integer", JSONPath: "{+.status.updatedReplicas}", Description: "Number of pods updated to the desired state."},
					{Name: "Available", Type: "integer", JSONPath: "{+.status.availableReplicas}", Description: "Number of pods available to users."},
				}, wide(".spec.template.spec")...),
			},
		},
		Controllers: []sdk.Controller{
			{
				Name: "replicaset", For: rsGVK, Owns: []sdk.GVK{podGVK},
				Fields: []sdk.FieldSet{{Kind: podGVK, Paths: []string{".spec.nodeName", ".status"}, ControlledOnly: true}},
			},
			{Name: "deployment", For: depGVK, Owns: []sdk.GVK{rsGVK}},
		},
		Admission: []sdk.AdmissionHook{defaultsAdmission()},
		// What the controllers write, plus list and watch on the kinds they are fed
		// (the host requires both, cluster-wide, to feed a kind).
		Permissions: []sdk.Permission{
			{Group: "", Resource: "pods", Verbs: []string{"create", "delete", "patch", "get", "list", "watch"}},
			{Group: "apps", Resource: "replicasets", Verbs: []string{"create", "update", "patch", "delete", "get", "list", "watch"}},
			{Group: "apps", Resource: "replicasets/status", Verbs: []string{"update"}},
			{Group: "apps", Resource: "deployments", Verbs: []string{"get", "list", "watch", "update", "patch"}},
			{Group: "apps", Resource: "deployments/status", Verbs: []string{"update"}},
			{Group: "", Resource: "events", Verbs: []string{"create"}},
		},
	}
}
