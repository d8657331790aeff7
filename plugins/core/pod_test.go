package core_test

import (
	"encoding/json"
	"strings"
	"testing"

	"weft.dev/weft/plugins/core"
)

const tolerationsDefault = `[
	{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},
	{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]`

// podDefaults are the pod-level fields Kubernetes fills in, as JSON members.
const podDefaults = `"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",
	"securityContext":{},"terminationGracePeriodSeconds":30,"enableServiceLinks":true,"priority":0,
	"preemptionPolicy":"PreemptLowerPriority","serviceAccountName":"default","serviceAccount":"default",
	"tolerations":` + tolerationsDefault

// Applying the patch to a pod yields the pod Kubernetes stores (less the API token
// volume the ServiceAccount admission plugin mounts, which Weft does not have).
func TestPodDefaults(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"minimal",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"nginx"}]}}`,
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{` + podDefaults + `,
				"containers":[{"name":"app","image":"nginx","imagePullPolicy":"Always",
					"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}]}}`},
		{"typical",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},"spec":{
				"initContainers":[{"name":"init","image":"busybox:1.36","command":["true"]}],
				"containers":[{"name":"app","image":"registry.example.com:5000/team/web:v1.2.3",
					"ports":[{"name":"http","containerPort":8080},{"containerPort":9090,"protocol":"UDP"}],
					"env":[{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"A","value":"b"}],
					"resources":{"limits":{"cpu":"500m","memory":"128Mi","example.com/gpu":1},"requests":{"cpu":"100m"}},
					"livenessProbe":{"httpGet":{"port":8080}},
					"readinessProbe":{"tcpSocket":{"port":8080},"periodSeconds":5},
					"volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg"},{"name":"scratch","mountPath":"/tmp"}]},
					{"name":"sidecar","image":"envoy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
					"resources":{"limits":{"memory":"64Mi"}}}],
				"volumes":[{"name":"cfg","configMap":{"name":"web"}},{"name":"scratch"},{"name":"host","hostPath":{"path":"/var"}},
					{"name":"s","secret":{"secretName":"s","defaultMode":256}}],
				"serviceAccount":"web",
				"tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":60}]}}`,
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},"spec":{
				"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",
				"securityContext":{},"terminationGracePeriodSeconds":30,"enableServiceLinks":true,"priority":0,
				"preemptionPolicy":"PreemptLowerPriority","serviceAccountName":"web","serviceAccount":"web",
				"initContainers":[{"name":"init","image":"busybox:1.36","command":["true"],"imagePullPolicy":"IfNotPresent",
					"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
				"containers":[{"name":"app","image":"registry.example.com:5000/team/web:v1.2.3","imagePullPolicy":"IfNotPresent",
					"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File",
					"ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"containerPort":9090,"protocol":"UDP"}],
					"env":[{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name","apiVersion":"v1"}}},{"name":"A","value":"b"}],
					"resources":{"limits":{"cpu":"500m","memory":"128Mi","example.com/gpu":1},"requests":{"cpu":"100m","memory":"128Mi","example.com/gpu":1}},
					"livenessProbe":{"httpGet":{"port":8080,"path":"/","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},
					"readinessProbe":{"tcpSocket":{"port":8080},"periodSeconds":5,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3},
					"volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg"},{"name":"scratch","mountPath":"/tmp"}]},
					{"name":"sidecar","image":"envoy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
					"imagePullPolicy":"IfNotPresent","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File",
					"resources":{"limits":{"memory":"64Mi"},"requests":{"memory":"64Mi"}}}],
				"volumes":[{"name":"cfg","configMap":{"name":"web","defaultMode":420}},{"name":"scratch","emptyDir":{}},
					{"name":"host","hostPath":{"path":"/var","type":""}},{"name":"s","secret":{"secretName":"s","defaultMode":256}}],
				"tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":60},
					{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]}}`},
		{"host network ports, priority class, tolerate everything",
			`{"metadata":{"name":"h"},"spec":{"hostNetwork":true,"priorityClassName":"system-node-critical","tolerations":[{"operator":"Exists"}],
				"containers":[{"name":"a","image":"x:latest","ports":[{"containerPort":53,"protocol":"UDP"}]}]}}`,
			`{"metadata":{"name":"h"},"spec":{"hostNetwork":true,"priorityClassName":"system-node-critical","tolerations":[{"operator":"Exists"}],
				"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",
				"securityContext":{},"terminationGracePeriodSeconds":30,"enableServiceLinks":true,
				"serviceAccountName":"default","serviceAccount":"default",
				"containers":[{"name":"a","image":"x:latest","imagePullPolicy":"Always","terminationMessagePath":"/dev/termination-log",
					"terminationMessagePolicy":"File","ports":[{"containerPort":53,"protocol":"UDP","hostPort":53}]}]}}`},
		{"everything set: no patch",
			`{"metadata":{"name":"p"},"spec":{` + podDefaults + `,"containers":[{"name":"app","image":"nginx","imagePullPolicy":"Never",
				"terminationMessagePath":"/x","terminationMessagePolicy":"FallbackToLogsOnError"}]}}`,
			`{"metadata":{"name":"p"},"spec":{` + podDefaults + `,"containers":[{"name":"app","image":"nginx","imagePullPolicy":"Never",
				"terminationMessagePath":"/x","terminationMessagePolicy":"FallbackToLogsOnError"}]}}`},
		{"empty values count as absent",
			`{"metadata":{"name":"p"},"spec":{"dnsPolicy":"","securityContext":null,"tolerations":null,"serviceAccountName":"","containers":[{"name":"app","image":"nginx:1","imagePullPolicy":""}]}}`,
			`{"metadata":{"name":"p"},"spec":{` + podDefaults + `,"containers":[{"name":"app","image":"nginx:1","imagePullPolicy":"IfNotPresent",
				"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}]}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// As an update, which defaults the spec alike but leaves status alone
			// (TestPodStatusOnCreate covers that).
			resp := admit(t, core.HookPodDefaults, "UPDATE", "Pod", tc.in, "")
			sameJSON(t, applyPatch(t, tc.in, resp), tc.want)
			if strings.HasPrefix(tc.name, "everything") && len(resp.Patch) > 0 {
				t.Errorf("patch for a defaulted pod: %s", resp.Patch)
			}
			// The patch only adds.
			var ops []struct{ Op string }
			if len(resp.Patch) > 0 {
				if err := json.Unmarshal(resp.Patch, &ops); err != nil {
					t.Fatal(err)
				}
			}
			for _, op := range ops {
				if op.Op != "add" {
					t.Errorf("op %s in %s", op.Op, resp.Patch)
				}
			}
			// A defaulted pod validates, and defaulting it again changes nothing.
			out, _ := json.Marshal(applyPatch(t, tc.in, resp))
			if v := admit(t, core.HookPodValidation, "CREATE", "Pod", string(out), ""); !v.Allowed {
				t.Errorf("defaulted pod does not validate: %s", v.Status.Message)
			}
			if again := admit(t, core.HookPodDefaults, "UPDATE", "Pod", string(out), ""); len(again.Patch) > 0 {
				t.Errorf("second defaulting patches: %s", again.Patch)
			}
		})
	}
}

// On create a pod gets phase Pending and its QoS class, as the API server's pod
// strategy gives it; a pod that has a status keeps it.
func TestPodStatusOnCreate(t *testing.T) {
	cases := []struct{ name, resources, qos string }{
		{"no resources", ``, "BestEffort"},
		{"requests only", `"resources":{"requests":{"cpu":"100m"}}`, "Burstable"},
		{"limits only, cpu and memory", `"resources":{"limits":{"cpu":"1","memory":"1Gi"}}`, "Guaranteed"},
		{"equal, written differently", `"resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1000m","memory":"1024Mi"}}`, "Guaranteed"},
		{"requests below limits", `"resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m","memory":"1Gi"}}`, "Burstable"},
		{"memory limit only", `"resources":{"limits":{"memory":"1Gi"}}`, "Burstable"},
		{"only other resources", `"resources":{"limits":{"example.com/gpu":"1"}}`, "BestEffort"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := `{"name":"app","image":"nginx:1"`
			if tc.resources != "" {
				c += "," + tc.resources
			}
			in := `{"metadata":{"name":"p"},"spec":{"containers":[` + c + `}]}}`
			got := applyPatch(t, in, admit(t, core.HookPodDefaults, "CREATE", "Pod", in, ""))
			st, _ := got["status"].(map[string]any)
			if st["phase"] != "Pending" || st["qosClass"] != tc.qos {
				t.Errorf("status %v, want Pending and %s", st, tc.qos)
			}
		})
	}
	in := `{"metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"nginx:1"}]},"status":{"phase":"Running"}}`
	got := applyPatch(t, in, admit(t, core.HookPodDefaults, "CREATE", "Pod", in, ""))
	if st, _ := got["status"].(map[string]any); st["phase"] != "Running" {
		t.Errorf("an existing status was replaced: %v", st)
	}
}

