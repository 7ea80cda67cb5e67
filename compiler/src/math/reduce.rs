//! Reduction of a large argument by pi/2 (Payne and Hanek): `x = k pi/2 + y` with the bits of
//! `2/pi` that matter at `x`'s exponent, in integer arithmetic, so the result is exact to far
//! more bits than a double holds, for every finite `x`.
//!
//! Only arguments beyond the medium range of `sin` and `cos` ([`super::TRIG_MEDIUM`]) come
//! here; it is plain Rust, which the interpreter calls directly and JIT code calls out to
//! (rarely: such arguments are unusual).

/// `floor(2/pi 2^1280)`: the first 1280 bits of `2/pi`, most significant word first. A
/// double's exponent reaches 971, and the window below needs 192 bits past it.
pub(crate) const TWO_OVER_PI: [u64; 20] = [
    0xA2F9_836E_4E44_1529,
    0xFC27_57D1_F534_DDC0,
    0xDB62_9599_3C43_9041,
    0xFE51_63AB_DEBB_C561,
    0xB724_6E3A_424D_D2E0,
    0x0649_2EEA_09D1_921C,
    0xFE1D_EB1C_B129_A73E,
    0xE882_35F5_2EBB_4484,
    0xE99C_7026_B45F_7E41,
    0x3991_D639_8353_39F4,
    0x9C84_5F8B_BDF9_283B,
    0x1FF8_97FF_DE05_980F,
    0xEF2F_118B_5A0A_6D1F,
    0x6D36_7ECF_27CB_09B7,
    0x4F46_3F66_9E5F_EA2D,
    0x7527_BAC7_EBE5_F17B,
    0x3D07_39F7_8A52_92EA,
    0x6BFB_5FB1_1F8D_5D08,
    0x5603_3046_FC7B_6BAB,
    0xF0CF_BC20_9AF4_361D,
];

/// `pi/2` as a sum of two doubles.
pub(crate) const PIO2_HI: f64 = f64::from_bits(0x3FF9_21FB_5444_2D18);
pub(crate) const PIO2_LO: f64 = f64::from_bits(0x3C91_A626_3314_5C07);

/// Bits `start .. start + 192` of `2/pi`'s fraction (bit 0 is the `1/2` place) as three words,
/// most significant first.
fn window(start: usize) -> [u64; 3] {
    let bit = |i: usize| -> u64 { (TWO_OVER_PI[i / 64] >> (63 - i % 64)) & 1 };
    let mut words = [0u64; 3];
    for (w, word) in words.iter_mut().enumerate() {
        for b in 0..64 {
            *word = (*word << 1) | bit(start + 64 * w + b);
        }
    }
    words
}

/// `m * v` for a 53-bit `m` and a 192-bit `v` (three words, most significant first), as four
/// words, least significant first.
fn multiply(m: u64, v: [u64; 3]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut carry = 0u128;
    for (k, &word) in v.iter().rev().enumerate() {
        let product = u128::from(m) * u128::from(word) + carry;
        out[k] = product as u64;
        carry = product >> 64;
    }
    out[3] = carry as u64;
    out
}

/// Bits `from .. from + 128` of a four-word number (least significant word first).
fn bits_128(n: [u64; 4], from: usize) -> u128 {
    let mut value = 0u128;
    for i in (from..from + 128).rev() {
        let bit = if i < 256 { (n[i / 64] >> (i % 64)) & 1 } else { 0 };
        value = (value << 1) | u128::from(bit);
    }
    value
}

/// `(k mod 4, y0, y1)` with `x = k pi/2 + y0 + y1`, `|y0 + y1| <= pi/4` and `y1` below half an
/// ulp of `y0`, for a finite `x` with `|x| >= 1`.
pub fn large(x: f64) -> [f64; 3] {
    let bits = x.abs().to_bits();
    let biased = (bits >> 52) as i64;
    // |x| = m 2^e with an integer m below 2^53.
    let (m, e) = if biased == 0 { (bits, -1074) } else { ((bits & ((1 << 52) - 1)) | (1 << 52), biased - 1075) };
    // Bits of 2/pi at places 2^-(s+1) .. 2^-(s+192): those that put m 2^e (2/pi) mod 4 in
    // reach; earlier ones only add multiples of 4.
    let s = (e - 2).max(0) as usize;
    let product = multiply(m, window(s));
    // The product has `point` bits after the binary point of x (2/pi).
    let point = (s as i64 + 192 - e) as usize;
    let quadrant = bits_128(product, point) & 3;
    let fraction = bits_128(product, point - 128);
    // Round to the nearest multiple of pi/2: a fraction of a half or more counts up.
    let (quadrant, signed) =
        if fraction >> 127 == 1 { ((quadrant + 1) & 3, fraction as i128) } else { (quadrant, fraction as i128) };
    // `signed` reads the fraction as a two's complement number in [-1/2, 1/2) (times 2^128).
    let hi = signed as f64;
    let lo = (signed - hi as i128) as f64;
    let scale = 2f64.powi(-128);
    let (f_hi, f_lo) = (hi * scale, lo * scale);
    // (f_hi + f_lo)(PIO2_HI + PIO2_LO) as a sum of two doubles.
    let p = f_hi * PIO2_HI;
    let error = f_hi.mul_add(PIO2_HI, -p);
    let tail = error + (f_hi * PIO2_LO + f_lo * PIO2_HI);
    let y0 = p + tail;
    let y1 = tail - (y0 - p);
    if x < 0.0 { [((4 - quadrant) & 3) as f64, -y0, -y1] } else { [quadrant as f64, y0, y1] }
}
