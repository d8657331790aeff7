// The ABI's wire encoding (sdk/ABI.md, "Encoding"): fields of a tag byte, a uvarint
// length and that many bytes; unknown tags are skipped.

pub const ERR_WIRE: &str = "sdk: malformed wire message";

// encoding/binary.Uvarint: (value, bytes read); 0 bytes when too short, negative
// on overflow.
pub fn uvarint(b: &[u8]) -> (u64, isize) {
    let mut x: u64 = 0;
    let mut s: u32 = 0;
    for (i, &c) in b.iter().enumerate() {
        if i == 10 {
            return (0, -(i as isize + 1));
        }
        if c < 0x80 {
            if i == 9 && c > 1 {
                return (0, -(i as isize + 1));
            }
            return (x | (c as u64) << s, i as isize + 1);
        }
        x |= ((c & 0x7f) as u64) << s;
        s += 7;
    }
    (0, 0)
}

pub fn wire_uint(v: &[u8]) -> u64 {
    uvarint(v).0
}

pub struct WireReader<'a> {
    b: &'a [u8],
    pub err: bool,
}

impl<'a> WireReader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        WireReader { b, err: false }
    }

    pub fn next(&mut self) -> Option<(u8, &'a [u8])> {
        if self.b.is_empty() || self.err {
            return None;
        }
        let tag = self.b[0];
        let (n, k) = uvarint(&self.b[1..]);
        if k <= 0 || ((self.b.len() - 1 - k as usize) as u64) < n {
            self.err = true;
            return None;
        }
        let k = k as usize;
        let n = n as usize;
        let v = &self.b[1 + k..1 + k + n];
        self.b = &self.b[1 + k + n..];
        Some((tag, v))
    }
}

#[derive(Default)]
pub struct WireWriter {
    pub b: Vec<u8>,
}

impl WireWriter {
    fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.b.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.b.push(v as u8);
    }

    pub fn bytes(&mut self, tag: u8, v: &[u8]) {
        self.b.push(tag);
        self.put_uvarint(v.len() as u64);
        self.b.extend_from_slice(v);
    }

    pub fn str(&mut self, tag: u8, v: &str) {
        if !v.is_empty() {
            self.bytes(tag, v.as_bytes());
        }
    }

    pub fn uint(&mut self, tag: u8, v: u64) {
        if v == 0 {
            return;
        }
        let mut tmp = WireWriter { b: Vec::with_capacity(10) };
        tmp.put_uvarint(v);
        self.bytes(tag, &tmp.b);
    }
}

pub struct FeedEvent<'a> {
    pub typ: u64,
    pub group: &'a [u8],
    pub version: &'a [u8],
    pub kind: &'a [u8],
    pub object: &'a [u8],
}

pub const DELETED: u64 = 3;
pub const SYNCED: u64 = 4;

pub fn decode_feed(b: &[u8]) -> Result<Vec<FeedEvent>, String> {
    let mut out = Vec::new();
    let mut rd = WireReader::new(b);
    while let Some((tag, v)) = rd.next() {
        if tag != 1 {
            continue;
        }
        let mut e = FeedEvent { typ: 0, group: &[], version: &[], kind: &[], object: &[] };
        let mut ir = WireReader::new(v);
        while let Some((t, iv)) = ir.next() {
            match t {
                1 => e.typ = wire_uint(iv),
                2 => e.group = iv,
                3 => e.version = iv,
                4 => e.kind = iv,
                5 => e.object = iv,
                _ => {}
            }
        }
        if ir.err {
            return Err(ERR_WIRE.to_string());
        }
        out.push(e);
    }
    if rd.err {
        return Err(ERR_WIRE.to_string());
    }
    Ok(out)
}

pub struct SchedulePod<'a> {
    pub key: &'a [u8],
    pub object: &'a [u8],
}

pub struct ScheduleRequest<'a> {
    pub pods: Vec<SchedulePod<'a>>,
    pub forget: Vec<&'a [u8]>,
    pub dry_run: bool,
}

pub fn decode_schedule_request(b: &[u8]) -> Result<ScheduleRequest, String> {
    let mut req = ScheduleRequest { pods: Vec::new(), forget: Vec::new(), dry_run: false };
    let mut rd = WireReader::new(b);
    while let Some((tag, v)) = rd.next() {
        match tag {
            1 => {
                let mut p = SchedulePod { key: &[], object: &[] };
                let mut ir = WireReader::new(v);
                while let Some((t, iv)) = ir.next() {
                    match t {
                        1 => p.key = iv,
                        2 => p.object = iv,
                        _ => {}
                    }
                }
                if ir.err {
                    return Err(ERR_WIRE.to_string());
                }
                req.pods.push(p);
            }
            2 => req.forget.push(v),
            3 => req.dry_run = wire_uint(v) != 0,
            _ => {}
        }
    }
    if rd.err {
        return Err(ERR_WIRE.to_string());
    }
    Ok(req)
}

#[derive(Default, Clone, Debug, PartialEq)]
pub struct Decision {
    pub pod: Vec<u8>,
    pub node: String,
    pub num_nodes: usize,
    pub reasons: Vec<(String, usize)>,
    pub message: String,
    pub error: String,
}

pub fn encode_decisions(ds: &[Decision]) -> Vec<u8> {
    let mut w = WireWriter { b: Vec::with_capacity(48 * ds.len()) };
    let mut iw = WireWriter::default();
    for d in ds {
        iw.b.clear();
        if !d.pod.is_empty() {
            iw.bytes(1, &d.pod);
        }
        iw.str(2, &d.node);
        iw.uint(3, d.num_nodes as u64);
        for (r, n) in &d.reasons {
            let mut rw = WireWriter::default();
            rw.str(1, r);
            rw.uint(2, *n as u64);
            iw.bytes(4, &rw.b);
        }
        iw.str(5, &d.message);
        iw.str(6, &d.error);
        w.bytes(1, &iw.b);
    }
    w.b
}
