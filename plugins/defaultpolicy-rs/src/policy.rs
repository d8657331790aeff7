// kube-scheduler's default profile as plugins/scheduling implements it (profile.go,
// filters.go, batch.go, affinity.go, spread.go) run by sdk.Policy's loop
// (sdk/scheduler.go): the same filters, scores, weights, normalisations, rotation
// over the nodes and tie-breaking, so that it places every pod where the Go policy
// places it and words every refusal as it does.

use crate::json::{labels_get, selector_matches, LabelSelector};
use crate::quantity::{go_log, go_round};
use crate::snapshot::*;
use crate::wire::Decision;

pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const REASON_NODE_NAME: &str = "node(s) didn't match the requested node name";
pub const REASON_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
pub const REASON_TOO_MANY_PODS: &str = "Too many pods";
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
pub const REASON_SPREAD: &str = "node(s) didn't match pod topology spread constraints";
pub const REASON_SPREAD_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
pub const ERR_NO_NODES: &str = "no nodes available to schedule pods";

const MAX_NODE_SCORE: i64 = 100;

const W_TAINT: i64 = 3;
const W_NODE_AFFINITY: i64 = 2;
const W_FIT: i64 = 1;
const W_SPREAD: i64 = 2;
const W_INTER_POD: i64 = 2;
const W_BALANCED: i64 = 1;
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

fn unschedulable_taint() -> Taint {
    Taint { key: TAINT_UNSCHEDULABLE.to_string(), value: String::new(), effect: "NoSchedule".to_string() }
}

// The taint the node lifecycle controller would put on an unready node, unless
// the node carries it already.
fn readiness_taint(n: &Node) -> Option<Taint> {
    if n.ready {
        return None;
    }
    let key = if n.ready_status == "Unknown" { TAINT_UNREACHABLE } else { TAINT_NOT_READY };
    if n.taints.iter().any(|t| t.key == key) {
        return None;
    }
    Some(Taint { key: key.to_string(), value: String::new(), effect: "NoSchedule".to_string() })
}

fn untolerated_reason(t: &Taint) -> String {
    format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value)
}

fn taint_filter(p: &Pod, n: &Node) -> Result<(), String> {
    for t in &n.taints {
        if t.effect != "NoSchedule" && t.effect != "NoExecute" {
            continue;
        }
        if !tolerated(&p.tolerations, t) {
            return Err(untolerated_reason(t));
        }
    }
    if let Some(t) = readiness_taint(n) {
        if !tolerated(&p.tolerations, &t) {
            return Err(untolerated_reason(&t));
        }
    }
    Ok(())
}

fn taint_score(p: &Pod, n: &Node) -> i64 {
    let mut c = 0;
    for t in &n.taints {
        if t.effect != "PreferNoSchedule" {
            continue;
        }
        let ok = p
            .tolerations
            .iter()
            .any(|tl| (tl.effect.is_empty() || tl.effect == "PreferNoSchedule") && tl.tolerates(t));
        if !ok {
            c += 1;
        }
    }
    c
}

fn node_affinity_score(p: &Pod, n: &Node) -> i64 {
    let mut s: i64 = 0;
    for t in &p.preferred_node_affinity {
        if t.weight != 0 && t.preference.matches(n) {
            s = s.wrapping_add(t.weight);
        }
    }
    s
}

fn default_normalize(scores: &mut [i64], reverse: bool) {
    let mut max_count = 0;
    for &s in scores.iter() {
        max_count = max_count.max(s);
    }
    if max_count == 0 {
        if reverse {
            for s in scores.iter_mut() {
                *s = MAX_NODE_SCORE;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = MAX_NODE_SCORE.wrapping_mul(*s) / max_count;
        if reverse {
            v = MAX_NODE_SCORE - v;
        }
        *s = v;
    }
}

#[inline]
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested).wrapping_mul(MAX_NODE_SCORE) / capacity
}

// NodeResourcesFit's filter with every reason it gives, in its order.
fn fit_reasons(p: &Pod, n: &Node, out: &mut Vec<String>) {
    if n.pods.len() as i64 + 1 > n.allowed_pods {
        out.push(REASON_TOO_MANY_PODS.to_string());
    }
    let (req, alloc, used) = (&p.requests, &n.alloc, &n.requested);
    if req.cpu > 0 && req.cpu > alloc.cpu.wrapping_sub(used.cpu) {
        out.push("Insufficient cpu".to_string());
    }
    if req.mem > 0 && req.mem > alloc.mem.wrapping_sub(used.mem) {
        out.push("Insufficient memory".to_string());
    }
    if req.eph > 0 && req.eph > alloc.eph.wrapping_sub(used.eph) {
        out.push("Insufficient ephemeral-storage".to_string());
    }
    // scalar is sorted by name, as the Go filter sorts the names it reports.
    for (k, v) in &req.scalar {
        if *v > 0 && *v > alloc.scalar(k).wrapping_sub(used.scalar(k)) {
            out.push(format!("Insufficient {}", k));
        }
    }
}

// NodeResourcesFit's filter for a pod without extended resources, when it passes.
#[inline]
fn fits(cpu: i64, mem: i64, eph: i64, h: &Hot) -> bool {
    h.npods < h.allowed_pods
        && (cpu <= 0 || cpu <= h.alloc_cpu.wrapping_sub(h.req_cpu))
        && (mem <= 0 || mem <= h.alloc_mem.wrapping_sub(h.req_mem))
        && (eph <= 0 || eph <= h.alloc_eph.wrapping_sub(h.req_eph))
}

fn has_all_keys(n: &Node, keys: &[String]) -> bool {
    keys.iter().all(|k| n.label(k).is_some())
}

