// The native side of BenchmarkScheduleRustNative (plugins/scheduling/rust_test.go):
// the policy's own code compiled for the host, fed and asked what the benchmark
// asks the wasm module, with each schedule call timed in-process (no host, no wasm),
// so that the ratio of the two is the cost of running the Rust policy as a plugin.
//
//   bin_bench INIT CYCLE CALLS
//
// INIT is a sequence of feeds; CYCLE a sequence of feeds ('F') and schedule calls
// ('S'), each record a tag byte, a little-endian u32 length and the call's input,
// repeated until CALLS schedule calls have run. It prints the calls, their wall and
// CPU time in nanoseconds, the decisions without a node, and a digest (FNV-1a) of
// every schedule call's output, which the wasm module must reproduce.

use std::time::Instant;
use weft_defaultpolicy::wire::WireReader;
use weft_defaultpolicy::Plugin;

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
}

fn cpu_ns() -> u64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // CLOCK_PROCESS_CPUTIME_ID, as the Go benchmarks' cpuTimer reads it.
    unsafe { clock_gettime(2, &mut ts) };
    ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
}

fn records(b: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let tag = b[i];
        let n = u32::from_le_bytes([b[i + 1], b[i + 2], b[i + 3], b[i + 4]]) as usize;
        out.push((tag, &b[i + 5..i + 5 + n]));
        i += 5 + n;
    }
    out
}

// Decisions without a node.
fn unplaced(out: &[u8]) -> usize {
    let mut n = 0;
    let mut rd = WireReader::new(out);
    while let Some((tag, v)) = rd.next() {
        if tag != 1 {
            continue;
        }
        let mut placed = false;
        let mut ir = WireReader::new(v);
        while let Some((t, iv)) = ir.next() {
            if t == 2 && !iv.is_empty() {
                placed = true;
            }
        }
        if !placed {
            n += 1;
        }
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: bin_bench INIT CYCLE CALLS");
        std::process::exit(2);
    }
    let init = std::fs::read(&args[1]).expect("read INIT");
    let cycle = std::fs::read(&args[2]).expect("read CYCLE");
    let calls: u64 = args[3].parse().expect("CALLS");
    let mut pl = Plugin::new();
    for (_, input) in records(&init) {
        pl.call("feed", input).expect("feed");
    }
    let script = records(&cycle);
    let (mut done, mut wall, mut cpu, mut bad) = (0u64, 0u128, 0u64, 0usize);
    let mut digest: u64 = 14695981039346656037;
    'outer: loop {
        for &(tag, input) in &script {
            if tag == b'F' {
                pl.call("feed", input).expect("feed");
                continue;
            }
            if done == calls {
                break 'outer;
            }
            let (c0, t0) = (cpu_ns(), Instant::now());
            let out = pl.call("schedule", input).expect("schedule");
            wall += t0.elapsed().as_nanos();
            cpu += cpu_ns() - c0;
            bad += unplaced(&out);
            for &c in &out {
                digest ^= c as u64;
                digest = digest.wrapping_mul(1099511628211);
            }
            done += 1;
        }
    }
    println!("calls={} wall_ns={} cpu_ns={} unplaced={} digest={:x}", done, wall, cpu, bad, digest);
}
