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
	go test -run '^$' -bench 'Schedule(Default|Wasm)$/nodes=/batch=16' -benchtime 1000x -timeout 10m ./plugins/scheduling/
	go test -run '^$' -bench 'PodStartup' -benchtime 5x -timeout 10m ./node/pods/
	go test -run '^$' -bench 'NotReady' -benchtime 1x -timeout 10m ./node/agent/
	# End to end at 500 simulated nodes; 2000 pods keeps it to minutes while pod
	# watches fan out per node (see the scheduler issue's note).
	WEFT_BENCH_SIM_NODES=500 WEFT_BENCH_SIM_PODS=2000 go test -run '^$' -bench 'SchedulingThroughput' -benchtime 1x -timeout 20m ./cmd/weft/
} 2>&1 | tee bin/bench.out | go run ./hack/benchreport
