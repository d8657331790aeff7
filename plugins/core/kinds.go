package core

import (
	"embed"
	"encoding/json"

	"weft.dev/weft/sdk"
)

// The schemas of the kinds below, as generated into plugins/core/schemas (which the
// kernel also reads, so they are embedded from there rather than copied).
//
//go:embed schemas/core_v1_Namespace.json schemas/core_v1_ConfigMap.json schemas/core_v1_Secret.json
//go:embed schemas/core_v1_Pod.json schemas/core_v1_Service.json schemas/core_v1_Endpoints.json
//go:embed schemas/discovery.k8s.io_v1_EndpointSlice.json schemas/core_v1_Node.json
//go:embed schemas/core_v1_ServiceAccount.json schemas/coordination.k8s.io_v1_Lease.json
//go:embed schemas/core_v1_Event.json
var schemaFiles embed.FS

func schemaOf(group, version, kind string) json.RawMessage {
	if group == "" {
		group = "core"
	}
	b, err := schemaFiles.ReadFile("schemas/" + group + "_" + version + "_" + kind + ".json")
	if err != nil {
		panic("core: no embedded schema for " + kind) // a build error, caught by the tests
	}
	return b
}

// Name formats, as sdk.KindSpec spells them.
const (
	dnsSubdomain = "DNSSubdomain"
	dnsLabel     = "DNSLabel"
)

// Kinds returns the kinds the plugin defines, with their schemas.
func Kinds() []sdk.KindSpec {
	kinds := []sdk.KindSpec{
		{
			Version: "v1", Kind: "Namespace", Resource: "namespaces", ShortNames: []string{"ns"},
			Status: true, NameFormat: dnsLabel,
			Columns: []sdk.Column{
				{Name: "Status", Type: "string", JSONPath: ".status.phase", Description: "The phase of the namespace"},
			},
			SelectableFields: []string{".status.phase"},
		},
		{
			Version: "v1", Kind: "ConfigMap", Resource: "configmaps", ShortNames: []string{"cm"}, Namespaced: true,
			Columns: []sdk.Column{
				{Name: "Data", Type: "integer", CountPaths: []string{".data", ".binaryData"}, Description: "Number of keys"},
			},
		},
		{
			Version: "v1", Kind: "Secret", Resource: "secrets", Namespaced: true, EncryptAtRest: true,
			Columns: []sdk.Column{
				{Name: "Type", Type: "string", JSONPath: ".type", Description: "The type of the secret"},
				{Name: "Data", Type: "integer", CountPaths: []string{".data"}, Description: "Number of keys"},
			},
			SelectableFields: []string{".type"},
		},
		{
			Version: "v1", Kind: "Pod", Resource: "pods", ShortNames: []string{"po"}, Namespaced: true,
			Categories: []string{"all"}, Status: true,
			Graceful: &sdk.GracefulSpec{
				DefaultPath: ".spec.terminationGracePeriodSeconds", BoundPath: ".spec.nodeName",
				TerminalPath: ".status.phase", TerminalValues: []string{"Succeeded", "Failed"},
			},
			Columns: []sdk.Column{
				{Name: "Ready", Type: "string", JSONPath: "{#.status.containerStatuses[?(@.ready==true)]}/{#.spec.containers[*]}", Description: "Ready containers out of all containers"},
				{Name: "Status", Type: "string", Format: "pod-status", JSONPath: ".status.phase", Description: "The status of the pod, as kubectl shows it"},
				{Name: "Restarts", Type: "integer", JSONPath: "{+.status.containerStatuses[*].restartCount}", Description: "Container restarts"},
				{Name: "IP", Type: "string", JSONPath: ".status.podIP", Priority: 1},
				{Name: "Node", Type: "string", JSONPath: ".spec.nodeName", Priority: 1},
				{Name: "Nominated Node", Type: "string", JSONPath: ".status.nominatedNodeName", Priority: 1},
			},
			SelectableFields: []string{
				".spec.nodeName", ".spec.restartPolicy", ".spec.schedulerName", ".spec.serviceAccountName",
				".spec.hostNetwork", ".status.phase", ".status.podIP", ".status.nominatedNodeName",
			},
		},
		{
			Version: "v1", Kind: "Service", Resource: "services", ShortNames: []string{"svc"}, Namespaced: true,
			Categories: []string{"all"}, Status: true, NameFormat: dnsLabel,
			Columns: []sdk.Column{
				{Name: "Type", Type: "string", JSONPath: ".spec.type"},
				{Name: "Cluster-IP", Type: "string", JSONPath: ".spec.clusterIP"},
				{Name: "External-IP", Type: "string", JSONPath: ".status.loadBalancer.ingress[*].ip"},
				{Name: "Port(s)", Type: "string", JSONPath: ".spec.ports[*].port"},
			},
			SelectableFields: []string{".spec.clusterIP", ".spec.type"},
		},
		{
			// The list kind is EndpointsList, the default (KindSpec has no field for it).
			Version: "v1", Kind: "Endpoints", Resource: "endpoints", ShortNames: []string{"ep"}, Namespaced: true,
			Singular: "endpoints",
			Columns: []sdk.Column{
				{Name: "Endpoints", Type: "string", JSONPath: ".subsets[*].addresses[*].ip"},
			},
		},
		{
			Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Resource: "endpointslices", Namespaced: true,
			Columns: []sdk.Column{
				{Name: "AddressType", Type: "string", JSONPath: ".addressType"},
				{Name: "Ports", Type: "string", JSONPath: ".ports[*].port"},
				{Name: "Endpoints", Type: "string", JSONPath: ".endpoints[*].addresses[*]"},
			},
		},
		{
			Version: "v1", Kind: "Node", Resource: "nodes", ShortNames: []string{"no"}, Status: true,
			Columns: []sdk.Column{
				{Name: "Status", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].status`,
					Values: map[string]string{"True": "Ready", "False": "NotReady", "Unknown": "NotReady"}},
				{Name: "Version", Type: "string", JSONPath: ".status.nodeInfo.kubeletVersion"},
				{Name: "Internal-IP", Type: "string", JSONPath: `.status.addresses[?(@.type=="InternalIP")].address`, Priority: 1},
				{Name: "Pod-CIDR", Type: "string", JSONPath: ".spec.podCIDR", Priority: 1},
			},
			SelectableFields: []string{".spec.unschedulable"},
		},
		{
			Version: "v1", Kind: "ServiceAccount", Resource: "serviceaccounts", ShortNames: []string{"sa"}, Namespaced: true,
			Columns: []sdk.Column{
				{Name: "Secrets", Type: "integer", CountPaths: []string{".secrets"}},
			},
		},
		{
			Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", Resource: "leases", Namespaced: true,
			Columns: []sdk.Column{
				{Name: "Holder", Type: "string", JSONPath: ".spec.holderIdentity"},
			},
		},
		{
			Version: "v1", Kind: "Event", Resource: "events", ShortNames: []string{"ev"}, Namespaced: true,
			Columns: []sdk.Column{
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
		if k.NameFormat == "" {
			k.NameFormat = dnsSubdomain
		}
		k.Schema = schemaOf(k.Group, k.Version, k.Kind)
	}
	return kinds
}
