package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"

	"weft.dev/weft/node/image"
	"weft.dev/weft/node/runtime"
	"weft.dev/weft/node/runtime/runtimetest"
)

// BenchmarkRuntimeFloor is what starting containers costs below the agent: the
// containerd client alone against the same private containerd, busybox `sleep 1000`,
// no network, no log driver, null IO. Each iteration creates and starts n containers
// at once and reports create→running latency (p50, p99 over all containers of all
// iterations) and the CPU per container of this process, containerd, the shims, runc
// and the containers' own cgroups (runc init). With groups > 0 the runc shim serves
// container i in shim group i mod groups instead of one shim per container.
func BenchmarkRuntimeFloor(b *testing.B) {
	for _, c := range []struct{ n, groups int }{{1, 0}, {30, 0}, {30, 8}} {
		name := fmt.Sprintf("containers=%d", c.n)
		if c.groups > 0 {
			name += fmt.Sprintf("/shims=%d", c.groups)
		}
		b.Run(name, func(b *testing.B) {
			runtimetest.Gate(b)
			const ns = "weft-floor"
			meter := runtimetest.MeterCPU(b, ns)
			d := runtimetest.StartDaemon(b, b.TempDir())
			client := d.Client()
			ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 5*time.Minute)
			defer cancel()
			sn, err := image.Snapshotter(ctx, client)
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			if err := image.BuildBusybox(&buf, image.BusyboxRef); err != nil {
				b.Fatal(err)
			}
			if _, err := image.Import(ctx, client, ns, &buf, image.Options{Snapshotter: sn}); err != nil {
				b.Fatal(err)
			}
			ref, _ := image.Normalize(image.BusyboxRef)
			img, err := client.GetImage(ctx, ref)
			if err != nil {
				b.Fatal(err)
			}
			runcOpts := &runcoptions.Options{BinaryName: runtime.DefaultRuncBinary, Root: d.RuncRoot()}

			var lat []time.Duration
			var cpu int64
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				cpu0 := int64(0)
				if meter != nil {
					cpu0 = meter.Nanos()
				}
				b.StartTimer()
				begin := time.Now()
				ends := make([]time.Duration, c.n)
				errs := make([]error, c.n)
				ctrs := make([]containerd.Container, c.n)
				var wg sync.WaitGroup
				for j := range c.n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						specOpts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "1000")}
						if c.groups > 0 {
							specOpts = append(specOpts, oci.WithAnnotations(map[string]string{
								"io.containerd.runc.v2.group": fmt.Sprintf("floor-%d-%d", i, j%c.groups),
							}))
						}
						id := fmt.Sprintf("floor-%d-%d", i, j)
						ctr, err := client.NewContainer(ctx, id,
							containerd.WithSnapshotter(sn),
							containerd.WithNewSnapshot(id, img),
							containerd.WithImage(img),
							containerd.WithRuntime("io.containerd.runc.v2", runcOpts),
							containerd.WithNewSpec(specOpts...),
						)
						if err != nil {
							errs[j] = err
							return
						}
						ctrs[j] = ctr
						task, err := ctr.NewTask(ctx, cio.NullIO)
						if err != nil {
							errs[j] = err
							return
						}
						if err := task.Start(ctx); err != nil {
							errs[j] = err
							return
						}
						ends[j] = time.Since(begin)
					}()
				}
				wg.Wait()
				b.StopTimer()
				if meter != nil {
					cpu += meter.Nanos() - cpu0
				}
				shims, rss := countShims(b, d.Socket())
				b.ReportMetric(float64(shims), "shims")
				b.ReportMetric(rss/float64(c.n), "shim-MB/ctr")
				lat = append(lat, ends...)
				for _, ctr := range ctrs {
					if ctr == nil {
						continue
					}
					if task, err := ctr.Task(ctx, nil); err == nil {
						if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
							b.Errorf("delete task %s: %v", ctr.ID(), err)
						}
					}
					if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
						b.Errorf("delete %s: %v", ctr.ID(), err)
					}
				}
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			b.ReportMetric(runtimetest.PercentileMs(lat, 0.5), "p50-ms")
			b.ReportMetric(runtimetest.PercentileMs(lat, 0.99), "p99-ms")
			if meter != nil && len(lat) > 0 {
				b.ReportMetric(float64(cpu)/1e6/float64(len(lat)), "cpu-ms/ctr")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// countShims counts the shim processes serving the daemon at socket, and their
// resident memory in MiB.
func countShims(tb testing.TB, socket string) (int, float64) {
	tb.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		tb.Fatal(err)
	}
	n, rss := 0, 0.0
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.HasSuffix(args[0], "containerd-shim-runc-v2") || !slices.Contains(args, socket) {
			continue
		}
		n++
		status, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				rss += kb / 1024
			}
		}
	}
	return n, rss
}
