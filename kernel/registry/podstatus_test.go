package registry

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestPodStatus(t *testing.T) {
	cases := []struct{ name, pod, want string }{
		{"pending", `{"status":{"phase":"Pending"}}`, "Pending"},
		{"creating", `{"status":{"phase":"Pending","containerStatuses":[{"state":{"waiting":{"reason":"ContainerCreating"}}}]}}`, "ContainerCreating"},
		{"running", `{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],"containerStatuses":[{"ready":true,"state":{"running":{}}}]}}`, "Running"},
		{"crashloop", `{"status":{"phase":"Running","containerStatuses":[{"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}`, "CrashLoopBackOff"},
		{"completed", `{"status":{"phase":"Succeeded","containerStatuses":[{"state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}}`, "Completed"},
		{"exit code", `{"status":{"phase":"Failed","containerStatuses":[{"state":{"terminated":{"exitCode":3}}}]}}`, "ExitCode:3"},
		{"one done, one running, not ready", `{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"}],"containerStatuses":[{"ready":true,"state":{"running":{}}},{"state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}}`, "NotReady"},
		{"init progress", `{"spec":{"initContainers":[{},{}]},"status":{"phase":"Pending","initContainerStatuses":[{"state":{"terminated":{"exitCode":0}}},{"state":{"running":{}}}]}}`, "Init:1/2"},
		{"init crashloop", `{"spec":{"initContainers":[{}]},"status":{"phase":"Pending","initContainerStatuses":[{"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}`, "Init:CrashLoopBackOff"},
		{"init failed", `{"spec":{"initContainers":[{}]},"status":{"phase":"Failed","initContainerStatuses":[{"state":{"terminated":{"exitCode":1,"reason":"Error"}}}]}}`, "Init:Error"},
		{"terminating", `{"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z"},"status":{"phase":"Running"}}`, "Terminating"},
		{"evicted", `{"status":{"phase":"Failed","reason":"Evicted"}}`, "Evicted"},
	}
	for _, tc := range cases {
		var u unstructured.Unstructured
		if err := json.Unmarshal([]byte(tc.pod), &u.Object); err != nil {
			t.Fatal(err)
		}
		// Numbers as the kernel holds them.
		obj, err := roundTrip(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		if got := podStatus(obj); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func roundTrip(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	err = u.UnmarshalJSON(append([]byte(`{"apiVersion":"v1","kind":"Pod",`), b[1:]...))
	return u.Object, err
}
