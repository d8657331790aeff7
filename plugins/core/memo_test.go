package core

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"weft.dev/weft/sdk"
)

// TestPodMemoAnswersAsAdmit: the memoized hooks answer every request as Admit does,
// the second time round from the memo where it may, across specs valid, invalid and
// undecodable, names good and bad, with and without a status, on create and update.
func TestPodMemoAnswersAsAdmit(t *testing.T) {
	specs := []string{
		`{"containers":[{"name":"web","image":"registry.example.com/team/web:v1.24.3","ports":[{"name":"http","containerPort":8080}],
			"env":[{"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],
			"resources":{"limits":{"cpu":"1","memory":"512Mi"}},"volumeMounts":[{"name":"config","mountPath":"/etc/web"}]}],
			"volumes":[{"name":"config","configMap":{"name":"web-config"}},{"name":"scratch"}]}`,
		`{"containers":[{"name":"app","image":"busybox"}],"hostNetwork":true,"restartPolicy":"Never"}`,
		`{"containers":[{"name":"app","image":"busybox:latest","ports":[{"containerPort":80,"hostPort":81}]}],"hostNetwork":true}`,
		`{"containers":[{"image":"busybox"}]}`,
		`{"containers":[{"name":"app","image":"busybox"}],"restartPolicy":"Sometimes"}`,
		`{"containers":[{"name":"app","image":"busybox"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",
			"terminationGracePeriodSeconds":30,"securityContext":{},"enableServiceLinks":true,"priority":0,"preemptionPolicy":"PreemptLowerPriority",
			"serviceAccountName":"default","serviceAccount":"default","tolerations":[{"key":"k","operator":"Exists"}]}`,
		`{"containers":"x"}`,
		`{"containers":[],"containers":[{"name":"app","image":"busybox"}]}`,
		`null`,
		``,
	}
	metas := []string{`{"name":"a"}`, `{"name":"b","labels":{"x":"y"}}`, `{"name":5}`, ``}
	var reqs []sdk.AdmissionRequest
	for _, spec := range specs {
		for _, meta := range metas {
			for _, status := range []string{``, `{}`} {
				obj := `{"apiVersion":"v1","kind":"Pod"`
				if meta != "" {
					obj += `,"metadata":` + meta
				}
				if spec != "" {
					obj += `,"spec":` + spec
				}
				if status != "" {
					obj += `,"status":` + status
				}
				obj += `}`
				for _, hook := range []string{HookPodDefaults, HookPodValidation} {
					for _, op := range []string{"CREATE", "UPDATE"} {
						req := sdk.AdmissionRequest{Hook: hook, Operation: op, Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Namespace: "default", Object: json.RawMessage(obj)}
						if op == "UPDATE" {
							// Against the first spec: most of the others may not replace it.
							req.OldObject = json.RawMessage(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":` + specs[0] + `}`)
						}
						reqs = append(reqs, req)
					}
				}
			}
		}
	}
	m := newPodMemo()
	for round := range 2 {
		for i, req := range reqs {
			got, want := m.Admit(nil, req), Admit(nil, req)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, request %d (%s %s %s):\nmemo  %+v %s\nAdmit %+v %s", round, i, req.Hook, req.Operation, req.Object,
					got.Status, got.Patch, want.Status, want.Patch)
			}
		}
	}
	if m.hits < len(reqs)/4 {
		t.Fatalf("%d hits in %d requests twice over", m.hits, len(reqs))
	}
}

// TestPodMemoBounded: the memo starts over rather than grow past its bound.
func TestPodMemoBounded(t *testing.T) {
	m := newPodMemo()
	for i := range 20000 {
		obj := fmt.Sprintf(`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"busybox:%d-%0200d"}]}}`, i, 0)
		for _, hook := range []string{HookPodDefaults, HookPodValidation} {
			m.Admit(nil, sdk.AdmissionRequest{Hook: hook, Operation: "CREATE", Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Object: json.RawMessage(obj)})
		}
		if m.bytes > memoMaxBytes {
			t.Fatalf("after %d pods the memo holds %d bytes", i, m.bytes)
		}
	}
}
