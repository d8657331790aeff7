package apiserver

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"weft.dev/weft/kernel/ujson"
)

// output is what the client accepts, chosen from its Accept header.
type output struct {
	yaml bool
	// as is "", "Table", "PartialObjectMetadata" or "PartialObjectMetadataList".
	as string
	// metaVersion is the meta.k8s.io version of a Table or PartialObjectMetadata.
	metaVersion string
}

func (o output) contentType() string {
	if o.yaml {
		return "application/yaml"
	}
	if o.as != "" {
		return fmt.Sprintf("application/json;as=%s;v=%s;g=meta.k8s.io", o.as, o.metaVersion)
	}
	return "application/json"
}

var errNotAcceptable = errors.New("not acceptable")

// negotiate picks the first media type in Accept this server can produce. list tells
// whether the response is a collection, for PartialObjectMetadataList.
func negotiate(r *http.Request) (output, error) {
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		return output{}, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "application/*", "*/*":
			as := params["as"]
			if as == "" {
				return output{}, nil
			}
			if params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
				continue
			}
			switch as {
			case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
				return output{as: as, metaVersion: params["v"]}, nil
			}
		case "application/yaml":
			if params["as"] == "" {
				return output{yaml: true}, nil
			}
		}
	}
	return output{}, errNotAcceptable
}

// writeJSON writes v in the negotiated encoding.
func writeJSON(w http.ResponseWriter, out output, status int, v any) {
	writeEncoded(w, out.contentType(), out.yaml, status, v)
}

func writeEncoded(w http.ResponseWriter, contentType string, asYAML bool, status int, v any) {
	if u, ok := v.(*unstructured.Unstructured); ok {
		v = u.Object // what its MarshalJSON encodes
	}
	raw, err := ujson.Marshal(v)
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	if asYAML {
		if y, err := yaml.JSONToYAML(raw); err == nil {
			raw = y
		}
	}
	writeRaw(w, contentType, status, raw)
}

func writeRaw(w http.ResponseWriter, contentType string, status int, raw []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// statusOf converts any error into the Status a Kubernetes client expects.
func statusOf(err error) *metav1.Status {
	var s apierrors.APIStatus
	if !errors.As(err, &s) {
		s = apierrors.NewInternalError(err)
	}
	st := s.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	return &st
}

// WriteStatus writes err as a Kubernetes Status with its HTTP code, for extension
// subresource handlers as for the server itself.
func WriteStatus(w http.ResponseWriter, err error) { writeStatus(w, err) }

// writeStatus writes err as a Status with its HTTP code.
func writeStatus(w http.ResponseWriter, err error) {
	st := statusOf(err)
	if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
	}
	writeJSON(w, output{}, int(st.Code), st)
}

// addWarnings sends admission and validation warnings as Warning headers, which
// kubectl prints.
func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", `299 - "`+strings.NewReplacer(`"`, `\"`, "\\", "\\\\", "\n", " ").Replace(msg)+`"`)
	}
}
