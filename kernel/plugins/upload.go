package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/apiserver"
)

// MaxModuleBytes bounds an uploaded module.
const MaxModuleBytes = 64 << 20

// UploadSubresource is plugins/<name>/module: PUT a module's bytes to store them, and
// get back the digest a Plugin's spec.module names. Storing is all it does; installing
// or upgrading is a write of the Plugin object, through the normal API path.
func UploadSubresource(m *ModuleStore) apiserver.Subresource {
	return apiserver.Subresource{
		Resource:     schema.GroupResource{Group: GVK.Group, Resource: "plugins"},
		Name:         "module",
		Verbs:        []string{"update", "create"},
		Kind:         metav1.GroupVersionKind{Group: GVK.Group, Version: GVK.Version, Kind: GVK.Kind},
		MaxBodyBytes: MaxModuleBytes,
		Handler: apiserver.SubresourceHandlerFunc(func(w http.ResponseWriter, r *http.Request, req apiserver.SubresourceRequest) {
			wasm, err := io.ReadAll(r.Body)
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					apiserver.WriteStatus(w, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("a module may be at most %d bytes", MaxModuleBytes)))
					return
				}
				apiserver.WriteStatus(w, apierrors.NewBadRequest(err.Error()))
				return
			}
			if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
				apiserver.WriteStatus(w, apierrors.NewBadRequest("the body is not a WebAssembly module"))
				return
			}
			digest, err := m.Put(wasm)
			if err != nil {
				apiserver.WriteStatus(w, apierrors.NewInternalError(err))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"digest": digest})
		}),
	}
}