// NodeResourcesFit's LeastAllocated score, with scoring's non-zero requests.
#[inline]
fn fit_score(cpu: i64, mem: i64, h: &Hot) -> i64 {
    let mut score = 0;
    let mut weights = 0;
    if h.alloc_cpu != 0 {
        score += least_requested(h.nz_cpu.wrapping_add(cpu), h.alloc_cpu);
        weights += 1;
    }
    if h.alloc_mem != 0 {
        score += least_requested(h.nz_mem.wrapping_add(mem), h.alloc_mem);
        weights += 1;
    }
    if weights == 2 {
        score /= 2;
    }
    score
}

// NodeResourcesBalancedAllocation: (1 − std of the CPU and memory fractions) × 100.
#[inline]
fn balanced_score(cpu: i64, mem: i64, h: &Hot) -> i64 {
    let (ac, am) = (h.alloc_cpu, h.alloc_mem);
    let mut std = 0.0;
    if ac != 0 && am != 0 {
        let mut fc = h.req_cpu.wrapping_add(cpu) as f64 / ac as f64;
        if fc > 1.0 {
            fc = 1.0;
        }
        let mut fm = h.req_mem.wrapping_add(mem) as f64 / am as f64;
        if fm > 1.0 {
            fm = 1.0;
        }
        std = ((fc - fm) / 2.0).abs();
    }
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

fn eligible(p: &Pod, c: &Tsc, n: &Node) -> bool {
    if c.node_affinity_policy != "Ignore" && !p.matches_node_selector(n) {
        return false;
    }
    if c.node_taints_policy == "Honor" && taint_filter(p, n).is_err() {
        return false;
    }
    true
}

fn all_eligible(p: &Pod, c: &Tsc) -> bool {
    if c.node_taints_policy == "Honor" {
        return false;
    }
    c.node_affinity_policy == "Ignore" || (p.node_selector.is_empty() && !p.has_required_affinity)
}

fn matches_all_terms(terms: &[PodAffinityTerm], p: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(p))
}

// FNV-1a.
fn string_hash(s: &str) -> u64 {
    let mut h: u64 = 14695981039346656037;
    for &c in s.as_bytes() {
        h ^= c as u64;
        h = h.wrapping_mul(1099511628211);
    }
    h
}

#[inline]
fn tie_mix(pod: u64, h: u64) -> u64 {
    let mut z = pod ^ h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    (z ^ (z >> 31)) | 1
}

pub fn node_name_hash(name: &str) -> u64 {
    string_hash(name) | 1
}

// Counts per (topology key, value); the number of pairs is what the Go plugin's
// map length is.
#[derive(Default)]
struct TopoMap {
    m: FxMap<String, FxMap<String, i64>>,
    pairs: usize,
}

impl TopoMap {
    fn clear(&mut self) {
        if self.pairs > 0 || !self.m.is_empty() {
            self.m.clear();
        }
        self.pairs = 0;
    }

    fn add(&mut self, key: &str, value: &str, d: i64) {
        let inner = match self.m.get_mut(key) {
            Some(i) => i,
            None => self.m.entry(key.to_string()).or_default(),
        };
        match inner.get_mut(value) {
            Some(v) => *v += d,
            None => {
                inner.insert(value.to_string(), d);
                self.pairs += 1;
            }
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        match self.m.get(key) {
            Some(inner) => inner.get(value).copied().unwrap_or(0),
            None => 0,
        }
    }
}

// Where a constraint's counts per domain live: a counter's domain in the
// snapshot, or a map of the plugin's own.
#[derive(Clone, Copy)]
enum Counts {
    Domain(usize, usize),
    Own(usize),
}

fn counts_get(s: &Snapshot, own: &[FxMap<String, i64>], c: Counts, v: &str) -> i64 {
    match c {
        Counts::Domain(slot, di) => s.counters[slot].domains[di].counts.get(v).copied().unwrap_or(0),
        Counts::Own(i) => own[i].get(v).copied().unwrap_or(0),
    }
}

// Which selector a counter is for: the snapshot owns the pod's terms, so they are
// named rather than borrowed across the calls that may build a counter.
#[derive(Clone, Copy)]
enum SelOf {
    Spread(usize),
    Default(usize),
    Anti(usize),
    Affinity,
}

fn sel_of<'a>(s: &'a Snapshot, defaults: &'a [Tsc], pid: PodId, w: SelOf) -> (&'a str, &'a Option<LabelSelector>, &'a str) {
    let p = s.pod(pid);
    match w {
        SelOf::Spread(i) => (&p.namespace, &p.spread[i].selector, &p.spread[i].topology_key),
        SelOf::Default(i) => (&p.namespace, &defaults[i].selector, &defaults[i].topology_key),
        SelOf::Anti(i) => {
            let t = &p.required_anti[i];
            (&t.namespaces[0], &t.selector, &t.topology_key)
        }
        SelOf::Affinity => {
            let t = &p.required_affinity[0];
            (&t.namespaces[0], &t.selector, &t.topology_key)
        }
    }
}

// Snapshot.Counter (CounterWithDeleting with deleting).
fn counter_for(s: &mut Snapshot, kbuf: &mut String, defaults: &[Tsc], pid: PodId, w: SelOf, deleting: bool) -> usize {
    {
        let (ns, sel, _) = sel_of(s, defaults, pid, w);
        counter_key(ns, sel, deleting, kbuf);
    }
    if let Some(slot) = s.counter_get(kbuf) {
        return slot;
    }
    let (ns, sel, _) = sel_of(s, defaults, pid, w);
    let (ns, sel) = (ns.to_string(), sel.clone());
    s.counter_new(kbuf.clone(), ns, sel, deleting)
}

