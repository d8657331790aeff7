// A pull parser for the fed Node and Pod objects: a port of the Go SDK's JSONReader
// (sdk/jsonreader.go), with its error messages and offsets, so that a malformed
// object fails here as it fails in the Go guest.

use std::borrow::Cow;

pub struct JsonError {
    pub offset: usize,
    pub msg: String,
}

impl JsonError {
    pub fn text(&self) -> String {
        format!("json: {} at offset {}", self.msg, self.offset)
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
pub enum Kind {
    Invalid,
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

const MAX_DEPTH: usize = 10000;

pub struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
    pub err: Option<JsonError>,
}

fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

// Length of the valid UTF-8 sequence at the start of b, as Go's utf8.DecodeRune
// judges it; None when it returns RuneError of width 1.
fn utf8_len(b: &[u8]) -> Option<usize> {
    let c0 = b[0];
    let (n, lo, hi) = match c0 {
        0xC2..=0xDF => (2, 0x80, 0xBF),
        0xE0 => (3, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
        0xED => (3, 0x80, 0x9F),
        0xF0 => (4, 0x90, 0xBF),
        0xF1..=0xF3 => (4, 0x80, 0xBF),
        0xF4 => (4, 0x80, 0x8F),
        _ => return None,
    };
    if b.len() < n {
        return None;
    }
    if b[1] < lo || b[1] > hi {
        return None;
    }
    for &c in &b[2..n] {
        if !(0x80..=0xBF).contains(&c) {
            return None;
        }
    }
    Some(n)
}

fn push_rune(out: &mut Vec<u8>, r: u32) {
    let c = char::from_u32(r).unwrap_or('\u{FFFD}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..4] {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | d as u32;
    }
    Some(v)
}

pub fn to_string(b: Cow<[u8]>) -> String {
    // The reader only returns valid UTF-8 (invalid bytes become U+FFFD).
    match b {
        Cow::Borrowed(s) => String::from_utf8_lossy(s).into_owned(),
        Cow::Owned(v) => String::from_utf8(v).unwrap_or_default(),
    }
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0, depth: 0, err: None }
    }

    pub fn failed(&self) -> bool {
        self.err.is_some()
    }

    fn fail_at(&mut self, off: usize, msg: &str) {
        if self.err.is_none() {
            self.err = Some(JsonError { offset: off, msg: msg.to_string() });
        }
        self.i = self.b.len();
    }

    fn fail(&mut self, msg: &str) {
        self.fail_at(self.i, msg)
    }

    pub fn end(&mut self) -> Result<(), String> {
        if self.err.is_none() {
            self.ws();
            if self.i < self.b.len() {
                self.fail("data after the value");
            }
        }
        match &self.err {
            Some(e) => Err(e.text()),
            None => Ok(()),
        }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() {
            match self.b[self.i] {
                b' ' | b'\t' | b'\n' | b'\r' => self.i += 1,
                _ => return,
            }
        }
    }

    fn peek(&mut self) -> u8 {
        self.ws();
        if self.i < self.b.len() {
            self.b[self.i]
        } else {
            0
        }
    }

    pub fn kind(&mut self) -> Kind {
        match self.peek() {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            b'"' => Kind::String,
            b't' | b'f' => Kind::Bool,
            b'n' => Kind::Null,
            c if c == b'-' || is_digit(c) => Kind::Number,
            _ => Kind::Invalid,
        }
    }

    fn literal(&mut self, lit: &[u8]) -> bool {
        if self.b.len() - self.i >= lit.len() && &self.b[self.i..self.i + lit.len()] == lit {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    pub fn null(&mut self) -> bool {
        self.peek() == b'n' && self.literal(b"null")
    }

    // Calls f for each member with its key; f must consume the value. null reads as {}.
    pub fn object<F: FnMut(&mut Self, &[u8])>(&mut self, mut f: F) {
        if self.null() {
            return;
        }
        if self.peek() != b'{' {
            self.fail("expected an object");
            return;
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.fail("nested too deep");
            return;
        }
        self.i += 1;
        if self.peek() == b'}' {
            self.i += 1;
            self.depth -= 1;
            return;
        }
        while self.err.is_none() {
            if self.peek() != b'"' {
                self.fail("expected a string key");
                return;
            }
            let k = self.str_(false);
            if self.peek() != b':' {
                self.fail("expected ':' after an object key");
                return;
            }
            self.i += 1;
            f(self, &k);
            match self.peek() {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return;
                }
                _ => self.fail("expected ',' or '}' after an object member"),
            }
        }
    }

    pub fn array<F: FnMut(&mut Self, usize)>(&mut self, mut f: F) {
        if self.null() {
            return;
        }
        if self.peek() != b'[' {
            self.fail("expected an array");
            return;
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.fail("nested too deep");
            return;
        }
        self.i += 1;
        if self.peek() == b']' {
            self.i += 1;
            self.depth -= 1;
            return;
        }
        let mut n = 0;
        while self.err.is_none() {
            f(self, n);
            n += 1;
            match self.peek() {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    self.depth -= 1;
                    return;
                }
                _ => self.fail("expected ',' or ']' after an array element"),
            }
        }
    }

    // A string, unescaped; null reads as "".
    pub fn string(&mut self) -> String {
        if self.null() {
            return String::new();
        }
        to_string(self.str_(false))
    }

    fn str_(&mut self, skip: bool) -> Cow<'a, [u8]> {
        if self.peek() != b'"' {
            self.fail("expected a string");
            return Cow::Borrowed(&[]);
        }
        self.i += 1;
        let start = self.i;
        let b = self.b;
        while self.i < b.len() {
            let c = b[self.i];
            if c == b'"' {
                self.i += 1;
                if skip {
                    return Cow::Borrowed(&[]);
                }
                return Cow::Borrowed(&b[start..self.i - 1]);
            } else if c == b'\\' {
                if !skip {
                    return self.unescape(start);
                }
                if !self.escape(None) {
                    return Cow::Borrowed(&[]);
                }
            } else if c < 0x20 {
                self.fail("control character in string");
                return Cow::Borrowed(&[]);
            } else if c < 0x80 {
                self.i += 1;
            } else {
                match utf8_len(&b[self.i..]) {
                    Some(n) => self.i += n,
                    None => {
                        if !skip {
                            return self.unescape(start);
                        }
                        self.i += 1;
                    }
                }
            }
        }
        self.fail("unterminated string");
        Cow::Borrowed(&[])
    }

