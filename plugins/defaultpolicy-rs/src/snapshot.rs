// The scheduler's view of the cluster, fed incrementally: a port of sdk.Snapshot
// (sdk/snapshot.go, snapshot_decode.go, snapshot_index.go). Nodes keep the order
// the Go snapshot keeps them in (appended, removed by swapping in the last), since
// the policy's rotation over them decides which nodes a pod is scored on.

use crate::json::{labels_get, selector_matches, LabelSelector, Labels, Reader, Requirement};
use crate::quantity::parse_quantity;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

// FxHash: the maps here are keyed by names the cluster chooses, hashed on every
// pod placed; SipHash's resistance to chosen keys costs more than it buys inside
// one tenant's guest.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, mut b: &[u8]) {
        while b.len() >= 8 {
            self.add(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
            b = &b[8..];
        }
        if b.len() >= 4 {
            self.add(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64);
            b = &b[4..];
        }
        for &c in b {
            self.add(c as u64);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64)
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64)
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i)
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64)
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub type FxSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
pub const LABEL_ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

pub const DEFAULT_MILLI_CPU: i64 = 100;
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

pub const ERR_UNKNOWN_POD: &str = "sdk: pod not in snapshot";
pub const ERR_UNKNOWN_NODE: &str = "sdk: node not in snapshot";
pub const ERR_NOT_ASSUMED: &str = "sdk: pod not assumed";

#[derive(Default, Clone, PartialEq)]
pub struct Resources {
    pub cpu: i64,
    pub mem: i64,
    pub eph: i64,
    // Extended resources, sorted by name.
    pub scalar: Vec<(String, i64)>,
}

impl Resources {
    fn set(&mut self, name: &str, v: i64) {
        match name {
            "cpu" => self.cpu = v,
            "memory" => self.mem = v,
            "ephemeral-storage" => self.eph = v,
            _ => *self.slot(name) = v,
        }
    }

    fn slot(&mut self, name: &str) -> &mut i64 {
        let i = match self.scalar.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => i,
            Err(i) => {
                self.scalar.insert(i, (name.to_string(), 0));
                i
            }
        };
        &mut self.scalar[i].1
    }

    pub fn scalar(&self, name: &str) -> i64 {
        match self.scalar.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1,
            Err(_) => 0,
        }
    }

    fn has_scalar(&self, name: &str) -> bool {
        self.scalar.binary_search_by(|(k, _)| k.as_str().cmp(name)).is_ok()
    }

    pub fn add(&mut self, o: &Resources, sign: i64) {
        self.cpu = self.cpu.wrapping_add(sign.wrapping_mul(o.cpu));
        self.mem = self.mem.wrapping_add(sign.wrapping_mul(o.mem));
        self.eph = self.eph.wrapping_add(sign.wrapping_mul(o.eph));
        for (k, v) in &o.scalar {
            let s = self.slot(k);
            *s = s.wrapping_add(sign.wrapping_mul(*v));
        }
    }

    fn max_of(&mut self, o: &Resources) {
        self.cpu = self.cpu.max(o.cpu);
        self.mem = self.mem.max(o.mem);
        self.eph = self.eph.max(o.eph);
        for (k, v) in &o.scalar {
            let s = self.slot(k);
            *s = (*s).max(*v);
        }
    }
}

#[derive(Default, Clone, PartialEq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

#[derive(Default, Clone, PartialEq)]
pub struct Toleration {
    pub key: String,
    pub operator: String,
    pub value: String,
    pub effect: String,
}

impl Toleration {
    pub fn tolerates(&self, t: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != t.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != t.key {
            return false;
        }
        match self.operator.as_str() {
            "" | "Equal" => self.value == t.value,
            "Exists" => true,
            _ => false,
        }
    }
}

pub fn tolerated(ts: &[Toleration], t: &Taint) -> bool {
    ts.iter().any(|tl| tl.tolerates(t))
}

#[derive(Default, Clone)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<Requirement>,
    pub match_fields: Vec<Requirement>,
}

fn requirement_matches(r: &Requirement, v: Option<&str>) -> bool {
    match r.operator.as_str() {
        "In" => matches!(v, Some(v) if r.values.iter().any(|x| x == v)),
        "NotIn" => !matches!(v, Some(v) if r.values.iter().any(|x| x == v)),
        "Exists" => v.is_some(),
        "DoesNotExist" => v.is_none(),
        "Gt" | "Lt" => {
            let v = match v {
                Some(v) if r.values.len() == 1 => v,
                _ => return false,
            };
            match (v.parse::<i64>(), r.values[0].parse::<i64>()) {
                (Ok(lv), Ok(rv)) => {
                    if r.operator == "Gt" {
                        lv > rv
                    } else {
                        lv < rv
                    }
                }
                _ => false,
            }
        }
        _ => false,
    }
}

impl NodeSelectorTerm {
    // An empty term matches nothing; matchFields know only metadata.name.
    pub fn matches(&self, n: &Node) -> bool {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return false;
        }
        for r in &self.match_expressions {
            if !requirement_matches(r, labels_get(&n.labels, &r.key)) {
                return false;
            }
        }
        for r in &self.match_fields {
            if r.key != "metadata.name" || (r.operator != "In" && r.operator != "NotIn") {
                return false;
            }
            if !requirement_matches(r, Some(&n.name)) {
                return false;
            }
        }
        true
    }
}

#[derive(Default, Clone)]
pub struct PreferredSchedulingTerm {
    pub weight: i64,
    pub preference: NodeSelectorTerm,
}

#[derive(Default, Clone)]
pub struct PodAffinityTerm {
    pub selector: Option<LabelSelector>,
    pub namespaces: Vec<String>,
    pub all_namespaces: bool,
    pub topology_key: String,
}