// PodCounter.Domains over the term's topology key.
fn domain_for(s: &mut Snapshot, kbuf: &mut String, defaults: &[Tsc], pid: PodId, w: SelOf, slot: usize, require: &[String]) -> usize {
    {
        let (_, _, key) = sel_of(s, defaults, pid, w);
        domain_key(key, require, kbuf);
    }
    if let Some(di) = s.domain_get(slot, kbuf) {
        return di;
    }
    let key = sel_of(s, defaults, pid, w).2.to_string();
    s.domain_new(slot, kbuf.clone(), key, require.to_vec())
}

// Sets keys to the strings of it, reusing what keys holds.
fn set_strings<'a>(keys: &mut Vec<String>, it: impl Iterator<Item = &'a str>) {
    let mut n = 0;
    for k in it {
        if n < keys.len() {
            keys[n].clear();
            keys[n].push_str(k);
        } else {
            keys.push(k.to_string());
        }
        n += 1;
    }
    keys.truncate(n);
}

#[derive(Clone, Copy, PartialEq)]
enum SoftKind {
    Label,
    Hostname,
    ZoneId,
}

// PodTopologySpread. Constraints are indices into the pod's, or the system
// defaults (hostname maxSkew 3, zone maxSkew 5, selecting the pod's labels) for a
// pod with a controller and none of its own.
#[derive(Default)]
struct Spread {
    kbuf: String,
    keys: Vec<String>,
    defaults: Vec<Tsc>,

    hard: Vec<usize>,
    counts: Vec<Counts>,
    own: Vec<FxMap<String, i64>>,
    minimum: Vec<i64>,
    self_match: Vec<i64>,

    soft: Vec<usize>,
    defaulted: bool,
    soft_counts: Vec<FxMap<String, i64>>,
    counters: Vec<usize>,
    weights: Vec<f64>,
    ignored: Vec<bool>, // by position among the feasible nodes
    n_ignored: usize,
    sizes: Vec<i64>,
    kinds: Vec<SoftKind>,
    skews: Vec<f64>,
    zone_counts: Vec<Vec<i64>>,
}

fn soft_con<'a>(defaulted: bool, soft: &[usize], defaults: &'a [Tsc], p: &'a Pod, i: usize) -> &'a Tsc {
    if defaulted {
        &defaults[i]
    } else {
        &p.spread[soft[i]]
    }
}

impl Spread {
    fn soft_con<'a>(&'a self, p: &'a Pod, i: usize) -> &'a Tsc {
        soft_con(self.defaulted, &self.soft, &self.defaults, p, i)
    }

    fn soft_sel(&self, i: usize) -> SelOf {
        if self.defaulted {
            SelOf::Default(i)
        } else {
            SelOf::Spread(self.soft[i])
        }
    }

    fn pre_filter(&mut self, s: &mut Snapshot, pid: PodId) {
        self.hard.clear();
        {
            let p = s.pod(pid);
            for (i, c) in p.spread.iter().enumerate() {
                if c.when == "DoNotSchedule" || c.when.is_empty() {
                    self.hard.push(i);
                }
            }
            if self.hard.is_empty() {
                return;
            }
            set_strings(&mut self.keys, self.hard.iter().map(|&i| p.spread[i].topology_key.as_str()));
        }
        self.counts.clear();
        self.minimum.clear();
        self.self_match.clear();
        let mut own_used = 0;
        for h in 0..self.hard.len() {
            let ci = self.hard[h];
            {
                let p = s.pod(pid);
                self.self_match.push(if selector_matches(&p.spread[ci].selector, &p.labels) { 1 } else { 0 });
            }
            let slot = counter_for(s, &mut self.kbuf, &self.defaults, pid, SelOf::Spread(ci), false);
            let counts = if all_eligible(s.pod(pid), &s.pod(pid).spread[ci]) {
                let di = domain_for(s, &mut self.kbuf, &self.defaults, pid, SelOf::Spread(ci), slot, &self.keys);
                Counts::Domain(slot, di)
            } else {
                if self.own.len() <= own_used {
                    self.own.push(FxMap::default());
                }
                let m = &mut self.own[own_used];
                m.clear();
                let p = s.pod(pid);
                let c = &p.spread[ci];
                for &id in &s.nodes {
                    let n = s.node(id);
                    if !has_all_keys(n, &self.keys) || !eligible(p, c, n) {
                        continue;
                    }
                    let v = n.label(&c.topology_key).unwrap_or("");
                    let k = s.counters[slot].on_node(id);
                    match m.get_mut(v) {
                        Some(x) => *x += k,
                        None => {
                            m.insert(v.to_string(), k);
                        }
                    }
                }
                own_used += 1;
                Counts::Own(own_used - 1)
            };
            self.counts.push(counts);
            let (mut m, len) = match counts {
                Counts::Domain(slot, di) => {
                    let d = &s.counters[slot].domains[di].counts;
                    (d.values().copied().min(), d.len())
                }
                Counts::Own(i) => (self.own[i].values().copied().min(), self.own[i].len()),
            };
            if (len as i64) < s.pod(pid).spread[ci].min_domains {
                m = None;
            }
            self.minimum.push(m.unwrap_or(0));
        }
    }

