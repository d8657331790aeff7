// The default-scheduler policy (kube-scheduler's default profile) as a Weft plugin
// written in Rust: the ABI glue, the snapshot fed by weft_feed and the filter and
// score loop of weft_schedule, ported from the Go SDK and plugins/scheduling so that
// it decides every pod as the Go policy does (the differential test in
// plugins/scheduling/rust_test.go holds it to that).
//
// It is the built-in defaultpolicy because it decides 3 to 6 times as fast in the
// guest as the Go policy, whose wasm Go's code generation makes 6 to 11 times slower
// than native (this port: 3 to 4 times, the floor wazero's code for plain loops
// sets). RATIONALE.md, "The built-in default policy is written in Rust". The Go
// policy stays the SDK's reference.
//
// Built with rustc alone, no cargo and no crates, into
// plugins/builtin/wasm/defaultpolicy.wasm by `make plugins` (Debian's rustc 1.63 and
// libstd-rust-dev-wasm32, which `make deps` installs). The tests in plugins/scheduling
// build it themselves, and src/bin_bench.rs natively.

pub mod json;
pub mod policy;
pub mod quantity;
pub mod snapshot;
pub mod wire;

use snapshot::{decode_pod, Snapshot, ERR_UNKNOWN_POD};
use wire::{decode_feed, decode_schedule_request, encode_decisions, Decision};

// What the Go policy's weft_manifest returns, byte for byte.
pub const MANIFEST: &str = concat!(
    r#"{"name":"defaultpolicy","version":"0.1.0","abi":1,"scheduler":{"name":"default-scheduler"},"#,
    r#""permissions":[{"group":"","resource":"nodes","verbs":["list","watch"]},"#,
    r#"{"group":"","resource":"pods","verbs":["list","watch"],"namespaces":["*"]}]}"#
);

// One guest instance's state: the snapshot and the policy (whose rotation over the
// nodes carries from call to call).
#[derive(Default)]
pub struct Plugin {
    pub snapshot: Snapshot,
    pub policy: policy::Policy,
}

impl Plugin {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn call(&mut self, op: &str, input: &[u8]) -> Result<Vec<u8>, String> {
        let r = match op {
            "manifest" => Ok(MANIFEST.as_bytes().to_vec()),
            "feed" => self.feed(input).map(|_| Vec::new()),
            "schedule" => self.schedule(input),
            _ => Err(format!("sdk: unknown operation {}", op)),
        };
        self.snapshot.collect();
        r
    }

    fn feed(&mut self, input: &[u8]) -> Result<(), String> {
        let evs = decode_feed(input)?;
        for ev in evs {
            let snap_kind = ev.group.is_empty() && ev.version == b"v1" && (ev.kind == b"Node" || ev.kind == b"Pod");
            if ev.typ == wire::SYNCED || snap_kind {
                let kind: &[u8] = if snap_kind { ev.kind } else { b"" };
                self.snapshot.apply(ev.typ, kind, ev.object)?;
            }
        }
        Ok(())
    }

    // HandleSchedule of sdk/scheduler.go.
    fn schedule(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        let req = decode_schedule_request(input)?;
        let s = &mut self.snapshot;
        for k in &req.forget {
            let _ = s.forget(k);
        }
        let mut out = vec![Decision::default(); req.pods.len()];
        let mut pods = Vec::with_capacity(req.pods.len());
        let mut idx = Vec::with_capacity(req.pods.len());
        for (i, sp) in req.pods.iter().enumerate() {
            let pid = if !sp.object.is_empty() {
                match decode_pod(sp.object) {
                    Err(e) => {
                        out[i] = Decision { pod: sp.key.to_vec(), error: e, ..Default::default() };
                        continue;
                    }
                    Ok(p) => {
                        let old = s.pod_by_key(p.key.as_bytes());
                        let pid = s.alloc_pod(p);
                        let replace = match old {
                            None => true,
                            Some(o) => s.pod(o).node_name.is_empty(),
                        };
                        if replace {
                            s.set_pod(pid);
                        }
                        pid
                    }
                }
            } else {
                match s.pod_by_key(sp.key) {
                    Some(pid) => pid,
                    None => {
                        out[i] = Decision { pod: sp.key.to_vec(), error: ERR_UNKNOWN_POD.to_string(), ..Default::default() };
                        continue;
                    }
                }
            };
            let p = s.pod(pid);
            if !p.node_name.is_empty() {
                // Bound or assumed already (a retry of a decided pod): say where.
                out[i] = Decision { pod: p.key.as_bytes().to_vec(), node: p.node_name.clone(), ..Default::default() };
                continue;
            }
            pods.push(pid);
            idx.push(i);
        }
        let ds = self.policy.schedule(s, &pods);
        let mut dry = Vec::new();
        for (j, d) in ds.into_iter().enumerate() {
            let pid = pods[j];
            let i = idx[j];
            out[i] = d;
            let d = &out[i];
            if d.node.is_empty() {
                continue;
            }
            if req.dry_run {
                dry.push(pid);
            }
            // Policies are to assume what they place; make sure of it.
            let p = s.pod(pid);
            if p.node_name != d.node || !p.assumed {
                let node = d.node.clone();
                if let Err(e) = s.assume(pid, &node) {
                    out[i] = Decision { pod: out[i].pod.clone(), error: e.to_string(), ..Default::default() };
                }
            }
        }
        for pid in dry {
            let key = s.pod(pid).key.clone();
            let _ = s.forget(key.as_bytes());
        }
        Ok(encode_decisions(&out))
    }
}

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::Plugin;

    #[link(wasm_import_module = "weft")]
    extern "C" {
        fn take(ptr: u32);
    }

    // The last result, kept until the next export is called (the host reads it).
    static mut RESULT: Vec<u8> = Vec::new();
    static mut STATE: Option<Plugin> = None;

    fn run(op: &str, n: u32) -> u64 {
        let mut buf: Vec<u8> = Vec::with_capacity(n as usize);
        if n > 0 {
            // take writes all n bytes.
            unsafe {
                take(buf.as_mut_ptr() as u32);
                buf.set_len(n as usize);
            }
        }
        let (out, failed) = unsafe {
            if STATE.is_none() {
                STATE = Some(Plugin::new());
            }
            match STATE.as_mut().unwrap().call(op, &buf) {
                Ok(b) => (b, false),
                Err(e) => (e.into_bytes(), true),
            }
        };
        drop(buf);
        let len = out.len() as u64;
        let ptr = out.as_ptr() as u64;
        unsafe {
            RESULT = out;
        }
        let r = if len == 0 { 0 } else { ptr << 32 | len };
        if failed {
            r | 1 << 31
        } else {
            r
        }
    }

    #[no_mangle]
    pub extern "C" fn weft_abi_v1() {}

    #[no_mangle]
    pub extern "C" fn weft_manifest(n: u32) -> u64 {
        run("manifest", n)
    }

    #[no_mangle]
    pub extern "C" fn weft_feed(n: u32) -> u64 {
        run("feed", n)
    }

    #[no_mangle]
    pub extern "C" fn weft_schedule(n: u32) -> u64 {
        run("schedule", n)
    }
}