impl PodAffinityTerm {
    pub fn matches(&self, p: &Pod) -> bool {
        if !self.all_namespaces && !self.namespaces.iter().any(|ns| *ns == p.namespace) {
            return false;
        }
        selector_matches(&self.selector, &p.labels)
    }

    fn resolve(&mut self, ns: &str) {
        if self.all_namespaces {
            return;
        }
        if self.namespaces.is_empty() {
            self.namespaces.push(ns.to_string());
        }
    }
}

#[derive(Default, Clone)]
pub struct WeightedPodAffinityTerm {
    pub weight: i64,
    pub term: PodAffinityTerm,
}

#[derive(Default, Clone)]
pub struct Tsc {
    pub max_skew: i64,
    pub topology_key: String,
    pub when: String,
    pub selector: Option<LabelSelector>,
    pub min_domains: i64,
    pub node_affinity_policy: String,
    pub node_taints_policy: String,
}

pub type NodeId = usize;
pub type PodId = usize;

// What the filter and score loops read of a node, kept in an array parallel to
// Snapshot.nodes: the loops walk it in order, one or two cache lines a node, where
// the Node itself spreads over many (and, in a wasm guest, every load is checked).
#[derive(Clone, Copy, Default)]
pub struct Hot {
    pub alloc_cpu: i64,
    pub alloc_mem: i64,
    pub alloc_eph: i64,
    pub req_cpu: i64,
    pub req_mem: i64,
    pub req_eph: i64,
    pub nz_cpu: i64,
    pub nz_mem: i64,
    pub allowed_pods: i64,
    pub npods: i64,
    pub name_hash: u64,
    pub id: u32,
    pub zone: i32, // the zone's ID, -1 for none
}

#[derive(Default)]
pub struct Node {
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub alloc: Resources,
    pub allowed_pods: i64,
    pub unschedulable: bool,
    pub ready: bool,
    pub ready_status: String,
    pub zone: String,
    pub hostname: String,

    pub pods: Vec<PodId>,
    pub requested: Resources,
    pub nonzero: Resources,
    pub pods_with_affinity: i64,
    pub pods_with_required_anti: i64,

    pub exists: bool,
    idx: usize,
    pub id: NodeId,
    pub name_hash: u64,
    zone_id: i32, // 0 for none, else the zone's index + 1
    dead: bool,
}

impl Node {
    // The value of a topology key: the hostname and zone keys read the decoded
    // Hostname and Zone, as NodeInfo.Label does.
    #[inline]
    pub fn label(&self, key: &str) -> Option<&str> {
        if key == LABEL_HOSTNAME {
            return if self.hostname.is_empty() { None } else { Some(&self.hostname) };
        }
        if key == LABEL_ZONE {
            return if self.zone.is_empty() { None } else { Some(&self.zone) };
        }
        if let Some(v) = labels_get(&self.labels, key) {
            return Some(v);
        }
        if key == LABEL_ZONE_BETA {
            return if self.zone.is_empty() { None } else { Some(&self.zone) };
        }
        None
    }

    #[inline]
    pub fn zone_id(&self) -> i32 {
        self.zone_id - 1
    }
}

#[derive(Default, Clone)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub key: String,
    pub labels: Labels,
    pub node_name: String,
    pub scheduler_name: String,
    pub priority: i32,
    pub phase: String,
    pub deleting: bool,
    pub controlled: bool,
    pub controller_kind: String,

    pub requests: Resources,
    pub nonzero: Resources,

    pub node_selector: Labels,
    pub required_node_affinity: Vec<NodeSelectorTerm>,
    pub has_required_affinity: bool,
    pub preferred_node_affinity: Vec<PreferredSchedulingTerm>,

    pub required_affinity: Vec<PodAffinityTerm>,
    pub preferred_affinity: Vec<WeightedPodAffinityTerm>,
    pub required_anti: Vec<PodAffinityTerm>,
    pub preferred_anti: Vec<WeightedPodAffinityTerm>,

    pub tolerations: Vec<Toleration>,
    pub spread: Vec<Tsc>,

    pub assumed: bool,
    pub node: Option<NodeId>,
    idx: usize,
}

impl Pod {
    pub fn terminated(&self) -> bool {
        self.phase == "Succeeded" || self.phase == "Failed"
    }

    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.required_anti.is_empty()
            && self.preferred_anti.is_empty())
    }

    // nodeSelector and required node affinity.
    pub fn matches_node_selector(&self, n: &Node) -> bool {
        for (k, v) in &self.node_selector {
            match labels_get(&n.labels, k) {
                Some(got) if got == v => {}
                _ => return false,
            }
        }
        if self.has_required_affinity {
            return self.required_node_affinity.iter().any(|t| t.matches(n));
        }
        true
    }
}

// --- Decoding ---

fn quantity_error(qerr: &mut Option<String>, name: &str, s: &str) {
    if qerr.is_none() {
        *qerr = Some(format!("sdk: malformed quantity\n{}: {}", name, s));
    }
}

fn read_resources(r: &mut Reader, res: &mut Resources, mut pods: Option<&mut i64>, qerr: &mut Option<String>) {
    r.object(|r, k| {
        let s = r.string();
        let name = String::from_utf8_lossy(k);
        let v = match parse_quantity(s.as_bytes(), name == "cpu") {
            Ok(v) => v,
            Err(()) => {
                quantity_error(qerr, &name, &s);
                return;
            }
        };
        if name == "pods" {
            if let Some(p) = pods.as_deref_mut() {
                *p = v;
            }
            return;
        }
        res.set(&name, v);
    });
}