    fn filter(&self, s: &Snapshot, p: &Pod, n: &Node) -> Result<(), &'static str> {
        for (h, &ci) in self.hard.iter().enumerate() {
            let c = &p.spread[ci];
            let v = match n.label(&c.topology_key) {
                Some(v) => v,
                None => return Err(REASON_SPREAD_MISSING_LABEL),
            };
            let skew = counts_get(s, &self.own, self.counts[h], v) + self.self_match[h] - self.minimum[h];
            if skew > c.max_skew {
                return Err(REASON_SPREAD);
            }
        }
        Ok(())
    }

    // The ScheduleAnyway constraints and their counts per domain, over the domains
    // of the feasible nodes. Reports whether there are any.
    fn pre_score(&mut self, s: &mut Snapshot, pid: PodId, feasible: &[u32]) -> bool {
        self.soft.clear();
        {
            let p = s.pod(pid);
            self.defaulted = false;
            if p.spread.is_empty() {
                if !p.controlled || p.labels.is_empty() {
                    return false;
                }
                self.defaulted = true;
                if self.defaults.is_empty() {
                    for (skew, key) in [(3, LABEL_HOSTNAME), (5, LABEL_ZONE)] {
                        self.defaults.push(Tsc {
                            max_skew: skew,
                            topology_key: key.to_string(),
                            when: "ScheduleAnyway".to_string(),
                            selector: Some(LabelSelector::default()),
                            ..Default::default()
                        });
                    }
                }
                for d in self.defaults.iter_mut() {
                    let sel = d.selector.as_mut().unwrap();
                    if sel.match_labels != p.labels {
                        sel.match_labels = p.labels.clone();
                    }
                }
                self.soft.extend([0, 1]);
            } else {
                for (i, c) in p.spread.iter().enumerate() {
                    if c.when == "ScheduleAnyway" {
                        self.soft.push(i);
                    }
                }
                if self.soft.is_empty() {
                    return false;
                }
            }
        }
        let ns = self.soft.len();
        while self.soft_counts.len() < ns {
            self.soft_counts.push(FxMap::default());
            self.zone_counts.push(Vec::new());
        }
        self.counters.clear();
        for i in 0..ns {
            let w = self.soft_sel(i);
            let slot = counter_for(s, &mut self.kbuf, &self.defaults, pid, w, false);
            self.counters.push(slot);
        }
        self.ignored.clear();
        self.ignored.resize(feasible.len(), false);
        self.n_ignored = 0;
        self.weights.clear();
        self.sizes.clear();
        self.kinds.clear();
        self.skews.clear();
        let nz = s.zone_names.len();
        let require_all = !self.defaulted;
        {
            let p = s.pod(pid);
            for i in 0..ns {
                let c = soft_con(self.defaulted, &self.soft, &self.defaults, p, i);
                let kind = if c.topology_key == LABEL_HOSTNAME {
                    SoftKind::Hostname
                } else if c.topology_key == LABEL_ZONE {
                    SoftKind::ZoneId
                } else {
                    SoftKind::Label
                };
                self.kinds.push(kind);
                self.skews.push((c.max_skew - 1) as f64);
                self.sizes.push(0);
                self.soft_counts[i].clear();
                self.zone_counts[i].clear();
                if kind == SoftKind::ZoneId {
                    self.zone_counts[i].resize(nz, -1);
                }
            }
            let mut keys = std::mem::take(&mut self.keys);
            if require_all {
                set_strings(&mut keys, (0..ns).map(|i| self.soft_con(p, i).topology_key.as_str()));
            } else {
                keys.clear();
            }
            self.keys = keys;
            let need_node = require_all || self.kinds.iter().any(|&k| k == SoftKind::Label);
            for (j, &pos) in feasible.iter().enumerate() {
                let h = &s.hot[pos as usize];
                let n = if need_node { Some(s.node(h.id as usize)) } else { None };
                if require_all && !has_all_keys(n.unwrap(), &self.keys) {
                    self.ignored[j] = true;
                    self.n_ignored += 1;
                    continue;
                }
                for i in 0..ns {
                    match self.kinds[i] {
                        SoftKind::Hostname => {}
                        SoftKind::ZoneId => {
                            // Every node of the snapshot has a zone ID below its count.
                            if h.zone < 0 {
                                continue;
                            }
                            let zc = &mut self.zone_counts[i][h.zone as usize];
                            if *zc < 0 {
                                *zc = 0;
                                self.sizes[i] += 1;
                            }
                        }
                        SoftKind::Label => {
                            let v = match n.unwrap().label(&self.soft_con(p, i).topology_key) {
                                Some(v) => v,
                                None => continue,
                            };
                            if !self.soft_counts[i].contains_key(v) {
                                self.soft_counts[i].insert(v.to_string(), 0);
                                self.sizes[i] += 1;
                            }
                        }
                    }
                }
            }
        }
        for i in 0..ns {
            let mut sz = self.sizes[i];
            if self.kinds[i] == SoftKind::Hostname {
                sz = (feasible.len() - self.n_ignored) as i64;
            }
            self.weights.push(go_log((sz + 2) as f64));
        }
        for i in 0..ns {
            if self.kinds[i] == SoftKind::Hostname || self.sizes[i] == 0 {
                continue;
            }
            let by_zone = self.kinds[i] == SoftKind::ZoneId;
            let slot = self.counters[i];
            if all_eligible(s.pod(pid), self.soft_con(s.pod(pid), i)) {
                let w = self.soft_sel(i);
                let di = domain_for(s, &mut self.kbuf, &self.defaults, pid, w, slot, &self.keys);
                let all = &s.counters[slot].domains[di].counts;
                if by_zone {
                    let zc = &mut self.zone_counts[i];
                    for z in 0..zc.len() {
                        if zc[z] >= 0 {
                            zc[z] = all.get(s.zone_names[z].as_str()).copied().unwrap_or(0);
                        }
                    }
                    continue;
                }
                for (v, cnt) in self.soft_counts[i].iter_mut() {
                    *cnt = all.get(v.as_str()).copied().unwrap_or(0);
                }
                continue;
            }
            let p = s.pod(pid);
            let c = soft_con(self.defaulted, &self.soft, &self.defaults, p, i);
            for &id in &s.nodes {
                let n = s.node(id);
                if (require_all && !has_all_keys(n, &self.keys)) || !eligible(p, c, n) {
                    continue;
                }
                if by_zone {
                    let z = n.zone_id();
                    let zc = &mut self.zone_counts[i];
                    if z >= 0 && (z as usize) < zc.len() && zc[z as usize] >= 0 {
                        zc[z as usize] += s.counters[slot].on_node(id);
                    }
                    continue;
                }
                let v = match n.label(&c.topology_key) {
                    Some(v) => v,
                    None => continue,
                };
                if let Some(cur) = self.soft_counts[i].get_mut(v) {
                    *cur += s.counters[slot].on_node(id);
                }
            }
        }
        true
    }

    // The raw scores: a node's sum is added up constraint by constraint, in the Go
    // plugin's order, so that the floats round as its do. Returns the bounds of the
    // scores of the nodes not ignored.
    fn score_nodes(&self, s: &Snapshot, pid: PodId, feasible: &[u32], scores: &mut [i64]) -> (i64, i64) {
        let p = s.pod(pid);
        let ns = self.kinds.len();
        let two_defaults = ns == 2 && self.kinds[0] == SoftKind::Hostname && self.kinds[1] == SoftKind::ZoneId;
        let (mut lo, mut hi) = (i64::MAX, 0i64);
        if two_defaults && self.n_ignored == 0 {
            // The system defaults, written out: most pods have them.
            let c = &s.counters[self.counters[0]];
            let (w0, k0, w1, k1) = (self.weights[0], self.skews[0], self.weights[1], self.skews[1]);
            let zc = &self.zone_counts[1];
            for (j, &pos) in feasible.iter().enumerate() {
                let h = &s.hot[pos as usize];
                let mut acc = 0.0;
                acc += c.on_node(h.id as usize) as f64 * w0 + k0;
                if h.zone >= 0 {
                    let z = zc[h.zone as usize];
                    acc += (if z > 0 { z } else { 0 }) as f64 * w1 + k1;
                }
                let sc = go_round(acc) as i64;
                scores[j] = sc;
                lo = lo.min(sc);
                hi = hi.max(sc);
            }
            return (lo, hi);
        }
        for (j, &pos) in feasible.iter().enumerate() {
            if self.n_ignored > 0 && self.ignored[j] {
                scores[j] = 0;
                continue;
            }
            let h = &s.hot[pos as usize];
            let mut acc = 0.0;
            for i in 0..ns {
                let (w, skew) = (self.weights[i], self.skews[i]);
                match self.kinds[i] {
                    SoftKind::Hostname => {
                        acc += s.counters[self.counters[i]].on_node(h.id as usize) as f64 * w + skew;
                    }
                    SoftKind::ZoneId => {
                        if h.zone < 0 {
                            continue;
                        }
                        let zc = &self.zone_counts[i];
                        let z = if (h.zone as usize) < zc.len() { zc[h.zone as usize] } else { 0 };
                        acc += (if z > 0 { z } else { 0 }) as f64 * w + skew;
                    }
                    SoftKind::Label => {
                        let n = s.node(h.id as usize);
                        if let Some(v) = n.label(&self.soft_con(p, i).topology_key) {
                            acc += self.soft_counts[i].get(v).copied().unwrap_or(0) as f64 * w + skew;
                        }
                    }
                }
            }
            let sc = go_round(acc) as i64;
            scores[j] = sc;
            lo = lo.min(sc);
            hi = hi.max(sc);
        }
        (lo, hi)
    }

    // Fewer matching pods score higher: 100 × (max + min − s) / max; ignored nodes
    // score 0. Added, weighted, to total.
    fn normalize_add(&self, scores: &[i64], lo: i64, hi: i64, total: &mut [i64]) {
        if hi == 0 {
            for (j, t) in total.iter_mut().enumerate() {
                let sc = if self.n_ignored > 0 && self.ignored[j] { 0 } else { MAX_NODE_SCORE };
                *t = t.wrapping_add(sc * W_SPREAD);
            }
            return;
        }
        for (j, t) in total.iter_mut().enumerate() {
            let mut sc = MAX_NODE_SCORE.wrapping_mul(hi.wrapping_add(lo).wrapping_sub(scores[j])) / hi;
            if self.n_ignored > 0 && self.ignored[j] {
                sc = 0;
            }
            *t = t.wrapping_add(sc.wrapping_mul(W_SPREAD));
        }
    }
}

