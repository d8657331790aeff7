package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/sdk"
)

// fakeKernel answers gets with the name and refuses writes to "x" in "locked".
type fakeKernel struct {
	mu    sync.Mutex
	calls []string
}

func (k *fakeKernel) Call(_ context.Context, c Caller, op sdk.Op, req *sdk.CallRequest) ([]byte, error) {
	k.mu.Lock()
	k.calls = append(k.calls, c.Plugin+" "+op.Verb()+" "+req.Resource+" "+req.Namespace+"/"+req.Name)
	k.mu.Unlock()
	if req.Namespace == "locked" {
		return nil, apierrors.NewConflict(schema.GroupResource{Resource: req.Resource}, req.Name, errors.New("locked"))
	}
	return json.Marshal(map[string]string{"name": req.Name})
}

type fakeAuditor struct {
	mu      sync.Mutex
	records []AuditRecord
}

func (a *fakeAuditor) Audit(_ context.Context, r AuditRecord) {
	a.mu.Lock()
	a.records = append(a.records, r)
	a.mu.Unlock()
}

func reconcileIn(p *Plugin, ns, name string) (sdk.ReconcileResult, error) {
	in := (&sdk.ReconcileRequest{Namespace: ns, Name: name}).MarshalWire()
	out, err := p.Call(context.Background(), "reconcile", in)
	if err != nil {
		return sdk.ReconcileResult{}, err
	}
	var res sdk.ReconcileResult
	return res, res.UnmarshalWire(out)
}

func TestCapabilities(t *testing.T) {
	k, a := &fakeKernel{}, &fakeAuditor{}
	p := loadWith(t, Options{
		Kernel:  k,
		Auditor: a,
		Grants: []sdk.Permission{
			{Resource: "configmaps", Verbs: []string{"get", "list"}, Namespaces: []string{"team"}},
			{Resource: "configmaps/status", Verbs: []string{"update"}},
		},
	})
	cases := []struct {
		ns, name, want string
	}{
		{"team", "get", `ok:{"name":"x"}`},
		{"other", "get", `plugin "guest" may not get configmaps in namespace other: not granted`},
		{"team", "create-secret", `plugin "guest" may not create secrets in namespace team: not granted`},
		{"team", "update-status", `ok:{"name":"x"}`},
		{"locked", "update-status", `Operation cannot be fulfilled on configmaps "x"`},
	}
	for _, tc := range cases {
		res, err := reconcileIn(p, tc.ns, tc.name)
		if err != nil || !strings.Contains(res.Error, tc.want) {
			t.Errorf("%s in %s: got %q, %v; want %q", tc.name, tc.ns, res.Error, err, tc.want)
		}
	}
	if st := p.Stats(); st.Denied != 2 {
		t.Fatalf("denied calls counted: %d, want 2", st.Denied)
	}
	// Only allowed calls reach the kernel.
	if len(k.calls) != 3 {
		t.Fatalf("kernel saw %v", k.calls)
	}
	// Writes and refusals are audited with the plugin's identity; reads are not.
	var got []string
	for _, r := range a.records {
		if r.Plugin != "guest" || r.Digest != p.Digest || r.Version != "1.0.0" {
			t.Fatalf("audit record without identity: %+v", r)
		}
		got = append(got, r.Outcome+" "+r.Verb+" "+r.Resource+"/"+r.Subresource+" "+r.Namespace)
	}
	want := []string{"denied get configmaps/ other", "denied create secrets/ team", "allowed update configmaps/status team", "error update configmaps/status locked"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("audit:\n got %v\nwant %v", got, want)
	}
}