pub fn decode_node(b: &[u8]) -> Result<Node, String> {
    let mut n = Node { ready: true, ..Default::default() };
    let mut capacity = Resources::default();
    let mut cap_pods = 0i64;
    let mut have_alloc = false;
    let mut qerr: Option<String> = None;
    let mut r = Reader::new(b);
    r.object(|r, k| match k {
        b"metadata" => r.object(|r, k| match k {
            b"name" => n.name = r.string(),
            b"uid" => n.uid = r.string(),
            b"labels" => r.string_map(&mut n.labels),
            _ => r.skip(),
        }),
        b"spec" => r.object(|r, k| match k {
            b"unschedulable" => n.unschedulable = r.boolean(),
            b"taints" => r.array(|r, _| {
                let mut t = Taint::default();
                r.object(|r, k| match k {
                    b"key" => t.key = r.string(),
                    b"value" => t.value = r.string(),
                    b"effect" => t.effect = r.string(),
                    _ => r.skip(),
                });
                n.taints.push(t);
            }),
            _ => r.skip(),
        }),
        b"status" => r.object(|r, k| match k {
            b"allocatable" => {
                have_alloc = true;
                read_resources(r, &mut n.alloc, Some(&mut n.allowed_pods), &mut qerr);
            }
            b"capacity" => read_resources(r, &mut capacity, Some(&mut cap_pods), &mut qerr),
            b"conditions" => r.array(|r, _| {
                let mut typ = String::new();
                let mut status = String::new();
                r.object(|r, k| match k {
                    b"type" => typ = r.string(),
                    b"status" => status = r.string(),
                    _ => r.skip(),
                });
                if typ == "Ready" {
                    n.ready = status == "True";
                    n.ready_status = status;
                }
            }),
            _ => r.skip(),
        }),
        _ => r.skip(),
    });
    r.end()?;
    if let Some(e) = qerr {
        return Err(e);
    }
    if !have_alloc {
        n.alloc = capacity;
        n.allowed_pods = cap_pods;
    }
    if n.name.is_empty() {
        return Err("sdk: node without a name".to_string());
    }
    n.zone = labels_get(&n.labels, LABEL_ZONE).unwrap_or("").to_string();
    if n.zone.is_empty() {
        n.zone = labels_get(&n.labels, LABEL_ZONE_BETA).unwrap_or("").to_string();
    }
    n.hostname = labels_get(&n.labels, LABEL_HOSTNAME).unwrap_or("").to_string();
    if n.hostname.is_empty() {
        n.hostname = n.name.clone();
    }
    Ok(n)
}

#[derive(Default)]
struct ContainerRes {
    req: Resources,
    sidecar: bool,
}

fn read_container(r: &mut Reader, qerr: &mut Option<String>) -> ContainerRes {
    let mut c = ContainerRes::default();
    let mut limits = Resources::default();
    r.object(|r, k| match k {
        b"resources" => r.object(|r, k| match k {
            b"requests" => read_resources(r, &mut c.req, None, qerr),
            b"limits" => read_resources(r, &mut limits, None, qerr),
            _ => r.skip(),
        }),
        b"restartPolicy" => c.sidecar = r.string() == "Always",
        _ => r.skip(),
    });
    // Requests default to limits, as the API server defaults them.
    if c.req.cpu == 0 && limits.cpu != 0 {
        c.req.cpu = limits.cpu;
    }
    if c.req.mem == 0 && limits.mem != 0 {
        c.req.mem = limits.mem;
    }
    if c.req.eph == 0 && limits.eph != 0 {
        c.req.eph = limits.eph;
    }
    for (k, v) in &limits.scalar {
        if !c.req.has_scalar(k) {
            c.req.set(k, *v);
        }
    }
    c
}

fn nonzero(r: &Resources) -> Resources {
    Resources {
        cpu: if r.cpu == 0 { DEFAULT_MILLI_CPU } else { r.cpu },
        mem: if r.mem == 0 { DEFAULT_MEMORY } else { r.mem },
        ..Default::default()
    }
}

// PodRequests of k8s.io/component-helpers, as sdk's podRequests computes it.
fn pod_requests(p: &mut Pod, containers: &[ContainerRes], inits: &[ContainerRes], overhead: &Resources) {
    let mut sum = Resources::default();
    let mut nz = Resources::default();
    for c in containers {
        sum.add(&c.req, 1);
        nz.add(&nonzero(&c.req), 1);
    }
    let mut sidecars = Resources::default();
    let mut sidecars_nz = Resources::default();
    let mut init_max = Resources::default();
    let mut init_max_nz = Resources::default();
    for c in inits {
        let z = nonzero(&c.req);
        if c.sidecar {
            sidecars.add(&c.req, 1);
            sidecars_nz.add(&z, 1);
            sum.add(&c.req, 1);
            nz.add(&z, 1);
            continue;
        }
        let mut t = Resources::default();
        t.add(&sidecars, 1);
        t.add(&c.req, 1);
        init_max.max_of(&t);
        let mut tz = sidecars_nz.clone();
        tz.add(&z, 1);
        init_max_nz.max_of(&tz);
    }
    sum.max_of(&init_max);
    nz.max_of(&init_max_nz);
    sum.add(overhead, 1);
    nz.cpu = nz.cpu.wrapping_add(overhead.cpu);
    nz.mem = nz.mem.wrapping_add(overhead.mem);
    p.requests = sum;
    p.nonzero = Resources { cpu: nz.cpu, mem: nz.mem, ..Default::default() };
}