// InterPodAffinity.
#[derive(Default)]
struct InterPod {
    kbuf: String,
    affinity: TopoMap,
    anti: TopoMap,
    existing_anti: TopoMap,
    none_match: bool,
    fast: bool,
    anti_dom: Vec<(usize, usize)>,
    aff_dom: Option<(usize, usize)>,
    score: TopoMap,
}

impl InterPod {
    fn pre_filter(&mut self, s: &mut Snapshot, pid: PodId) {
        self.affinity.clear();
        self.anti.clear();
        self.existing_anti.clear();
        if !s.affinity_pods.is_empty() {
            let p = s.pod(pid);
            for &eid in &s.affinity_pods {
                let e = s.pod(eid);
                let n = match e.node {
                    Some(n) => s.node(n),
                    None => continue,
                };
                for t in &e.required_anti {
                    if t.matches(p) {
                        if let Some(v) = n.label(&t.topology_key) {
                            self.existing_anti.add(&t.topology_key, v, 1);
                        }
                    }
                }
            }
        }
        self.fast = false;
        let p = s.pod(pid);
        if p.required_affinity.is_empty() && p.required_anti.is_empty() {
            return;
        }
        if self.pre_filter_indexed(s, pid) {
            return;
        }
        let p = s.pod(pid);
        for &id in &s.nodes {
            let n = s.node(id);
            for &eid in &n.pods {
                let e = s.pod(eid);
                if matches_all_terms(&p.required_affinity, e) {
                    for t in &p.required_affinity {
                        if let Some(v) = n.label(&t.topology_key) {
                            self.affinity.add(&t.topology_key, v, 1);
                        }
                    }
                }
                for t in &p.required_anti {
                    if t.matches(e) {
                        if let Some(v) = n.label(&t.topology_key) {
                            self.anti.add(&t.topology_key, v, 1);
                        }
                    }
                }
            }
        }
        self.none_match = self.affinity.pairs == 0 && matches_all_terms(&p.required_affinity, p);
    }