    fn unescape(&mut self, start: usize) -> Cow<'a, [u8]> {
        let b = self.b;
        let mut out = Vec::with_capacity(self.i - start + 16);
        out.extend_from_slice(&b[start..self.i]);
        while self.i < b.len() {
            let c = b[self.i];
            if c == b'"' {
                self.i += 1;
                return Cow::Owned(out);
            } else if c == b'\\' {
                if !self.escape(Some(&mut out)) {
                    return Cow::Borrowed(&[]);
                }
            } else if c < 0x20 {
                self.fail("control character in string");
                return Cow::Borrowed(&[]);
            } else if c < 0x80 {
                out.push(c);
                self.i += 1;
            } else {
                match utf8_len(&b[self.i..]) {
                    Some(n) => {
                        out.extend_from_slice(&b[self.i..self.i + n]);
                        self.i += n;
                    }
                    None => {
                        push_rune(&mut out, 0xFFFD);
                        self.i += 1;
                    }
                }
            }
        }
        self.fail("unterminated string");
        Cow::Borrowed(&[])
    }

    fn escape(&mut self, out: Option<&mut Vec<u8>>) -> bool {
        let at = self.i;
        if self.i + 1 >= self.b.len() {
            self.i = self.b.len();
            self.fail("unterminated string");
            return false;
        }
        let e = self.b[self.i + 1];
        self.i += 2;
        let c = match e {
            b'"' | b'\\' | b'/' => e,
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let c1 = match hex4(&self.b[self.i..]) {
                    Some(v) => v,
                    None => {
                        self.fail_at(at, "bad \\u escape in string");
                        return false;
                    }
                };
                self.i += 4;
                let out = match out {
                    Some(o) => o,
                    None => return true,
                };
                let mut ru = c1;
                if (0xD800..0xE000).contains(&c1) {
                    ru = 0xFFFD;
                    let rest = &self.b[self.i..];
                    if rest.len() >= 6 && rest[0] == b'\\' && rest[1] == b'u' {
                        if let Some(c2) = hex4(&rest[2..]) {
                            if (0xD800..0xDC00).contains(&c1) && (0xDC00..0xE000).contains(&c2) {
                                ru = ((c1 - 0xD800) << 10 | (c2 - 0xDC00)) + 0x10000;
                                self.i += 6;
                            }
                        }
                    }
                }
                push_rune(out, ru);
                return true;
            }
            _ => {
                self.fail_at(at, "bad escape in string");
                return false;
            }
        };
        if let Some(o) = out {
            o.push(c);
        }
        true
    }

    // Consumes a number, strictly; returns (start, end, is_int).
    fn number(&mut self) -> Option<(usize, usize, bool)> {
        self.ws();
        let b = self.b;
        let start = self.i;
        let mut i = self.i;
        if i < b.len() && b[i] == b'-' {
            i += 1;
        }
        if i < b.len() && b[i] == b'0' {
            i += 1;
        } else if i < b.len() && is_digit(b[i]) {
            while i < b.len() && is_digit(b[i]) {
                i += 1;
            }
        } else {
            self.fail("expected a number");
            return None;
        }
        let mut is_int = true;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            if i >= b.len() || !is_digit(b[i]) {
                self.fail("bad number");
                return None;
            }
            while i < b.len() && is_digit(b[i]) {
                i += 1;
            }
            is_int = false;
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            if i >= b.len() || !is_digit(b[i]) {
                self.fail("bad number");
                return None;
            }
            while i < b.len() && is_digit(b[i]) {
                i += 1;
            }
            is_int = false;
        }
        self.i = i;
        Some((start, i, is_int))
    }

    pub fn int(&mut self) -> i64 {
        self.integer(64)
    }

    pub fn int32(&mut self) -> i32 {
        self.integer(32) as i32
    }

    fn integer(&mut self, bits: u32) -> i64 {
        if self.null() {
            return 0;
        }
        let c = self.peek();
        if c != b'-' && !is_digit(c) {
            self.fail("expected an integer");
            return 0;
        }
        let start = self.i;
        let (s, e, is_int) = match self.number() {
            Some(v) => v,
            None => return 0,
        };
        let b = self.b;
        if !is_int {
            let msg = format!("expected an integer, not {}", String::from_utf8_lossy(&b[s..e]));
            self.fail_at(start, &msg);
            return 0;
        }
        let mut t = &b[s..e];
        let neg = t[0] == b'-';
        if neg {
            t = &t[1..];
        }
        let mut limit = (1u64 << (bits - 1)) - 1;
        if neg {
            limit += 1;
        }
        let mut u = 0u64;
        for &c in t {
            let d = (c - b'0') as u64;
            if u > (limit - d) / 10 {
                let msg = format!("integer overflows int{}", bits);
                self.fail_at(start, &msg);
                return 0;
            }
            u = u * 10 + d;
        }
        if neg {
            (u as i64).wrapping_neg()
        } else {
            u as i64
        }
    }

    pub fn boolean(&mut self) -> bool {
        match self.peek() {
            b't' => {
                if self.literal(b"true") {
                    return true;
                }
            }
            b'f' => {
                if self.literal(b"false") {
                    return false;
                }
            }
            b'n' => {
                if self.literal(b"null") {
                    return false;
                }
            }
            _ => {}
        }
        self.fail("expected a boolean");
        false
    }

    pub fn skip(&mut self) {
        let c = self.peek();
        match c {
            b'"' => {
                self.str_(true);
            }
            b'{' => self.object(|r, _| r.skip()),
            b'[' => self.array(|r, _| r.skip()),
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            _ if c == b'-' || is_digit(c) => {
                self.number();
            }
            _ => {
                if self.i >= self.b.len() {
                    self.fail("unexpected end of input")
                } else {
                    self.fail("expected a value")
                }
            }
        }
    }

    fn lit(&mut self, s: &[u8]) {
        if !self.literal(s) {
            self.fail("bad literal");
        }
    }

    // An object of strings into a sorted label list, added to; null clears it.
    pub fn string_map(&mut self, m: &mut Labels) {
        if self.null() {
            m.clear();
            return;
        }
        if self.peek() != b'{' {
            self.fail("expected an object");
            return;
        }
        self.object(|r, k| {
            let kind = r.kind();
            if kind != Kind::String && kind != Kind::Null {
                r.fail("expected a string");
                return;
            }
            let v = r.string();
            let k = String::from_utf8_lossy(k).into_owned();
            labels_set(m, k, v);
        });
    }

    // setString: a string; null leaves *p.
    pub fn set_string(&mut self, p: &mut String) {
        if !self.null() {
            *p = to_string(self.str_(false));
        }
    }

    pub fn label_selector(&mut self, s: &mut LabelSelector) {
        self.object(|r, k| match k {
            b"matchLabels" => r.string_map(&mut s.match_labels),
            b"matchExpressions" => r.slice(&mut s.match_expressions, |r, q| r.requirement(q)),
            _ => r.skip(),
        });
    }

    fn requirement(&mut self, q: &mut Requirement) {
        self.object(|r, k| match k {
            b"key" => r.set_string(&mut q.key),
            b"operator" => r.set_string(&mut q.operator),
            b"values" => r.slice(&mut q.values, |r, v| r.set_string(v)),
            _ => r.skip(),
        });
    }

    // JSONSlice: null empties the slice; elements read into the existing ones.
    pub fn slice<T: Default, F: FnMut(&mut Self, &mut T)>(&mut self, s: &mut Vec<T>, mut elem: F) {
        if self.null() {
            s.clear();
            return;
        }
        if self.peek() != b'[' {
            self.fail("expected an array");
            return;
        }
        let mut n = 0;
        self.array(|r, i| {
            if i >= s.len() {
                s.push(T::default());
            }
            elem(r, &mut s[i]);
            n = i + 1;
        });
        if self.err.is_some() {
            return;
        }
        s.truncate(n);
    }
}

