package objects

import (
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"weft.dev/weft/kernel/ujson"
)

// DecodeBody decodes a request body (JSON, or YAML when isYAML) into an object.
// Findings that strict decoding rejects but lenient decoding survives, such as duplicate
// fields, are returned as problems for the field validation directive to judge.
func DecodeBody(data []byte, isYAML bool) (*unstructured.Unstructured, []string, error) {
	var problems []string
	if isYAML {
		js, err := yaml.YAMLToJSONStrict(data)
		if err != nil {
			lenient, lerr := yaml.YAMLToJSON(data)
			if lerr != nil {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request was in an unknown format: %v", lerr))
			}
			problems = append(problems, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
			js = lenient
		}
		data = js
	}
	if obj, ok := ujson.DecodeObject(data); ok {
		// No repeated key, so nothing the strict decode below would report.
		return &unstructured.Unstructured{Object: obj}, problems, nil
	}
	obj := map[string]any{}
	strict, err := sigsjson.UnmarshalStrict(data, &obj, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded: %v", err))
	}
	for _, e := range strict {
		problems = append(problems, strings.TrimPrefix(e.Error(), "json: "))
	}
	if obj == nil {
		return nil, nil, apierrors.NewBadRequest("the body of the request is empty or null")
	}
	return &unstructured.Unstructured{Object: obj}, problems, nil
}