    // The counts from the snapshot's counters, when every term selects in one
    // namespace and there is at most one affinity term.
    fn pre_filter_indexed(&mut self, s: &mut Snapshot, pid: PodId) -> bool {
        let single = |t: &PodAffinityTerm| !t.all_namespaces && t.namespaces.len() == 1;
        let n_anti = {
            let p = s.pod(pid);
            if p.required_affinity.len() > 1 || (p.required_affinity.len() == 1 && !single(&p.required_affinity[0])) {
                return false;
            }
            if !p.required_anti.iter().all(single) {
                return false;
            }
            p.required_anti.len()
        };
        self.fast = true;
        self.anti_dom.clear();
        for i in 0..n_anti {
            let slot = counter_for(s, &mut self.kbuf, &[], pid, SelOf::Anti(i), true);
            let di = domain_for(s, &mut self.kbuf, &[], pid, SelOf::Anti(i), slot, &[]);
            self.anti_dom.push((slot, di));
        }
        self.aff_dom = None;
        if s.pod(pid).required_affinity.len() == 1 {
            let slot = counter_for(s, &mut self.kbuf, &[], pid, SelOf::Affinity, true);
            let di = domain_for(s, &mut self.kbuf, &[], pid, SelOf::Affinity, slot, &[]);
            self.aff_dom = Some((slot, di));
            let p = s.pod(pid);
            self.none_match = s.counters[slot].domains[di].total == 0 && p.required_affinity[0].matches(p);
        }
        true
    }

    fn skip_filter(&self, p: &Pod) -> bool {
        self.existing_anti.pairs == 0 && p.required_affinity.is_empty() && p.required_anti.is_empty()
    }

    fn filter(&self, s: &Snapshot, p: &Pod, n: &Node) -> Result<(), &'static str> {
        if self.existing_anti.pairs > 0 {
            for (key, vals) in &self.existing_anti.m {
                if let Some(v) = n.label(key) {
                    if vals.contains_key(v) {
                        return Err(REASON_EXISTING_ANTI_AFFINITY);
                    }
                }
            }
        }
        if self.fast {
            for (i, t) in p.required_anti.iter().enumerate() {
                if let Some(v) = n.label(&t.topology_key) {
                    let (slot, di) = self.anti_dom[i];
                    if s.counters[slot].domains[di].counts.get(v).copied().unwrap_or(0) > 0 {
                        return Err(REASON_ANTI_AFFINITY);
                    }
                }
            }
            if let Some((slot, di)) = self.aff_dom {
                match n.label(&p.required_affinity[0].topology_key) {
                    None => return Err(REASON_AFFINITY),
                    Some(v) => {
                        if s.counters[slot].domains[di].counts.get(v).copied().unwrap_or(0) <= 0 && !self.none_match {
                            return Err(REASON_AFFINITY);
                        }
                    }
                }
            }
            return Ok(());
        }
        if self.anti.pairs > 0 {
            for t in &p.required_anti {
                if let Some(v) = n.label(&t.topology_key) {
                    if self.anti.get(&t.topology_key, v) > 0 {
                        return Err(REASON_ANTI_AFFINITY);
                    }
                }
            }
        }
        if !p.required_affinity.is_empty() {
            let mut exist = true;
            for t in &p.required_affinity {
                let v = match n.label(&t.topology_key) {
                    Some(v) => v,
                    None => return Err(REASON_AFFINITY),
                };
                if self.affinity.get(&t.topology_key, v) <= 0 {
                    exist = false;
                }
            }
            if !exist && !self.none_match {
                return Err(REASON_AFFINITY);
            }
        }
        Ok(())
    }

    // Sums, per topology domain, the weights of the preferred terms between the
    // pod and the pods placed (and existing pods' required affinity toward it).
    fn pre_score(&mut self, s: &Snapshot, pid: PodId) {
        self.score.clear();
        let p = s.pod(pid);
        let score = &mut self.score;
        let mut process = |n: &Node, e: &Pod| {
            let mut add = |t: &PodAffinityTerm, w: i64| {
                if let Some(v) = n.label(&t.topology_key) {
                    score.add(&t.topology_key, v, w);
                }
            };
            for w in &p.preferred_affinity {
                if w.term.matches(e) {
                    add(&w.term, w.weight);
                }
            }
            for w in &p.preferred_anti {
                if w.term.matches(e) {
                    add(&w.term, w.weight.wrapping_neg());
                }
            }
            if !e.has_affinity() {
                return;
            }
            for t in &e.required_affinity {
                if t.matches(p) {
                    add(t, HARD_POD_AFFINITY_WEIGHT);
                }
            }
            for w in &e.preferred_affinity {
                if w.term.matches(p) {
                    add(&w.term, w.weight);
                }
            }
            for w in &e.preferred_anti {
                if w.term.matches(p) {
                    add(&w.term, w.weight.wrapping_neg());
                }
            }
        };
        if !p.preferred_affinity.is_empty() || !p.preferred_anti.is_empty() {
            for &id in &s.nodes {
                let n = s.node(id);
                for &eid in &n.pods {
                    process(n, s.pod(eid));
                }
            }
            return;
        }
        for &eid in &s.affinity_pods {
            let e = s.pod(eid);
            if let Some(nid) = e.node {
                process(s.node(nid), e);
            }
        }
    }

    // A node's score: its label for a key read as the Go plugin reads it (the raw
    // label first, the decoded hostname and zone only when it has none).
    fn score(&self, n: &Node) -> i64 {
        let mut sc: i64 = 0;
        for (key, vals) in &self.score.m {
            match labels_get(&n.labels, key) {
                Some(v) => sc = sc.wrapping_add(vals.get(v).copied().unwrap_or(0)),
                None => {
                    if let Some(v) = n.label(key) {
                        sc = sc.wrapping_add(vals.get(v).copied().unwrap_or(0));
                    }
                }
            }
        }
        sc
    }
}

