package main

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kindSpec names one kind to generate and the Go type that defines it.
type kindSpec struct {
	group, version, kind string
	goType               reflect.Type
}

// builtinKinds is the set of kinds plugins/core/schemas serves. Adding a kind
// here and running go generate is all it takes.
func builtinKinds() []kindSpec {
	return []kindSpec{
		{"", "v1", "Namespace", reflect.TypeFor[corev1.Namespace]()},
		{"", "v1", "ConfigMap", reflect.TypeFor[corev1.ConfigMap]()},
		{"", "v1", "Secret", reflect.TypeFor[corev1.Secret]()},
		{"", "v1", "Event", reflect.TypeFor[corev1.Event]()},
		{"", "v1", "Pod", reflect.TypeFor[corev1.Pod]()},
		{"", "v1", "Service", reflect.TypeFor[corev1.Service]()},
		{"", "v1", "Endpoints", reflect.TypeFor[corev1.Endpoints]()},
		{"", "v1", "Node", reflect.TypeFor[corev1.Node]()},
		{"", "v1", "ServiceAccount", reflect.TypeFor[corev1.ServiceAccount]()},
		{"", "v1", "Binding", reflect.TypeFor[corev1.Binding]()},
		{"", "v1", "PersistentVolumeClaim", reflect.TypeFor[corev1.PersistentVolumeClaim]()},
		{"coordination.k8s.io", "v1", "Lease", reflect.TypeFor[coordinationv1.Lease]()},
		{"discovery.k8s.io", "v1", "EndpointSlice", reflect.TypeFor[discoveryv1.EndpointSlice]()},
		{"apps", "v1", "Deployment", reflect.TypeFor[appsv1.Deployment]()},
		{"apps", "v1", "ReplicaSet", reflect.TypeFor[appsv1.ReplicaSet]()},
		{"apps", "v1", "StatefulSet", reflect.TypeFor[appsv1.StatefulSet]()},
		{"apps", "v1", "DaemonSet", reflect.TypeFor[appsv1.DaemonSet]()},
		{"batch", "v1", "Job", reflect.TypeFor[batchv1.Job]()},
		{"batch", "v1", "CronJob", reflect.TypeFor[batchv1.CronJob]()},
		{"networking.k8s.io", "v1", "Ingress", reflect.TypeFor[networkingv1.Ingress]()},
		{"autoscaling", "v1", "Scale", reflect.TypeFor[autoscalingv1.Scale]()},
	}
}

// appsKinds are the kinds plugins/apps serves; its schemas directory receives
// the same files plugins/core/schemas holds for them.
func appsKinds() []kindSpec {
	return []kindSpec{
		{"apps", "v1", "Deployment", reflect.TypeFor[appsv1.Deployment]()},
		{"apps", "v1", "ReplicaSet", reflect.TypeFor[appsv1.ReplicaSet]()},
	}
}

// metaRoots are the meta/v1 types published as named definitions, enough
// for a Kubernetes-like OpenAPI v3 document: list envelopes, Status errors,
// DeleteOptions bodies, watch events, discovery documents and the types
// everything else refers to. Referenced types (OwnerReference, StatusCause,
// RawExtension, ...) are pulled in transitively.
func metaRoots() []reflect.Type {
	return []reflect.Type{
		reflect.TypeFor[metav1.ObjectMeta](),
		reflect.TypeFor[metav1.ListMeta](),
		reflect.TypeFor[metav1.Status](),
		reflect.TypeFor[metav1.DeleteOptions](),
		reflect.TypeFor[metav1.WatchEvent](),
		reflect.TypeFor[metav1.Patch](),
		reflect.TypeFor[metav1.APIResourceList](),
		reflect.TypeFor[metav1.APIGroupList](),
		reflect.TypeFor[metav1.APIVersions](),
		reflect.TypeFor[metav1.LabelSelector](),
		reflect.TypeFor[metav1.Condition](),
		reflect.TypeFor[metav1.Time](),
		reflect.TypeFor[metav1.MicroTime](),
	}
}
