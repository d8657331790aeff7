#!/usr/bin/env bash
# make bench: runs every benchmark once over its bounded workload and prints each
# figure beside its anchor. The raw `go test` output goes to stderr and to
# bin/bench.out; the comparison table goes to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
{
	go test -run '^$' -bench 'DurablePut|WatchFanout' -benchtime 1x -timeout 30m ./store/
	go test -run '^$' -bench 'APICreate' -benchtime 1x -timeout 10m ./cmd/weft/
	go test -run '^$' -bench 'PodValidateAnchor' -timeout 5m ./kernel/schema/
	go test -run '^$' -bench '^BenchmarkCall(Trusted)?$' -benchtime 3000x -timeout 5m ./kernel/pluginhost/
	go test -run '^$' -bench 'HostCall|InstanceMemory' -benchtime 1x -timeout 5m ./kernel/pluginhost/
	go test -run '^$' -bench 'Feed' -benchtime 200x -timeout 5m ./kernel/pluginhost/
	go test -run '^$' -bench 'NativeVsWasm' -benchtime 10x -timeout 10m ./plugins/apps/
	go test -run '^$' -bench 'DeploymentScale1000' -benchtime 1x -timeout 10m ./plugins/apps/
	go test -run '^$' -bench 'PluginSwap' -benchtime 1x -timeout 10m ./kernel/
	go test -run '^$' -bench 'WatchEvents' -benchtime 200000x -timeout 10m ./nodelink/
	go test -run '^$' -bench 'Schedule(Default|Wasm|RustWasm|RustNative)$/nodes=/batch=16' -benchtime 1000x -timeout 10m ./plugins/scheduling/
	# containerd and runc alone: the floor under pod startup, printed beside it.
	go test -run '^$' -bench 'RuntimeFloor' -benchtime 5x -timeout 10m ./node/runtime/
	go test -run '^$' -bench 'PodStartup' -benchtime 5x -timeout 10m ./node/pods/
	go test -run '^$' -bench 'NotReady' -benchtime 1x -timeout 10m ./node/agent/
	# The scheduler end to end on simulated nodes; each run is bounded (15-30 min at most).
	go test -run '^$' -bench 'SchedulingThroughput|SchedulerSwapLatency' -benchtime 1x -timeout 60m ./cmd/weft/
	go test -run '^$' -bench 'SchedulingScale' -benchtime 1x -timeout 45m ./cmd/weft/
} 2>&1 | tee bin/bench.out | go run ./hack/benchreport