// Labels are a map kept as a list sorted by key: the maps here hold a handful of
// entries, where a scan beats hashing.
pub type Labels = Vec<(String, String)>;

pub fn labels_get<'l>(m: &'l Labels, k: &str) -> Option<&'l str> {
    if m.len() <= 8 {
        for (kk, v) in m {
            if kk == k {
                return Some(v);
            }
        }
        return None;
    }
    match m.binary_search_by(|(kk, _)| kk.as_str().cmp(k)) {
        Ok(i) => Some(&m[i].1),
        Err(_) => None,
    }
}

pub fn labels_set(m: &mut Labels, k: String, v: String) {
    match m.binary_search_by(|(kk, _)| kk.as_str().cmp(&k)) {
        Ok(i) => m[i].1 = v,
        Err(i) => m.insert(i, (k, v)),
    }
}

#[derive(Default, Clone, PartialEq)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

#[derive(Default, Clone, PartialEq)]
pub struct LabelSelector {
    pub match_labels: Labels,
    pub match_expressions: Vec<Requirement>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &Labels) -> bool {
        for (k, v) in &self.match_labels {
            match labels_get(labels, k) {
                Some(got) if got == v => {}
                _ => return false,
            }
        }
        for r in &self.match_expressions {
            let v = labels_get(labels, &r.key);
            let ok = match r.operator.as_str() {
                "In" => matches!(v, Some(v) if r.values.iter().any(|x| x == v)),
                "NotIn" => !matches!(v, Some(v) if r.values.iter().any(|x| x == v)),
                "Exists" => v.is_some(),
                "DoesNotExist" => v.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    // The label-selector query syntax, as LabelSelector.String renders it.
    pub fn render(&self, out: &mut String) {
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push(',');
            }
            first = false;
        };
        for (k, v) in &self.match_labels {
            sep(out);
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        for r in &self.match_expressions {
            match r.operator.as_str() {
                "In" | "NotIn" => {
                    sep(out);
                    out.push_str(&r.key);
                    out.push_str(if r.operator == "In" { " in (" } else { " notin (" });
                    out.push_str(&r.values.join(","));
                    out.push(')');
                }
                "Exists" => {
                    sep(out);
                    out.push_str(&r.key);
                }
                "DoesNotExist" => {
                    sep(out);
                    out.push('!');
                    out.push_str(&r.key);
                }
                _ => {}
            }
        }
    }
}

pub fn selector_matches(s: &Option<LabelSelector>, labels: &Labels) -> bool {
    match s {
        Some(s) => s.matches(labels),
        None => false,
    }
}
