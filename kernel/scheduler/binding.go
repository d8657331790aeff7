package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel/apiserver"
	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
)

// SubBinding is the pods subresource a scheduler binds through.
const SubBinding = "binding"

var podsResource = schema.GroupResource{Resource: "pods"}

// Binding is what Bind needs: the pod, the node, and optionally the pod's UID as a
// precondition and annotations to add.
type Binding struct {
	Namespace, Name string
	UID             types.UID
	Node            string
	Annotations     map[string]string
}

// Bind assigns a pod to a node, as kube-apiserver's binding does: the pod must still be
// unbound and not deleting (a conflict otherwise), so no pod is ever bound twice; its
// PodScheduled condition becomes True. Like kube's, it writes storage directly
// (objects.Assign): no managed fields, no revalidation of the whole pod.
func Bind(ctx context.Context, svc *objects.Service, pods *registry.Entry, b Binding, fieldManager string) error {
	if b.Node == "" {
		return apierrors.NewBadRequest("a binding needs a target node")
	}
	_, err := svc.Assign(ctx, pods, b.Namespace, b.Name, SubBinding, func(cur *unstructured.Unstructured) error {
		conflict := func(msg string) error {
			return apierrors.NewConflict(schema.GroupResource{Resource: "pods/binding"}, b.Name, fmt.Errorf("%s", msg))
		}
		if b.UID != "" && cur.GetUID() != b.UID {
			return conflict(fmt.Sprintf("the pod's UID is %s, not %s", cur.GetUID(), b.UID))
		}
		if cur.GetDeletionTimestamp() != nil {
			return conflict(fmt.Sprintf("pod %s is being deleted, cannot be assigned to a host", b.Name))
		}
		if node, _, _ := unstructured.NestedString(cur.Object, "spec", "nodeName"); node != "" {
			return conflict(fmt.Sprintf("pod %s is already assigned to node %q", b.Name, node))
		}
		if err := unstructured.SetNestedField(cur.Object, b.Node, "spec", "nodeName"); err != nil {
			return err
		}
		if len(b.Annotations) > 0 {
			ann := cur.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			for k, v := range b.Annotations {
				ann[k] = v
			}
			cur.SetAnnotations(ann)
		}
		return setCondition(cur, "PodScheduled", "True", "", "")
	}, objects.WriteOptions{FieldManager: fieldManager})
	return err
}

// setCondition sets a pod condition, keeping its transition time if the status is
// unchanged.
func setCondition(pod *unstructured.Unstructured, typ, status, reason, message string) error {
	conds, _, _ := unstructured.NestedSlice(pod.Object, "status", "conditions")
	now := time.Now().UTC().Format(time.RFC3339)
	next := map[string]any{"type": typ, "status": status, "lastTransitionTime": now, "lastProbeTime": nil}
	if reason != "" {
		next["reason"] = reason
	}
	if message != "" {
		next["message"] = message
	}
	out := make([]any, 0, len(conds)+1)
	found := false
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ {
			found = true
			if m["status"] == status {
				next["lastTransitionTime"] = m["lastTransitionTime"]
			}
			out = append(out, next)
			continue
		}
		out = append(out, c)
	}
	if !found {
		out = append(out, next)
	}
	return unstructured.SetNestedSlice(pod.Object, out, "status", "conditions")
}

// maxBindingBytes bounds a Binding body.
const maxBindingBytes = 64 << 10

// BindingSubresource serves POST pods/<name>/binding with a v1 Binding, as
// kube-apiserver does for schedulers.
func BindingSubresource(svc *objects.Service) apiserver.Subresource {
	return apiserver.Subresource{
		Resource:     podsResource,
		Name:         SubBinding,
		Verbs:        []string{"create"},
		Kind:         metav1.GroupVersionKind{Version: "v1", Kind: "Binding"},
		MaxBodyBytes: maxBindingBytes,
		Handler: apiserver.SubresourceHandlerFunc(func(w http.ResponseWriter, r *http.Request, req apiserver.SubresourceRequest) {
			if req.Verb != "create" {
				apiserver.WriteStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/binding"}, req.Verb))
				return
			}
			raw, err := io.ReadAll(r.Body)
			if err != nil {
				apiserver.WriteStatus(w, apierrors.NewBadRequest(err.Error()))
				return
			}
			var body struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name        string            `json:"name"`
					UID         types.UID         `json:"uid"`
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
				Target struct {
					Kind string `json:"kind"`
					Name string `json:"name"`
				} `json:"target"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				apiserver.WriteStatus(w, apierrors.NewBadRequest("the body is not a v1 Binding: "+err.Error()))
				return
			}
			if body.Metadata.Name != "" && body.Metadata.Name != req.Name {
				apiserver.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("the binding's name (%s) does not match the pod's (%s)", body.Metadata.Name, req.Name)))
				return
			}
			if body.Target.Kind != "" && body.Target.Kind != "Node" {
				apiserver.WriteStatus(w, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, req.Name, nil))
				return
			}
			err = Bind(r.Context(), svc, req.Kind, Binding{
				Namespace: req.Namespace, Name: req.Name, UID: body.Metadata.UID,
				Node: body.Target.Name, Annotations: body.Metadata.Annotations,
			}, "")
			if err != nil {
				apiserver.WriteStatus(w, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
		}),
	}
}
