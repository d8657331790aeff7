// Kubernetes quantities and the one transcendental function the policy uses, each
// computed as the Go guest computes it, bit for bit.

// ParseQuantity of sdk/snapshot_decode.go: "100m", "1.5Gi", "2e3" to an integer,
// rounded up as resource.Quantity rounds; with milli, in thousandths; saturating.
pub fn parse_quantity(s: &[u8], milli: bool) -> Result<i64, ()> {
    let mut i = 0;
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut inexact = false;
    let mut frac = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' {
            if frac {
                return Err(());
            }
            frac = true;
            i += 1;
            continue;
        }
        if !c.is_ascii_digit() {
            break;
        }
        if mant < 100_000_000_000_000_000 {
            mant = mant * 10 + (c - b'0') as u64;
            if frac {
                exp -= 1;
            }
        } else {
            if c != b'0' {
                inexact = true;
            }
            if !frac {
                exp += 1;
            }
        }
        i += 1;
    }
    let suffix = &s[i..];
    let mut bin: u32 = 0;
    match suffix {
        b"" => {}
        b"n" => exp -= 9,
        b"u" => exp -= 6,
        b"m" => exp -= 3,
        b"k" => exp += 3,
        b"M" => exp += 6,
        b"G" => exp += 9,
        b"T" => exp += 12,
        b"P" => exp += 15,
        b"E" => exp += 18,
        b"Ki" => bin = 10,
        b"Mi" => bin = 20,
        b"Gi" => bin = 30,
        b"Ti" => bin = 40,
        b"Pi" => bin = 50,
        b"Ei" => bin = 60,
        _ => {
            if suffix[0] != b'e' && suffix[0] != b'E' {
                return Err(());
            }
            let mut e: i64 = 0;
            let mut j = 1;
            let mut eneg = false;
            if j < suffix.len() && (suffix[j] == b'+' || suffix[j] == b'-') {
                eneg = suffix[j] == b'-';
                j += 1;
            }
            if j == suffix.len() {
                return Err(());
            }
            while j < suffix.len() {
                let c = suffix[j];
                if !c.is_ascii_digit() || e > 1000 {
                    return Err(());
                }
                e = e * 10 + (c - b'0') as i64;
                j += 1;
            }
            if eneg {
                e = -e;
            }
            exp += e;
        }
    }
    if milli {
        exp += 3;
    }
    const LIMIT: u64 = (1u64 << 63) - 1;
    let mut sat = false;
    let mut v = mant;
    while bin > 0 && !sat {
        if v > LIMIT / 2 {
            sat = true;
        }
        v = v.wrapping_mul(2);
        bin -= 1;
    }
    while exp > 0 && !sat {
        if v > LIMIT / 10 {
            sat = true;
        }
        v = v.wrapping_mul(10);
        exp -= 1;
    }
    while exp < 0 && v > 0 {
        if v % 10 != 0 {
            inexact = true;
        }
        v /= 10;
        exp += 1;
    }
    if exp < 0 && mant != 0 {
        inexact = true;
    }
    if sat || v > LIMIT {
        v = LIMIT;
        inexact = false;
    }
    let mut n = v as i64;
    if inexact && !neg {
        n = n.wrapping_add(1);
    }
    if neg {
        n = n.wrapping_neg();
    }
    Ok(n)
}

// Go's math.Log (the portable one, which its wasm port runs): libm's log differs
// from it in the last bit for some inputs, and spreading scores round its products.
pub fn go_log(x: f64) -> f64 {
    const LN2_HI: f64 = 6.93147180369123816490e-01;
    const LN2_LO: f64 = 1.90821492927058770002e-10;
    const L1: f64 = 6.666666666666735130e-01;
    const L2: f64 = 3.999999999940941908e-01;
    const L3: f64 = 2.857142874366239149e-01;
    const L4: f64 = 2.222219843214978396e-01;
    const L5: f64 = 1.818357216161805012e-01;
    const L6: f64 = 1.531383769920937332e-01;
    const L7: f64 = 1.479819860511658591e-01;
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut ki) = frexp(x);
    if f1 < std::f64::consts::SQRT_2 / 2.0 {
        f1 *= 2.0;
        ki -= 1;
    }
    let f = f1 - 1.0;
    let k = ki as f64;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (L1 + s4 * (L3 + s4 * (L5 + s4 * L7)));
    let t2 = s4 * (L2 + s4 * (L4 + s4 * L6));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

// Go's math.Round, in integer operations: half away from zero, as f64::round, but
// without the libm call f64::round is inside a wasm guest.
pub fn go_round(x: f64) -> f64 {
    const SHIFT: u64 = 52;
    const BIAS: u64 = 1023;
    const MASK: u64 = 0x7ff;
    const SIGN_MASK: u64 = 1 << 63;
    const FRAC_MASK: u64 = (1 << SHIFT) - 1;
    const UV_ONE: u64 = 0x3ff0000000000000;
    let mut bits = x.to_bits();
    let mut e = (bits >> SHIFT) & MASK;
    if e < BIAS {
        bits &= SIGN_MASK;
        if e == BIAS - 1 {
            bits |= UV_ONE;
        }
    } else if e < BIAS + SHIFT {
        const HALF: u64 = 1 << (SHIFT - 1);
        e -= BIAS;
        bits = bits.wrapping_add(HALF >> e);
        bits &= !(FRAC_MASK >> e);
    }
    f64::from_bits(bits)
}

fn frexp(mut f: f64) -> (f64, i64) {
    let mut exp: i64 = 0;
    if f.abs() < 2.2250738585072014e-308 {
        f *= (1u64 << 52) as f64;
        exp = -52;
    }
    let mut x = f.to_bits();
    exp += ((x >> 52) & 0x7ff) as i64 - 1023 + 1;
    x &= !(0x7ffu64 << 52);
    x |= 1022u64 << 52;
    (f64::from_bits(x), exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn quantities() {
        assert_eq!(parse_quantity(b"250m", true), Ok(250));
        assert_eq!(parse_quantity(b"1Gi", false), Ok(1 << 30));
        assert_eq!(parse_quantity(b"1e3", false), Ok(1000));
        assert_eq!(parse_quantity(b"1.5", true), Ok(1500));
        assert_eq!(parse_quantity(b"0.1m", true), Ok(1));
        assert!(parse_quantity(b"x", false).is_err());
    }

    #[test]
    fn rounding() {
        for x in [0.0, 0.49999999999999994, 0.5, 1.5, 2.5, -0.5, -2.5, 3.7, 1e300, -7.25, 4503599627370495.5] {
            assert_eq!(go_round(x), x.round(), "{}", x);
        }
    }
}