fn read_node_term(r: &mut Reader) -> NodeSelectorTerm {
    let mut t = NodeSelectorTerm::default();
    fn reqs(r: &mut Reader, into: &mut Vec<Requirement>) {
        r.array(|r, _| {
            let mut q = Requirement::default();
            r.object(|r, k| match k {
                b"key" => q.key = r.string(),
                b"operator" => q.operator = r.string(),
                b"values" => r.array(|r, _| {
                    let v = r.string();
                    q.values.push(v)
                }),
                _ => r.skip(),
            });
            into.push(q);
        });
    }
    r.object(|r, k| match k {
        b"matchExpressions" => reqs(r, &mut t.match_expressions),
        b"matchFields" => reqs(r, &mut t.match_fields),
        _ => r.skip(),
    });
    t
}

// A namespace selector other than {} names no namespace the snapshot knows.
const NS_SELECTOR_OTHER: &str = "\x00other";

fn read_pod_term(r: &mut Reader) -> PodAffinityTerm {
    let mut t = PodAffinityTerm::default();
    r.object(|r, k| match k {
        b"labelSelector" => {
            if r.kind() == crate::json::Kind::Null {
                r.skip();
                return;
            }
            let mut sel = LabelSelector::default();
            r.label_selector(&mut sel);
            t.selector = Some(sel);
        }
        b"namespaces" => r.array(|r, _| {
            let v = r.string();
            t.namespaces.push(v)
        }),
        b"namespaceSelector" => {
            if r.kind() == crate::json::Kind::Null {
                r.skip();
                return;
            }
            let mut sel = LabelSelector::default();
            r.label_selector(&mut sel);
            if sel.is_empty() {
                t.all_namespaces = true;
            } else {
                t.namespaces.push(NS_SELECTOR_OTHER.to_string());
            }
        }
        b"topologyKey" => t.topology_key = r.string(),
        _ => r.skip(),
    });
    t
}

fn read_pod_affinity(r: &mut Reader, req: &mut Vec<PodAffinityTerm>, pref: &mut Vec<WeightedPodAffinityTerm>) {
    r.object(|r, k| match k {
        b"requiredDuringSchedulingIgnoredDuringExecution" => r.array(|r, _| {
            let t = read_pod_term(r);
            req.push(t)
        }),
        b"preferredDuringSchedulingIgnoredDuringExecution" => r.array(|r, _| {
            let mut w = WeightedPodAffinityTerm::default();
            r.object(|r, k| match k {
                b"weight" => w.weight = r.int(),
                b"podAffinityTerm" => w.term = read_pod_term(r),
                _ => r.skip(),
            });
            pref.push(w);
        }),
        _ => r.skip(),
    });
}

fn read_affinity(r: &mut Reader, p: &mut Pod) {
    r.object(|r, k| match k {
        b"nodeAffinity" => r.object(|r, k| match k {
            b"requiredDuringSchedulingIgnoredDuringExecution" => {
                if r.kind() == crate::json::Kind::Null {
                    r.skip();
                    return;
                }
                p.has_required_affinity = true;
                r.object(|r, k| {
                    if k == b"nodeSelectorTerms" {
                        r.array(|r, _| {
                            let t = read_node_term(r);
                            p.required_node_affinity.push(t)
                        });
                    } else {
                        r.skip();
                    }
                });
            }
            b"preferredDuringSchedulingIgnoredDuringExecution" => r.array(|r, _| {
                let mut t = PreferredSchedulingTerm::default();
                r.object(|r, k| match k {
                    b"weight" => t.weight = r.int(),
                    b"preference" => t.preference = read_node_term(r),
                    _ => r.skip(),
                });
                p.preferred_node_affinity.push(t);
            }),
            _ => r.skip(),
        }),
        b"podAffinity" => read_pod_affinity(r, &mut p.required_affinity, &mut p.preferred_affinity),
        b"podAntiAffinity" => read_pod_affinity(r, &mut p.required_anti, &mut p.preferred_anti),
        _ => r.skip(),
    });
}

fn read_spread(r: &mut Reader) -> (Tsc, Vec<String>) {
    let mut c = Tsc::default();
    let mut keys = Vec::new();
    r.object(|r, k| match k {
        b"maxSkew" => c.max_skew = r.int(),
        b"topologyKey" => c.topology_key = r.string(),
        b"whenUnsatisfiable" => c.when = r.string(),
        b"labelSelector" => {
            if r.kind() == crate::json::Kind::Null {
                r.skip();
                return;
            }
            let mut sel = LabelSelector::default();
            r.label_selector(&mut sel);
            c.selector = Some(sel);
        }
        b"minDomains" => c.min_domains = r.int(),
        b"nodeAffinityPolicy" => c.node_affinity_policy = r.string(),
        b"nodeTaintsPolicy" => c.node_taints_policy = r.string(),
        b"matchLabelKeys" => r.array(|r, _| {
            let v = r.string();
            keys.push(v)
        }),
        _ => r.skip(),
    });
    (c, keys)
}

