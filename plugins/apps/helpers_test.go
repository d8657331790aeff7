package apps

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/sdk"
	"weft.dev/weft/sdk/sdktest"
)

func newKernel(t testing.TB) *sdktest.Kernel {
	var k *sdktest.Kernel
	m, h, _ := newPlugin(func() time.Time { return k.Now() })
	k = sdktest.New(m, h)
	return k
}

func rsObject(name string, replicas int, app string) string {
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":%q,"namespace":"default"},
	"spec":{"replicas":%d,"selector":{"matchLabels":{"app":%q}},
	"template":{"metadata":{"labels":{"app":%q},"annotations":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"nginx:1","x-unknown":"kept"}]}}}}`, name, replicas, app, app)
}

// deployObject returns a Deployment; strategy is the JSON of .spec.strategy, or "".
func deployObject(name string, replicas int, image, strategy string, extra string) string {
	if strategy == "" {
		strategy = "{}"
	}
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":"default"},
	"spec":{"replicas":%d,"selector":{"matchLabels":{"app":%q}},"strategy":%s%s,
	"template":{"metadata":{"labels":{"app":%q}},"spec":{"containers":[{"name":"web","image":%q}]}}}}`, name, replicas, name, strategy, extra, name, image)
}

func getRS(t testing.TB, k *sdktest.Kernel, name string) *ReplicaSet {
	t.Helper()
	var rs ReplicaSet
	if !k.GetInto(t, "apps", "replicasets", "default", name, &rs) {
		t.Fatalf("replicaset %s not found", name)
	}
	return &rs
}

func getDeploy(t testing.TB, k *sdktest.Kernel, name string) *Deployment {
	t.Helper()
	var d Deployment
	if !k.GetInto(t, "apps", "deployments", "default", name, &d) {
		t.Fatalf("deployment %s not found", name)
	}
	return &d
}

// replicaSetsOf returns the deployment's ReplicaSets, decoded, ordered by name.
func replicaSetsOf(t testing.TB, k *sdktest.Kernel, d string) []*ReplicaSet {
	t.Helper()
	var out []*ReplicaSet
	for _, o := range k.List("apps", "replicasets", "default", "app="+d) {
		raw, _ := json.Marshal(o)
		var rs ReplicaSet
		if err := json.Unmarshal(raw, &rs); err != nil {
			t.Fatal(err)
		}
		out = append(out, &rs)
	}
	return out
}

type podView struct {
	name, image, hash  string
	ready, terminating bool
}

func pods(t testing.TB, k *sdktest.Kernel, selector string) []podView {
	t.Helper()
	var out []podView
	for _, o := range k.List("", "pods", "default", selector) {
		raw, _ := json.Marshal(o)
		var p Pod
		r := sdk.NewJSONReader(raw)
		if err := p.DecodeJSON(r); err != nil || r.End() != nil {
			t.Fatal(err, r.Err())
		}
		var spec struct {
			Spec struct {
				Containers []struct{ Image string } `json:"containers"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(raw, &spec); err != nil {
			t.Fatal(err)
		}
		v := podView{name: p.Metadata.Name, hash: p.Metadata.Labels[hashLabel], ready: p.ready(), terminating: p.Metadata.Deleting()}
		if len(spec.Spec.Containers) > 0 {
			v.image = spec.Spec.Containers[0].Image
		}
		out = append(out, v)
	}
	return out
}

func events(k *sdktest.Kernel, reason string) []string {
	var out []string
	for _, e := range k.Events() {
		if e.Reason == reason {
			out = append(out, e.Message)
		}
	}
	return out
}

// rolloutStatus is kubectl 1.32's DeploymentStatusViewer.Status.
func rolloutStatus(d *Deployment) (string, bool, error) {
	name := d.Metadata.Name
	if d.Metadata.Generation <= d.Status.ObservedGeneration {
		if c := sdk.FindCondition(d.Status.Conditions, "Progressing"); c != nil && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", name)
		}
		if d.Spec.Replicas != nil && d.Status.UpdatedReplicas < *d.Spec.Replicas {
			return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", name, d.Status.UpdatedReplicas, *d.Spec.Replicas), false, nil
		}
		if d.Status.Replicas > d.Status.UpdatedReplicas {
			return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", name, d.Status.Replicas-d.Status.UpdatedReplicas), false, nil
		}
		if d.Status.AvailableReplicas < d.Status.UpdatedReplicas {
			return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", name, d.Status.AvailableReplicas, d.Status.UpdatedReplicas), false, nil
		}
		return fmt.Sprintf("deployment %q successfully rolled out", name), true, nil
	}
	return "Waiting for deployment spec update to be observed...", false, nil
}

// converge marks pods ready and reconciles until the deployment's rollout is done.
func converge(t testing.TB, k *sdktest.Kernel, name string) {
	t.Helper()
	for range 100 {
		k.SetPodsReady("default", "app="+name)
		k.FinishTerminating()
		k.Run(t)
		if _, done, err := rolloutStatus(getDeploy(t, k, name)); err != nil {
			t.Fatal(err)
		} else if done {
			return
		}
		k.Advance(time.Second)
		k.Run(t)
	}
	msg, _, _ := rolloutStatus(getDeploy(t, k, name))
	t.Fatalf("rollout of %s did not finish: %s", name, msg)
}

func setImage(t testing.TB, k *sdktest.Kernel, name, image string) {
	t.Helper()
	k.Patch(t, "apps", "deployments", "default", name, sdk.MergePatch,
		fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}`, image))
}

func cond(d *Deployment, typ string) sdk.Condition {
	if c := sdk.FindCondition(d.Status.Conditions, typ); c != nil {
		return *c
	}
	return sdk.Condition{}
}

func hasPrefix(ss []string, prefix string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}
