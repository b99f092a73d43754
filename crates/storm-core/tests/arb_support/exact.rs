//! Exact non-negative rationals over a minimal big natural number, so the brute force can be
//! exact where the evaluator uses `Decimal`: no rounding, no overflow, no shared code.

use std::cmp::Ordering;

use rust_decimal::Decimal;

/// A natural number, base 2³², least significant limb first, no leading zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat(Vec<u32>);

impl Nat {
    pub fn from_u128(mut v: u128) -> Self {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Nat(limbs)
    }

    fn trim(mut self) -> Self {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        self
    }

    pub fn add(&self, o: &Nat) -> Nat {
        let mut out = Vec::with_capacity(self.0.len().max(o.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(o.0.len()) {
            let s = carry + *self.0.get(i).unwrap_or(&0) as u64 + *o.0.get(i).unwrap_or(&0) as u64;
            out.push(s as u32);
            carry = s >> 32;
        }
        out.push(carry as u32);
        Nat(out).trim()
    }

    /// `self − o`; panics when negative.
    pub fn sub(&self, o: &Nat) -> Nat {
        assert!(*self >= *o, "negative natural");
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut s = self.0[i] as i64 - *o.0.get(i).unwrap_or(&0) as i64 - borrow;
            borrow = i64::from(s < 0);
            if s < 0 {
                s += 1 << 32;
            }
            out.push(s as u32);
        }
        Nat(out).trim()
    }

    pub fn mul(&self, o: &Nat) -> Nat {
        let mut out = vec![0u64; self.0.len() + o.0.len() + 1];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &b) in o.0.iter().enumerate() {
                let t = out[i + j] + a as u64 * b as u64 + carry;
                out[i + j] = t & 0xffff_ffff;
                carry = t >> 32;
            }
            let mut k = i + o.0.len();
            while carry > 0 {
                let t = out[k] + carry;
                out[k] = t & 0xffff_ffff;
                carry = t >> 32;
                k += 1;
            }
        }
        Nat(out.into_iter().map(|l| l as u32).collect()).trim()
    }
}

impl PartialOrd for Nat {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Nat {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.len().cmp(&o.0.len()).then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }
}

/// `n / d`, `d > 0`.
#[derive(Clone, Debug)]
pub struct Q {
    n: Nat,
    d: Nat,
}

impl Q {
    /// A non-negative decimal, exactly.
    pub fn dec(x: Decimal) -> Q {
        assert!(!x.is_sign_negative() || x.is_zero(), "negative {x}");
        Q { n: Nat::from_u128(x.mantissa().unsigned_abs()), d: Nat::from_u128(10u128.pow(x.scale())) }
    }

    pub fn int(v: u128) -> Q {
        Q { n: Nat::from_u128(v), d: Nat::from_u128(1) }
    }

    pub fn add(&self, o: &Q) -> Q {
        Q { n: self.n.mul(&o.d).add(&o.n.mul(&self.d)), d: self.d.mul(&o.d) }
    }

    /// `self − o`; panics when negative.
    pub fn sub(&self, o: &Q) -> Q {
        Q { n: self.n.mul(&o.d).sub(&o.n.mul(&self.d)), d: self.d.mul(&o.d) }
    }

    pub fn mul(&self, o: &Q) -> Q {
        Q { n: self.n.mul(&o.n), d: self.d.mul(&o.d) }
    }

    /// `self / o`; panics on zero.
    pub fn div(&self, o: &Q) -> Q {
        assert!(o.n != Nat(Vec::new()), "division by zero");
        Q { n: self.n.mul(&o.d), d: self.d.mul(&o.n) }
    }

    /// The largest multiple of `step` (> 0) not above `self`, as a decimal at `step`'s scale.
    pub fn floor_to(&self, step: Decimal) -> Decimal {
        // Largest k with k × (step_mantissa × d) ≤ n × 10^scale.
        let scale = Nat::from_u128(10u128.pow(step.scale()));
        let mant = step.mantissa().unsigned_abs();
        let (top, unit) = (self.n.mul(&scale), Nat::from_u128(mant).mul(&self.d));
        let fits = |k: u128| Nat::from_u128(k).mul(&unit) <= top;
        let mut hi = 1u128;
        while fits(hi) {
            hi *= 2;
        }
        let mut lo = 0u128; // fits(lo), !fits(hi)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Decimal::from_i128_with_scale((lo * mant) as i128, step.scale())
    }
}

impl PartialEq for Q {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Q {}

impl PartialOrd for Q {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Q {
    fn cmp(&self, o: &Self) -> Ordering {
        self.n.mul(&o.d).cmp(&o.n.mul(&self.d))
    }
}

#[test]
fn exact_arithmetic_agrees_with_decimal_where_decimal_is_exact() {
    let d = |s: &str| Decimal::from_str_exact(s).expect("decimal");
    let (a, b) = (Q::dec(d("123456789.123456789")), Q::dec(d("0.000987654321")));
    assert_eq!(a.mul(&b), Q::dec(d("123456789.123456789") * d("0.000987654321")));
    assert_eq!(a.add(&b).sub(&b), a);
    assert_eq!(a.div(&b).mul(&b), a);
    assert!(b < a);
    assert_eq!(Q::int(1).div(&Q::int(3)).floor_to(d("0.001")), d("0.333"));
    assert_eq!(Q::dec(d("2")).floor_to(d("0.5")), d("2.0"));
    assert_eq!(Q::dec(d("1.999")).floor_to(d("1")), d("1"));
    let big = Q::int(u128::MAX).mul(&Q::int(u128::MAX));
    assert_eq!(big.div(&Q::int(u128::MAX)), Q::int(u128::MAX));
}