pub fn decode_pod(b: &[u8]) -> Result<Pod, String> {
    let mut p = Pod::default();
    let mut qerr: Option<String> = None;
    let mut containers: Vec<ContainerRes> = Vec::new();
    let mut inits: Vec<ContainerRes> = Vec::new();
    let mut overhead = Resources::default();
    let mut spread: Vec<(Tsc, Vec<String>)> = Vec::new();
    let mut r = Reader::new(b);
    r.object(|r, k| match k {
        b"metadata" => r.object(|r, k| match k {
            b"name" => p.name = r.string(),
            b"namespace" => p.namespace = r.string(),
            b"uid" => p.uid = r.string(),
            b"labels" => r.string_map(&mut p.labels),
            b"deletionTimestamp" => p.deleting = !r.string().is_empty(),
            b"ownerReferences" => r.array(|r, _| {
                let mut kind = String::new();
                let mut ctl = false;
                r.object(|r, k| match k {
                    b"kind" => kind = r.string(),
                    b"controller" => ctl = r.boolean(),
                    _ => r.skip(),
                });
                if ctl {
                    p.controlled = true;
                    p.controller_kind = kind;
                }
            }),
            _ => r.skip(),
        }),
        b"spec" => r.object(|r, k| match k {
            b"nodeName" => p.node_name = r.string(),
            b"schedulerName" => p.scheduler_name = r.string(),
            b"priority" => p.priority = r.int32(),
            b"containers" => r.array(|r, _| {
                let c = read_container(r, &mut qerr);
                containers.push(c)
            }),
            b"initContainers" => r.array(|r, _| {
                let c = read_container(r, &mut qerr);
                inits.push(c)
            }),
            b"overhead" => read_resources(r, &mut overhead, None, &mut qerr),
            b"nodeSelector" => r.string_map(&mut p.node_selector),
            b"affinity" => read_affinity(r, &mut p),
            b"tolerations" => r.array(|r, _| {
                let mut t = Toleration::default();
                r.object(|r, k| match k {
                    b"key" => t.key = r.string(),
                    b"operator" => t.operator = r.string(),
                    b"value" => t.value = r.string(),
                    b"effect" => t.effect = r.string(),
                    _ => r.skip(),
                });
                p.tolerations.push(t);
            }),
            b"topologySpreadConstraints" => r.array(|r, _| {
                let s = read_spread(r);
                spread.push(s)
            }),
            _ => r.skip(),
        }),
        b"status" => r.object(|r, k| {
            if k == b"phase" {
                p.phase = r.string();
            } else {
                r.skip();
            }
        }),
        _ => r.skip(),
    });
    r.end()?;
    if let Some(e) = qerr {
        return Err(e);
    }
    if p.name.is_empty() {
        return Err("sdk: pod without a name".to_string());
    }
    pod_requests(&mut p, &containers, &inits, &overhead);
    let ns = p.namespace.clone();
    for t in p.required_affinity.iter_mut().chain(p.required_anti.iter_mut()) {
        t.resolve(&ns);
    }
    for w in p.preferred_affinity.iter_mut().chain(p.preferred_anti.iter_mut()) {
        w.term.resolve(&ns);
    }
    for (mut c, keys) in spread {
        if !keys.is_empty() {
            if let Some(sel) = &mut c.selector {
                for key in &keys {
                    if let Some(v) = labels_get(&p.labels, key) {
                        sel.match_expressions.push(Requirement {
                            key: key.clone(),
                            operator: "In".to_string(),
                            values: vec![v.to_string()],
                        });
                    }
                }
            }
        }
        p.spread.push(c);
    }
    p.key = format!("{}/{}", p.namespace, p.name);
    Ok(p)
}

// --- Counters (snapshot_index.go) ---

pub struct Domain {
    key: String,
    require: Vec<String>,
    pub counts: FxMap<String, i64>,
    pub total: i64,
    dirty: bool,
}

fn domain_value<'n>(key: &str, require: &[String], n: &'n Node) -> Option<&'n str> {
    for k in require {
        n.label(k)?;
    }
    n.label(key)
}

pub struct Counter {
    ns: String,
    sel: Option<LabelSelector>,
    deleting: bool,
    pub per_node: Vec<i32>,
    domain_index: FxMap<String, usize>,
    pub domains: Vec<Domain>,
    last_use: u64,
}

impl Counter {
    fn matches(&self, p: &Pod) -> bool {
        p.namespace == self.ns && (self.deleting || !p.deleting) && selector_matches(&self.sel, &p.labels)
    }

    #[inline]
    pub fn on_node(&self, id: NodeId) -> i64 {
        match self.per_node.get(id) {
            Some(&c) => c as i64,
            None => 0,
        }
    }
}

const MAX_COUNTERS: usize = 64;

// --- Snapshot ---

#[derive(Default)]
pub struct Snapshot {
    pub nodes: Vec<NodeId>,
    pub hot: Vec<Hot>,
    pub node_slab: Vec<Node>,
    by_name: FxMap<String, NodeId>,
    pods: Vec<Option<Pod>>,
    free_pods: Vec<PodId>,
    by_key: FxMap<String, PodId>,
    garbage: Vec<PodId>,
    pub affinity_pods: FxSet<PodId>,
    pub synced: bool,
    counter_index: FxMap<String, usize>,
    pub counters: Vec<Counter>,
    free_counters: Vec<usize>,
    retired_counters: Vec<usize>,
    use_clock: u64,
    pub unschedulable: i64,
    pub tainted: i64,
    pub not_ready: i64,
    zone_ids: FxMap<String, i32>,
    pub zone_names: Vec<String>,
}