// Which filters a pod needs, in the profile's order (the rest pass every node).
#[derive(Clone, Copy, Default)]
struct Active {
    unschedulable: bool,
    node_name: bool,
    taints: bool,
    node_affinity: bool,
    fit_fast: bool,
    spread: bool,
    inter_pod: bool,
}

enum Reject {
    Static(&'static str),
    Owned(String),
    Tallied,
}

#[derive(Default)]
pub struct Policy {
    // Where the next pod's search starts, as kube-scheduler rotates it.
    next: usize,
    feasible: Vec<u32>, // positions in Snapshot.nodes
    total: Vec<i64>,
    scores: Vec<i64>,
    reasons: Vec<(String, usize)>,
    why: Vec<String>,
    spread: Spread,
    inter_pod: InterPod,
}

// kube-scheduler's adaptive percentageOfNodesToScore.
fn num_feasible_nodes_to_find(n: usize) -> usize {
    if n < 100 {
        return n;
    }
    let pct = (50 - (n as i64) / 125).max(5) as usize;
    (n * pct / 100).max(100)
}

// kube-scheduler's FitError message: "<count> <reason>" entries sorted as strings.
pub fn unschedulable_message(num_nodes: usize, reasons: &[(String, usize)]) -> (String, Vec<(String, usize)>) {
    let mut es: Vec<(String, &String, usize)> = reasons.iter().map(|(r, n)| (format!("{} {}", n, r), r, *n)).collect();
    es.sort_by(|a, b| a.0.cmp(&b.0));
    let mut b = format!("0/{} nodes are available:", num_nodes);
    let mut rc = Vec::with_capacity(es.len());
    for (i, e) in es.iter().enumerate() {
        b.push_str(if i == 0 { " " } else { ", " });
        b.push_str(&e.0);
        rc.push((e.1.clone(), e.2));
    }
    if !es.is_empty() {
        b.push('.');
    }
    (b, rc)
}

impl Policy {
    fn tally(&mut self, r: &str) {
        for (k, n) in self.reasons.iter_mut() {
            if k == r {
                *n += 1;
                return;
            }
        }
        self.reasons.push((r.to_string(), 1));
    }

    // Places pods in order, assuming each onto its node.
    pub fn schedule(&mut self, s: &mut Snapshot, pods: &[PodId]) -> Vec<Decision> {
        let mut out = Vec::with_capacity(pods.len());
        for &pid in pods {
            let mut d = self.schedule_one(s, pid);
            if !d.node.is_empty() {
                if let Err(e) = s.assume(pid, &d.node) {
                    d = Decision { pod: s.pod(pid).key.as_bytes().to_vec(), error: e.to_string(), ..Default::default() };
                }
            }
            out.push(d);
        }
        out
    }

    fn filter_one(&mut self, s: &Snapshot, p: &Pod, pos: usize, a: Active) -> Option<Reject> {
        let n = s.node(s.nodes[pos]);
        if a.unschedulable && n.unschedulable {
            return Some(Reject::Static(REASON_UNSCHEDULABLE));
        }
        if a.node_name && p.node_name != n.name {
            return Some(Reject::Static(REASON_NODE_NAME));
        }
        if a.taints {
            if let Err(r) = taint_filter(p, n) {
                return Some(Reject::Owned(r));
            }
        }
        if a.node_affinity && !p.matches_node_selector(n) {
            return Some(Reject::Static(REASON_NODE_AFFINITY));
        }
        if !(a.fit_fast && fits(p.requests.cpu, p.requests.mem, p.requests.eph, &s.hot[pos])) {
            let mut why = std::mem::take(&mut self.why);
            why.clear();
            fit_reasons(p, n, &mut why);
            let rejected = !why.is_empty();
            for r in &why {
                self.tally(r);
            }
            self.why = why;
            if rejected {
                return Some(Reject::Tallied);
            }
        }
        if a.spread {
            if let Err(r) = self.spread.filter(s, p, n) {
                return Some(Reject::Static(r));
            }
        }
        if a.inter_pod {
            if let Err(r) = self.inter_pod.filter(s, p, n) {
                return Some(Reject::Static(r));
            }
        }
        None
    }

    // The first feasible nodes kube-scheduler's rule asks for, from where the last
    // pod's search stopped; rejections tallied by reason. One node at a time finds
    // what the Go policy's chunks of nodes find.
    fn filter_nodes(&mut self, s: &Snapshot, pid: PodId, feasible: &mut Vec<u32>) {
        let p = s.pod(pid);
        let num = s.nodes.len();
        let a = Active {
            unschedulable: !(s.unschedulable == 0 || tolerated(&p.tolerations, &unschedulable_taint())),
            node_name: !p.node_name.is_empty(),
            taints: !(s.tainted == 0 && s.not_ready == 0),
            node_affinity: !(p.node_selector.is_empty() && !p.has_required_affinity),
            fit_fast: p.requests.scalar.is_empty(),
            spread: !self.spread.hard.is_empty(),
            inter_pod: !self.inter_pod.skip_filter(p),
        };
        let plain = a.fit_fast && !(a.unschedulable || a.node_name || a.taints || a.node_affinity || a.spread || a.inter_pod);
        let want = num_feasible_nodes_to_find(num);
        let start = self.next % num;
        self.reasons.clear();
        let mut visited = num;
        let (cpu, mem, eph) = (p.requests.cpu, p.requests.mem, p.requests.eph);
        let hot = &s.hot[..num];
        let mut pos = start;
        for i in 0..num {
            let here = pos;
            pos += 1;
            if pos == num {
                pos = 0;
            }
            // Most pods need only the resource check: no call, no reason built.
            if !(plain && fits(cpu, mem, eph, &hot[here])) {
                match self.filter_one(s, p, here, a) {
                    None => {}
                    Some(Reject::Tallied) => continue,
                    Some(Reject::Static(r)) => {
                        self.tally(r);
                        continue;
                    }
                    Some(Reject::Owned(r)) => {
                        self.tally(&r);
                        continue;
                    }
                }
            }
            feasible.push(here as u32);
            if feasible.len() == want {
                visited = i + 1;
                break;
            }
        }
        self.next = (start + visited) % num;
    }

