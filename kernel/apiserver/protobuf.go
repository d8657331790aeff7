package apiserver

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"weft.dev/weft/kernel/objects"
)

// Typed Kubernetes clients, kubectl create among them, send built-in kinds as protobuf.
// The kernel itself is schema-driven and works on JSON, so protobuf bodies are decoded
// here, at the edge, with the Go types of k8s.io/api, and handed on as unstructured
// objects. Responses are JSON: every such client also accepts JSON.

const protobufMediaType = "application/vnd.kubernetes.protobuf"

// protoScheme knows every built-in kind and the meta types (DeleteOptions).
var protoScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}()

var protoSerializer = protobuf.NewSerializer(protoScheme, protoScheme)

// decodeProtobuf decodes a protobuf body into an unstructured object.
func decodeProtobuf(data []byte) (*unstructured.Unstructured, error) {
	obj, gvk, err := protoSerializer.Decode(data, nil, nil)
	if err != nil {
		if runtime.IsNotRegisteredError(err) {
			return nil, objects.MediaTypeError(fmt.Sprintf("protobuf is accepted only for built-in Kubernetes kinds: %v", err))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as protobuf: %v", err))
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("converting protobuf body: %v", err))
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(gvk.GroupVersion().String())
	u.SetKind(gvk.Kind)
	dropNulls(u.Object)
	return u, nil
}

// dropNulls removes the nulls typed-to-unstructured conversion leaves for unset
// non-pointer fields (metadata.creationTimestamp: null), which a JSON client would
// simply have omitted.
func dropNulls(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNulls(x)
		case []any:
			for _, item := range x {
				if im, ok := item.(map[string]any); ok {
					dropNulls(im)
				}
			}
		}
	}
}