impl Snapshot {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.node_slab[id]
    }

    pub fn pod(&self, id: PodId) -> &Pod {
        self.pods[id].as_ref().unwrap()
    }

    pub fn pod_mut(&mut self, id: PodId) -> &mut Pod {
        self.pods[id].as_mut().unwrap()
    }

    pub fn pod_by_key(&self, key: &[u8]) -> Option<PodId> {
        let k = std::str::from_utf8(key).ok()?;
        self.by_key.get(k).copied()
    }

    pub fn known_node(&self, name: &str) -> Option<NodeId> {
        match self.by_name.get(name) {
            Some(&id) if self.node_slab[id].exists => Some(id),
            _ => None,
        }
    }

    pub fn alloc_pod(&mut self, p: Pod) -> PodId {
        // Every pod the snapshot no longer names is freed at the end of the call.
        let id = match self.free_pods.pop() {
            Some(id) => {
                self.pods[id] = Some(p);
                id
            }
            None => {
                self.pods.push(Some(p));
                self.pods.len() - 1
            }
        };
        self.garbage.push(id);
        id
    }

    // Frees the pods that are no longer the snapshot's (replaced, removed, or
    // decoded for a call without being kept). Runs at the end of every export: a
    // schedule call may still hold a pod the snapshot dropped.
    pub fn collect(&mut self) {
        let garbage = std::mem::take(&mut self.garbage);
        for &id in &garbage {
            let keep = match &self.pods[id] {
                Some(p) => self.by_key.get(&p.key) == Some(&id),
                None => true,
            };
            if !keep {
                self.pods[id] = None;
                self.free_pods.push(id);
            }
        }
        self.garbage = garbage;
        self.garbage.clear();
    }

    fn sync_hot(&mut self, id: NodeId) {
        let n = &self.node_slab[id];
        if !n.exists {
            return;
        }
        self.hot[n.idx] = Hot {
            alloc_cpu: n.alloc.cpu,
            alloc_mem: n.alloc.mem,
            alloc_eph: n.alloc.eph,
            req_cpu: n.requested.cpu,
            req_mem: n.requested.mem,
            req_eph: n.requested.eph,
            nz_cpu: n.nonzero.cpu,
            nz_mem: n.nonzero.mem,
            allowed_pods: n.allowed_pods,
            npods: n.pods.len() as i64,
            name_hash: n.name_hash,
            id: n.id as u32,
            zone: n.zone_id - 1,
        };
    }

    fn count_node(&mut self, id: NodeId, sign: i64) {
        let n = &self.node_slab[id];
        let (u, t, r) = (n.unschedulable, !n.taints.is_empty(), !n.ready);
        if u {
            self.unschedulable += sign;
        }
        if t {
            self.tainted += sign;
        }
        if r {
            self.not_ready += sign;
        }
    }

    fn assign_zone(&mut self, id: NodeId) {
        let zone = std::mem::take(&mut self.node_slab[id].zone);
        let mut zid = 0;
        if !zone.is_empty() {
            zid = match self.zone_ids.get(&zone) {
                Some(&z) => z,
                None => {
                    self.zone_names.push(zone.clone());
                    let z = self.zone_names.len() as i32;
                    self.zone_ids.insert(zone.clone(), z);
                    z
                }
            };
        }
        let n = &mut self.node_slab[id];
        n.zone = zone;
        n.zone_id = zid;
    }

    fn new_node_id(&mut self, mut n: Node) -> NodeId {
        let id = self.node_slab.len();
        n.id = id;
        n.name_hash = crate::policy::node_name_hash(&n.name);
        self.node_slab.push(n);
        id
    }

    pub fn set_node(&mut self, mut n: Node) {
        let old = self.by_name.get(&n.name).copied();
        let old = match old {
            None => {
                n.exists = true;
                n.idx = self.nodes.len();
                let name = n.name.clone();
                let id = self.new_node_id(n);
                self.nodes.push(id);
                self.hot.push(Hot::default());
                self.by_name.insert(name, id);
                self.assign_zone(id);
                self.sync_hot(id);
                self.count_node(id, 1);
                self.nodes_changed();
                return;
            }
            Some(id) => id,
        };
        if self.node_slab[old].exists {
            self.count_node(old, -1);
        }
        let changed = {
            let o = &self.node_slab[old];
            !o.exists || o.labels != n.labels || o.zone != n.zone || o.hostname != n.hostname
        };
        {
            let o = &mut self.node_slab[old];
            o.uid = std::mem::take(&mut n.uid);
            o.labels = std::mem::take(&mut n.labels);
            o.taints = std::mem::take(&mut n.taints);
            o.alloc = std::mem::take(&mut n.alloc);
            o.allowed_pods = n.allowed_pods;
            o.unschedulable = n.unschedulable;
            o.ready = n.ready;
            o.ready_status = std::mem::take(&mut n.ready_status);
            o.zone = std::mem::take(&mut n.zone);
            o.hostname = std::mem::take(&mut n.hostname);
        }
        self.assign_zone(old);
        self.count_node(old, 1);
        if !self.node_slab[old].exists {
            self.node_slab[old].exists = true;
            self.node_slab[old].idx = self.nodes.len();
            self.nodes.push(old);
            self.hot.push(Hot::default());
        }
        self.sync_hot(old);
        if changed {
            self.nodes_changed();
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let id = match self.by_name.get(name) {
            Some(&id) if self.node_slab[id].exists => id,
            _ => return,
        };
        self.count_node(id, -1);
        let idx = self.node_slab[id].idx;
        let last = *self.nodes.last().unwrap();
        self.nodes[idx] = last;
        self.hot[idx] = *self.hot.last().unwrap();
        self.node_slab[last].idx = idx;
        self.nodes.pop();
        self.hot.pop();
        self.node_slab[id].exists = false;
        if self.node_slab[id].pods.is_empty() {
            self.by_name.remove(name);
            self.bury_node(id);
        }
        self.nodes_changed();
    }

    // A node no name leads to any more: its id is never reused, its data can go.
    fn bury_node(&mut self, id: NodeId) {
        let n = &mut self.node_slab[id];
        n.dead = true;
        n.labels = Vec::new();
        n.taints = Vec::new();
        n.pods = Vec::new();
        n.alloc = Resources::default();
        n.requested = Resources::default();
        n.nonzero = Resources::default();
        n.name = String::new();
        n.uid = String::new();
        n.zone = String::new();
        n.hostname = String::new();
        n.ready_status = String::new();
    }

    // SetPod: pid replaces the pod of its key, keeping an assumed node until an
    // update names one.
    pub fn set_pod(&mut self, pid: PodId) {
        let key = self.pod(pid).key.clone();
        if let Some(&old) = self.by_key.get(&key) {
            if old != pid {
                let (assumed, old_node) = {
                    let o = self.pod(old);
                    (o.assumed, o.node_name.clone())
                };
                let p = self.pod_mut(pid);
                if assumed && p.node_name.is_empty() && !p.terminated() {
                    p.node_name = old_node;
                    p.assumed = true;
                }
                self.garbage.push(old);
            }
            self.unplace(old);
        }
        self.by_key.insert(key, pid);
        self.place(pid);
    }

    pub fn remove_pod(&mut self, key: &str) {
        let pid = match self.by_key.get(key) {
            Some(&id) => id,
            None => return,
        };
        self.unplace(pid);
        self.by_key.remove(key);
        self.garbage.push(pid);
    }

    pub fn assume(&mut self, pid: PodId, node: &str) -> Result<(), &'static str> {
        let key = self.pod(pid).key.clone();
        let cur = self.by_key.get(&key).copied();
        if cur != Some(pid) {
            if let Some(old) = cur {
                self.unplace(old);
                self.garbage.push(old);
            }
            self.by_key.insert(key, pid);
        }
        if self.known_node(node).is_none() {
            return Err(ERR_UNKNOWN_NODE);
        }
        self.unplace(pid);
        let p = self.pod_mut(pid);
        p.node_name = node.to_string();
        p.assumed = true;
        self.place(pid);
        Ok(())
    }

    pub fn forget(&mut self, key: &[u8]) -> Result<(), &'static str> {
        let pid = match self.pod_by_key(key) {
            Some(id) => id,
            None => return Err(ERR_UNKNOWN_POD),
        };
        if !self.pod(pid).assumed {
            return Err(ERR_NOT_ASSUMED);
        }
        self.unplace(pid);
        let p = self.pod_mut(pid);
        p.node_name.clear();
        p.assumed = false;
        Ok(())
    }

    fn place(&mut self, pid: PodId) {
        let (has_node, terminated) = {
            let p = self.pod(pid);
            (!p.node_name.is_empty(), p.terminated())
        };
        if !has_node || terminated {
            return;
        }
        let nid = match self.by_name.get(&self.pod(pid).node_name) {
            Some(&id) => id,
            None => {
                // A ghost until the node is fed.
                let name = self.pod(pid).node_name.clone();
                let id = self.new_node_id(Node { name: name.clone(), ..Default::default() });
                self.by_name.insert(name, id);
                id
            }
        };
        let p = self.pods[pid].as_mut().unwrap();
        let n = &mut self.node_slab[nid];
        p.node = Some(nid);
        p.idx = n.pods.len();
        n.pods.push(pid);
        n.requested.add(&p.requests, 1);
        n.nonzero.add(&p.nonzero, 1);
        if p.has_affinity() {
            n.pods_with_affinity += 1;
            self.affinity_pods.insert(pid);
        }
        if !p.required_anti.is_empty() {
            n.pods_with_required_anti += 1;
        }
        if !self.counter_index.is_empty() {
            self.pod_event(pid, nid, 1);
        }
        self.sync_hot(nid);
    }

    fn unplace(&mut self, pid: PodId) {
        let nid = match self.pod(pid).node {
            Some(n) => n,
            None => return,
        };
        {
            let p = self.pods[pid].as_ref().unwrap();
            let n = &mut self.node_slab[nid];
            let last = *n.pods.last().unwrap();
            n.pods[p.idx] = last;
            let idx = p.idx;
            n.pods.pop();
            if last != pid {
                self.pods[last].as_mut().unwrap().idx = idx;
            }
        }
        let p = self.pods[pid].as_ref().unwrap();
        let n = &mut self.node_slab[nid];
        n.requested.add(&p.requests, -1);
        n.nonzero.add(&p.nonzero, -1);
        if p.has_affinity() {
            n.pods_with_affinity -= 1;
            self.affinity_pods.remove(&pid);
        }
        if !p.required_anti.is_empty() {
            n.pods_with_required_anti -= 1;
        }
        if !self.counter_index.is_empty() {
            self.pod_event(pid, nid, -1);
        }
        self.pods[pid].as_mut().unwrap().node = None;
        self.sync_hot(nid);
        let n = &self.node_slab[nid];
        if !n.exists && n.pods.is_empty() {
            let name = n.name.clone();
            self.by_name.remove(&name);
            self.bury_node(nid);
        }
    }

    // Apply one fed change of a Node or a Pod.
    pub fn apply(&mut self, typ: u64, kind: &[u8], object: &[u8]) -> Result<(), String> {
        if typ == crate::wire::SYNCED {
            self.synced = true;
            return Ok(());
        }
        match kind {
            b"Node" => {
                let n = decode_node(object).map_err(|e| format!("sdk: snapshot: node\n{}", e))?;
                if typ == crate::wire::DELETED {
                    self.remove_node(&n.name);
                } else {
                    self.set_node(n);
                }
            }
            b"Pod" => {
                let p = decode_pod(object).map_err(|e| format!("sdk: snapshot: pod\n{}", e))?;
                if typ == crate::wire::DELETED {
                    self.remove_pod(&p.key);
                } else {
                    let id = self.alloc_pod(p);
                    self.set_pod(id);
                }
            }
            _ => {}
        }
        Ok(())
    }

    // --- Counters ---

    // The counter of the pods of a namespace a selector selects (and, with deleting,
    // pods being deleted too), by its key (counter_key), as Snapshot.Counter finds
    // it: counter_get looks it up, counter_new builds it; the least recently used
    // of MAX_COUNTERS goes first. A slot stays valid until the next pod is placed.
    pub fn counter_get(&mut self, key: &str) -> Option<usize> {
        self.use_clock += 1;
        let slot = *self.counter_index.get(key)?;
        self.counters[slot].last_use = self.use_clock;
        Some(slot)
    }

    pub fn counter_new(&mut self, key: String, ns: String, sel: Option<LabelSelector>, deleting: bool) -> usize {
        if self.counter_index.len() >= MAX_COUNTERS {
            let mut oldest: Option<(&String, usize)> = None;
            let mut at = u64::MAX;
            for (key, &slot) in &self.counter_index {
                if self.counters[slot].last_use < at {
                    oldest = Some((key, slot));
                    at = self.counters[slot].last_use;
                }
            }
            if let Some((key, slot)) = oldest {
                let key = key.clone();
                self.counter_index.remove(&key);
                // Still read by the pod being placed, as the Go plugins keep a
                // pointer to it; reused from the next pod on.
                self.retired_counters.push(slot);
            }
        }
        let mut c = Counter {
            ns,
            sel,
            deleting,
            per_node: vec![0; self.node_slab.len()],
            domain_index: FxMap::default(),
            domains: Vec::new(),
            last_use: self.use_clock,
        };
        for &id in self.by_name.values() {
            let n = &self.node_slab[id];
            let mut cnt = 0;
            for &pid in &n.pods {
                if c.matches(self.pods[pid].as_ref().unwrap()) {
                    cnt += 1;
                }
            }
            c.per_node[id] = cnt;
        }
        let slot = match self.free_counters.pop() {
            Some(s) => {
                self.counters[s] = c;
                s
            }
            None => {
                self.counters.push(c);
                self.counters.len() - 1
            }
        };
        self.counter_index.insert(key, slot);
        slot
    }

    // Called before each pod is placed: counters evicted while placing the last
    // one are no longer read.
    pub fn release_retired(&mut self) {
        if self.retired_counters.is_empty() {
            return;
        }
        let r = std::mem::take(&mut self.retired_counters);
        for s in r {
            self.counters[s].per_node = Vec::new();
            self.counters[s].domains = Vec::new();
            self.counters[s].domain_index = FxMap::default();
            self.free_counters.push(s);
        }
    }

    // A counter's matching pods per value of a key over the known nodes that carry
    // it and every key of a list (each such domain present, with 0 when it holds
    // none), by its key (domain_key): domain_get finds it, brought up to date,
    // domain_new adds it.
    pub fn domain_get(&mut self, slot: usize, dk: &str) -> Option<usize> {
        let di = *self.counters[slot].domain_index.get(dk)?;
        self.refresh(slot, di);
        Some(di)
    }

    pub fn domain_new(&mut self, slot: usize, dk: String, key: String, require: Vec<String>) -> usize {
        let c = &mut self.counters[slot];
        c.domains.push(Domain { key, require, counts: FxMap::default(), total: 0, dirty: true });
        let di = c.domains.len() - 1;
        c.domain_index.insert(dk, di);
        self.refresh(slot, di);
        di
    }

    fn refresh(&mut self, slot: usize, di: usize) {
        let c = &mut self.counters[slot];
        let d = &mut c.domains[di];
        if !d.dirty {
            return;
        }
        d.counts.clear();
        d.total = 0;
        for &id in &self.nodes {
            let n = &self.node_slab[id];
            if let Some(v) = domain_value(&d.key, &d.require, n) {
                let k = c.per_node.get(id).copied().unwrap_or(0) as i64;
                match d.counts.get_mut(v) {
                    Some(x) => *x += k,
                    None => {
                        d.counts.insert(v.to_string(), k);
                    }
                }
                d.total += k;
            }
        }
        d.dirty = false;
    }

    fn pod_event(&mut self, pid: PodId, nid: NodeId, delta: i32) {
        let p = self.pods[pid].as_ref().unwrap();
        let n = &self.node_slab[nid];
        for &slot in self.counter_index.values() {
            let c = &mut self.counters[slot];
            if !c.matches(p) {
                continue;
            }
            if nid >= c.per_node.len() {
                c.per_node.resize(nid + 1, 0);
            }
            c.per_node[nid] += delta;
            if !n.exists {
                continue;
            }
            for d in c.domains.iter_mut() {
                if d.dirty {
                    continue;
                }
                if let Some(v) = domain_value(&d.key, &d.require, n) {
                    match d.counts.get_mut(v) {
                        Some(x) => *x += delta as i64,
                        None => {
                            d.counts.insert(v.to_string(), delta as i64);
                        }
                    }
                    d.total += delta as i64;
                }
            }
        }
    }

    fn nodes_changed(&mut self) {
        for &slot in self.counter_index.values() {
            for d in self.counters[slot].domains.iter_mut() {
                d.dirty = true;
            }
        }
    }
}

// Snapshot.Counter's key: the namespace, the selector as a query, and markers.
pub fn counter_key(ns: &str, sel: &Option<LabelSelector>, deleting: bool, k: &mut String) {
    k.clear();
    k.push_str(ns);
    k.push('\x00');
    match sel {
        Some(s) => s.render(k),
        None => k.push_str("\x00nil"),
    }
    if deleting {
        k.push_str("\x00deleting");
    }
}

pub fn domain_key(key: &str, require: &[String], dk: &mut String) {
    dk.clear();
    dk.push_str(key);
    dk.push('\x00');
    for (i, r) in require.iter().enumerate() {
        if i > 0 {
            dk.push('\x00');
        }
        dk.push_str(r);
    }
}