// A pod that does not decode is left to schema validation, which runs after mutation.
func TestPodDefaultsUndecodable(t *testing.T) {
	if resp := admit(t, core.HookPodDefaults, "CREATE", "Pod", `{"spec":{"containers":"no"}}`, ""); !resp.Allowed || len(resp.Patch) > 0 {
		t.Fatalf("%+v", resp)
	}
}

func pod(spec string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{` + spec + `}}`
}

func TestPodValidation(t *testing.T) {
	const (
		labelMsg = `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
		ok       = ""
	)
	cases := []struct{ name, spec, want string }{
		{"valid", `"containers":[{"name":"a","image":"nginx","ports":[{"name":"http","containerPort":80,"protocol":"TCP"}]}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst"`, ok},
		{"no containers", `"containers":[]`, `spec.containers: Required value`},
		{"no spec", ``, `spec.containers: Required value`},
		{"name and image required", `"containers":[{}]`, `[spec.containers[0].name: Required value, spec.containers[0].image: Required value]`},
		{"bad container name", `"containers":[{"name":"Web_1","image":"x"}]`, `spec.containers[0].name: Invalid value: "Web_1": ` + labelMsg},
		{"dotted container name", `"containers":[{"name":"a.b","image":"x"}]`, `spec.containers[0].name: Invalid value: "a.b": must not contain dots`},
		{"duplicate container name", `"containers":[{"name":"a","image":"x"},{"name":"a","image":"y"}]`, `spec.containers[1].name: Duplicate value: "a"`},
		{"init container named like a container", `"containers":[{"name":"a","image":"x"}],"initContainers":[{"name":"a","image":"y"}]`, `spec.initContainers[0].name: Duplicate value: "a"`},
		{"image whitespace", `"containers":[{"name":"a","image":" nginx"}]`, `spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace`},
		{"restartPolicy", `"containers":[{"name":"a","image":"x"}],"restartPolicy":"Sometimes"`, `spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`},
		{"dnsPolicy", `"containers":[{"name":"a","image":"x"}],"dnsPolicy":"Google"`, `spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"`},
		{"dnsPolicy None needs dnsConfig", `"containers":[{"name":"a","image":"x"}],"dnsPolicy":"None"`, "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"},
		{"ports", `"containers":[{"name":"a","image":"x","ports":[{"containerPort":0},{"containerPort":70000,"hostPort":-1,"protocol":"ICMP"}]}]`,
			`[spec.containers[0].ports[0].containerPort: Required value, spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive, spec.containers[0].ports[1].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive, spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"]`},
		{"port names", `"containers":[{"name":"a","image":"x","ports":[{"name":"http","containerPort":80},{"name":"http","containerPort":81},{"name":"8080","containerPort":82}]}]`,
			`[spec.containers[0].ports[1].name: Duplicate value: "http", spec.containers[0].ports[2].name: Invalid value: "8080": must contain at least one letter (a-z)]`},
		{"same port name in two containers", `"containers":[{"name":"a","image":"x","ports":[{"name":"http","containerPort":80}]},{"name":"b","image":"x","ports":[{"name":"http","containerPort":81}]}]`, ok},
		{"host port conflict", `"containers":[{"name":"a","image":"x","ports":[{"containerPort":80,"hostPort":8080,"protocol":"TCP"}]},{"name":"b","image":"x","ports":[{"containerPort":81,"hostPort":8080,"protocol":"TCP"}]}]`,
			`spec.containers[1].ports[0].hostPort: Duplicate value: "/TCP/8080"`},
		{"host network port mismatch", `"hostNetwork":true,"containers":[{"name":"a","image":"x","ports":[{"containerPort":80,"hostPort":81}]}]`,
			"spec.containers[0].ports[0].containerPort: Invalid value: 80: must match `hostPort` when `hostNetwork` is true"},
		{"requests above limits", `"containers":[{"name":"a","image":"x","resources":{"limits":{"cpu":"500m","memory":"1Gi"},"requests":{"cpu":"1","memory":"1024Mi"}}}]`,
			`spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m`},
		{"requests equal limits in other units", `"containers":[{"name":"a","image":"x","resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1000m","memory":1073741824}}}]`, ok},
		{"bad quantity", `"containers":[{"name":"a","image":"x","resources":{"limits":{"memory":"1GB"},"requests":{"cpu":"-1"}}}]`,
			`[spec.containers[0].resources.limits[memory]: Invalid value: "1GB": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0]`},
		{"unknown resource", `"containers":[{"name":"a","image":"x","resources":{"limits":{"gpu":"1"}}}]`,
			`spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers`},
		{"extended resource", `"containers":[{"name":"a","image":"x","resources":{"limits":{"example.com/gpu":"2"},"requests":{"example.com/fpga":"0.5","example.com/gpu":"1"}}}]`,
			`[spec.containers[0].resources.requests[example.com/fpga]: Invalid value: "0.5": must be an integer, spec.containers[0].resources.requests: Invalid value: "1": must be equal to example.com/gpu limit of 2]`},
		{"env", `"containers":[{"name":"a","image":"x","env":[{"name":""},{"name":"A=B"},{"name":"my.env-name 1"},{"name":"V","valueFrom":{}},{"name":"W","value":"x","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},{"name":"Y","valueFrom":{"secretKeyRef":{"name":"s","key":"k"},"configMapKeyRef":{"name":"c","key":"k"}}}]}]`,
			"[spec.containers[0].env[0].name: Required value, " +
				`spec.containers[0].env[1].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '=', ` +
				"spec.containers[0].env[3].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`, " +
				"spec.containers[0].env[4].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty, " +
				`spec.containers[0].env[5].valueFrom: Invalid value: "": may not have more than one field specified at a time]`},
		{"volumes", `"volumes":[{"name":"a","emptyDir":{}},{"name":"a","emptyDir":{}},{"name":"B","emptyDir":{}},{"name":"c","emptyDir":{},"configMap":{"name":"x"},"downwardAPI":{}},{"name":"d"}],
			"containers":[{"name":"a","image":"x","volumeMounts":[{"name":"a","mountPath":"/a"},{"name":"c","mountPath":"/a"},{"name":"","mountPath":""}]}]`,
			`[spec.volumes[1].name: Duplicate value: "a", spec.volumes[2].name: Invalid value: "B": ` + labelMsg +
				`, spec.volumes[3].downwarAPI: Forbidden: may not specify more than 1 volume type, spec.volumes[3].configMap: Forbidden: may not specify more than 1 volume type, spec.volumes[4]: Required value: must specify a volume type` +
				`, spec.containers[0].volumeMounts[1].name: Not found: "c", spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/a": must be unique` +
				`, spec.containers[0].volumeMounts[2].name: Required value, spec.containers[0].volumeMounts[2].name: Not found: "", spec.containers[0].volumeMounts[2].mountPath: Required value]`},
		{"probes", `"containers":[{"name":"a","image":"x","livenessProbe":{"periodSeconds":-1},"readinessProbe":{"exec":{"command":["true"]},"httpGet":{"port":80}},"startupProbe":{"tcpSocket":{"port":80},"successThreshold":2},"lifecycle":{"preStop":{"sleep":{"seconds":1},"exec":{}}}}]`,
			"[spec.containers[0].lifecycle.preStop.sleep: Forbidden: may not specify more than 1 handler type, " +
				"spec.containers[0].livenessProbe: Required value: must specify a handler type, spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0, " +
				"spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 handler type, " +
				"spec.containers[0].startupProbe.successThreshold: Invalid value: 2: must be 1]"},
		{"probes on init containers", `"containers":[{"name":"a","image":"x"}],"initContainers":[{"name":"i","image":"x","readinessProbe":{"exec":{}}},{"name":"s","image":"x","restartPolicy":"Always","readinessProbe":{"exec":{}}}]`,
			`spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always`},
		{"terminationGracePeriodSeconds", `"containers":[{"name":"a","image":"x"}],"terminationGracePeriodSeconds":-1,"activeDeadlineSeconds":0`,
			`[spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0, spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive]`},
		{"tolerations", `"containers":[{"name":"a","image":"x"}],"tolerations":[{"key":"k","operator":"Exists","value":"v"},{"operator":"Equal"},{"key":"k","effect":"NoSchedule","tolerationSeconds":5},{"key":"k","operator":"Maybe","effect":"Never"}]`,
			"[spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists', " +
				"spec.tolerations[1].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\", " +
				"spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set, " +
				`spec.tolerations[3].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists", spec.tolerations[3].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"]`},
		{"pull and message policies", `"containers":[{"name":"a","image":"x","imagePullPolicy":"Sometimes","terminationMessagePolicy":"Stderr"}]`,
			`[spec.containers[0].terminationMessagePolicy: Unsupported value: "Stderr": supported values: "File", "FallbackToLogsOnError", spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"]`},
		{"restartPolicy on a container", `"containers":[{"name":"a","image":"x","restartPolicy":"Always"}]`,
			`spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := pod(tc.spec)
			if tc.spec == "" {
				obj = `{"metadata":{"name":"x"}}`
			}
			resp := admit(t, core.HookPodValidation, "CREATE", "Pod", obj, "")
			if tc.want == ok {
				if !resp.Allowed {
					t.Fatalf("denied: %s", resp.Status.Message)
				}
				return
			}
			denied(t, resp, 422, "Invalid", `Pod "x" is invalid: `+tc.want)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	const base = `"containers":[{"name":"a","image":"nginx:1","ports":[{"containerPort":80,"protocol":"TCP"}]}],
		"initContainers":[{"name":"i","image":"busybox:1"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,
		"activeDeadlineSeconds":600,"tolerations":[{"key":"k","operator":"Exists","effect":"NoExecute","tolerationSeconds":10}],
		"schedulingGates":[{"name":"g1"},{"name":"g2"}]`
	forbidden := "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
	cases := []struct{ name, from, to, want string }{
		{"unchanged", base, base, ""},
		{"images", base, strings.Replace(strings.Replace(base, "nginx:1", "nginx:2", 1), "busybox:1", "busybox:2", 1), ""},
		{"lower deadline", base, strings.Replace(base, "600", "300", 1), ""},
		{"raise deadline", base, strings.Replace(base, "600", "900", 1), `spec.activeDeadlineSeconds: Invalid value: 900: must be less than or equal to previous value`},
		{"remove deadline", base, strings.Replace(base, `"activeDeadlineSeconds":600,`, "", 1), `spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value`},
		{"add toleration and change its seconds", base, strings.Replace(base, `"tolerationSeconds":10}`, `"tolerationSeconds":20},{"key":"new","operator":"Exists"}`, 1), ""},
		{"remove toleration", base, strings.Replace(base, `{"key":"k","operator":"Exists","effect":"NoExecute","tolerationSeconds":10}`, "", 1),
			`spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds`},
		{"remove a scheduling gate", base, strings.Replace(base, `,{"name":"g2"}`, "", 1), ""},
		{"add a scheduling gate", base, strings.Replace(base, `{"name":"g2"}`, `{"name":"g2"},{"name":"g3"}`, 1),
			`spec.schedulingGates[2].name: Forbidden: only deletion is allowed, but found new scheduling gate 'g3'`},
		{"negative grace period to 1", strings.Replace(base, `"terminationGracePeriodSeconds":30`, `"terminationGracePeriodSeconds":-5`, 1), strings.Replace(base, "30", "1", 1), ""},
		{"grace period", base, strings.Replace(base, `"terminationGracePeriodSeconds":30`, `"terminationGracePeriodSeconds":5`, 1),
			forbidden + "  spec.terminationGracePeriodSeconds: 30 -> 5\n"},
		{"restart policy and port", base, strings.Replace(strings.Replace(base, `"restartPolicy":"Always"`, `"restartPolicy":"Never"`, 1), `"containerPort":80`, `"containerPort":81`, 1),
			forbidden + "  spec.containers[0].ports[0].containerPort: 80 -> 81\n  spec.restartPolicy: \"Always\" -> \"Never\"\n"},
		{"node name", base, base + `,"nodeName":"n1"`, forbidden + "  spec.nodeName: <none> -> \"n1\"\n"},
		{"add container", base, strings.Replace(base, `"containers":[`, `"containers":[{"name":"b","image":"x"},`, 1), `spec.containers: Forbidden: pod updates may not add or remove containers`},
		{"image removed", base, strings.Replace(base, `"image":"nginx:1",`, "", 1), `spec.containers[0].image: Required value`}, // reported twice, aggregated once
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := admit(t, core.HookPodValidation, "UPDATE", "Pod", pod(tc.to), pod(tc.from))
			if tc.want == "" {
				if !resp.Allowed {
					t.Fatalf("denied: %s", resp.Status.Message)
				}
				return
			}
			denied(t, resp, 422, "Invalid", `Pod "x" is invalid: `+tc.want)
		})
	}
}
