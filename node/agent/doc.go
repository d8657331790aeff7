// Package agent is the node agent: it joins the kernel over nodelink, keeps the Node
// object and its Lease current, watches the pods bound to its node (and the ConfigMaps
// and Secrets they use), hands them to a PodManager, reports their status, and serves
// the kernel's logs and exec streams.
package agent
