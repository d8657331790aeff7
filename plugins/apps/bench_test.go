package apps

import (
	"testing"

	"weft.dev/weft/sdk"
)

// BenchmarkScaleUp1000 reconciles a ReplicaSet from 0 to 1000 replicas against the
// fake kernel: slow-start batches of creates, the feed of every created pod, and
// the reconciles that follow until the ReplicaSet's status says 1000.
func BenchmarkScaleUp1000(b *testing.B) {
	for b.Loop() {
		k := newKernel(b)
		k.Create(b, rsObject("web", 0, "web"))
		k.Run(b)
		k.Patch(b, "apps", "replicasets", "default", "web", sdk.MergePatch, `{"spec":{"replicas":1000}}`)
		k.Run(b)
		if rs := getRS(b, k, "web"); rs.Status.Replicas != 1000 {
			b.Fatalf("status.replicas %d", rs.Status.Replicas)
		}
	}
}