    pub fn schedule_one(&mut self, s: &mut Snapshot, pid: PodId) -> Decision {
        s.release_retired();
        let mut d = Decision { pod: s.pod(pid).key.as_bytes().to_vec(), ..Default::default() };
        let num = s.nodes.len();
        if num == 0 {
            d.message = ERR_NO_NODES.to_string();
            return d;
        }
        self.spread.pre_filter(s, pid);
        self.inter_pod.pre_filter(s, pid);
        let mut feasible = std::mem::take(&mut self.feasible);
        feasible.clear();
        self.filter_nodes(s, pid, &mut feasible);
        if feasible.len() <= 1 {
            if feasible.is_empty() {
                d.num_nodes = num;
                let (m, rc) = unschedulable_message(num, &self.reasons);
                d.message = m;
                d.reasons = rc;
            } else {
                d.node = s.node(s.nodes[feasible[0] as usize]).name.clone();
            }
            self.feasible = feasible;
            return d;
        }
        let nf = feasible.len();
        let mut total = std::mem::take(&mut self.total);
        total.clear();
        total.resize(nf, 0);
        let mut scores = std::mem::take(&mut self.scores);
        scores.clear();
        scores.resize(nf, 0);
        // Scores are added up plugin by plugin, each skipped when it would give
        // every node the same score (which ranks nothing): the profile's
        // TaintToleration 3, NodeAffinity 2, NodeResourcesFit 1,
        // PodTopologySpread 2, InterPodAffinity 2, BalancedAllocation 1.
        {
            let p = s.pod(pid);
            let (ncpu, nmem) = (p.nonzero.cpu, p.nonzero.mem);
            let (cpu, mem) = (p.requests.cpu, p.requests.mem);
            let balanced = !(cpu == 0 && mem == 0);
            for (k, &pos) in feasible.iter().enumerate() {
                let h = &s.hot[pos as usize];
                let mut t = fit_score(ncpu, nmem, h) * W_FIT;
                if balanced {
                    t += balanced_score(cpu, mem, h) * W_BALANCED;
                }
                total[k] = t;
            }
            if s.tainted != 0 {
                for (k, &pos) in feasible.iter().enumerate() {
                    scores[k] = taint_score(p, s.node(s.nodes[pos as usize]));
                }
                default_normalize(&mut scores, true);
                add_weighted(&mut total, &scores, W_TAINT);
            }
            if p.preferred_node_affinity.iter().any(|t| t.weight != 0) {
                for (k, &pos) in feasible.iter().enumerate() {
                    scores[k] = node_affinity_score(p, s.node(s.nodes[pos as usize]));
                }
                default_normalize(&mut scores, false);
                add_weighted(&mut total, &scores, W_NODE_AFFINITY);
            }
        }
        // PodTopologySpread's pre-score may build counters in the snapshot.
        if self.spread.pre_score(s, pid, &feasible) {
            let (lo, hi) = self.spread.score_nodes(s, pid, &feasible, &mut scores);
            self.spread.normalize_add(&scores, lo, hi, &mut total);
        }
        let s: &Snapshot = s;
        self.inter_pod.pre_score(s, pid);
        if self.inter_pod.score.pairs != 0 {
            let (mut lo, mut hi) = (i64::MAX, i64::MIN);
            for (k, &pos) in feasible.iter().enumerate() {
                let sc = self.inter_pod.score(s.node(s.nodes[pos as usize]));
                scores[k] = sc;
                lo = lo.min(sc);
                hi = hi.max(sc);
            }
            // Linearly from [min, max] onto [0, 100].
            let diff = hi.wrapping_sub(lo);
            for (k, t) in total.iter_mut().enumerate() {
                let mut f = 0.0;
                if diff > 0 {
                    f = MAX_NODE_SCORE as f64 * (scores[k].wrapping_sub(lo) as f64 / diff as f64);
                }
                *t = t.wrapping_add((f as i64).wrapping_mul(W_INTER_POD));
            }
        }
        // The best total; ties go to the highest mix of the pod's hash and the
        // node's, which is deterministic and spreads pods.
        let p = s.pod(pid);
        let sh = string_hash(if p.uid.is_empty() { &p.key } else { &p.uid });
        let mut best = 0;
        let mut best_hash = 0u64;
        for k in 1..nf {
            if total[k] > total[best] {
                best = k;
                best_hash = 0;
            } else if total[k] == total[best] {
                if best_hash == 0 {
                    best_hash = tie_mix(sh, s.hot[feasible[best] as usize].name_hash);
                }
                let h = tie_mix(sh, s.hot[feasible[k] as usize].name_hash);
                if h > best_hash {
                    best = k;
                    best_hash = h;
                }
            }
        }
        d.node = s.node(s.nodes[feasible[best] as usize]).name.clone();
        self.total = total;
        self.scores = scores;
        self.feasible = feasible;
        d
    }
}

#[inline]
fn add_weighted(total: &mut [i64], scores: &[i64], w: i64) {
    for (t, &s) in total.iter_mut().zip(scores) {
        *t = t.wrapping_add(s.wrapping_mul(w));
    }
}
