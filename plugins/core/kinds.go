package core

import (
	"fmt"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/plugins/core/schemas"
)

// Owner is the registry owner of the core kinds.
const Owner = "core"

// Kinds returns the core kinds with their schemas.
func Kinds() ([]registry.Kind, error) {
	kinds := []registry.Kind{
		{
			Version: "v1", Kind: "Namespace", Resource: "namespaces", ShortNames: []string{"ns"},
			Status: true, NameFormat: registry.NameDNSLabel,
			Columns: []registry.Column{
				{Name: "Status", Type: "string", JSONPath: ".status.phase", Description: "The phase of the namespace"},
			},
			SelectableFields: []string{".status.phase"},
		},
		{
			Version: "v1", Kind: "ConfigMap", Resource: "configmaps", ShortNames: []string{"cm"}, Namespaced: true,
			Columns: []registry.Column{
				{Name: "Data", Type: "integer", CountPaths: []string{".data", ".binaryData"}, Description: "Number of keys"},
			},
		},
		{
			Version: "v1", Kind: "Secret", Resource: "secrets", Namespaced: true, EncryptAtRest: true,
			Columns: []registry.Column{
				{Name: "Type", Type: "string", JSONPath: ".type", Description: "The type of the secret"},
				{Name: "Data", Type: "integer", CountPaths: []string{".data"}, Description: "Number of keys"},
			},
			SelectableFields: []string{".type"},
		},
		{
			Version: "v1", Kind: "Event", Resource: "events", ShortNames: []string{"ev"}, Namespaced: true,
			Columns: []registry.Column{
				{Name: "Last Seen", Type: "date", JSONPath: ".lastTimestamp", Description: "When the event was last seen"},
				{Name: "Type", Type: "string", JSONPath: ".type"},
				{Name: "Reason", Type: "string", JSONPath: ".reason"},
				{Name: "Object", Type: "string", JSONPath: "{.involvedObject.kind}/{.involvedObject.name}"},
				{Name: "Message", Type: "string", JSONPath: ".message"},
			},
			SelectableFields: []string{
				".involvedObject.kind", ".involvedObject.namespace", ".involvedObject.name", ".involvedObject.uid",
				".involvedObject.apiVersion", ".involvedObject.resourceVersion", ".involvedObject.fieldPath",
				".reason", ".reportingComponent", ".source", ".type",
			},
		},
	}
	for i := range kinds {
		k := &kinds[i]
		k.Owner = Owner
		s, err := schemas.Load(k.Group, k.Version, k.Kind)
		if err != nil {
			return nil, fmt.Errorf("core: schema of %s: %w", k.Kind, err)
		}
		k.Schema = s
	}
	return kinds, nil
}
