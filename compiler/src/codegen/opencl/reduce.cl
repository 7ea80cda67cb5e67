/* Bit `i` of a 256-bit number (four words, least significant first); 0 beyond. */
ulong noether_bit256(const ulong *n, long i) {
    return i < 256 ? (n[i / 64] >> (i % 64)) & 1UL : 0UL;
}

/* Bits `from .. from + 64` of a 256-bit number, as a word. */
ulong noether_bits64(const ulong *n, long from) {
    ulong value = 0;
    for (long i = from + 63; i >= from; i--) value = (value << 1) | noether_bit256(n, i);
    return value;
}

/* The 128-bit two's complement number `hi:lo` rounded to the nearest double (ties to even). */
double noether_i128_to_double(ulong hi, ulong lo) {
    int negative = (long)hi < 0;
    if (negative) {
        lo = ~lo + 1UL;
        hi = ~hi + (lo == 0UL ? 1UL : 0UL);
    }
    double magnitude;
    if (hi == 0UL) {
        magnitude = convert_double_rte(lo);
    } else {
        /* The top 64 bits, with whatever lies below folded into the last one (it only breaks
           ties, 11 places under the rounding bit). */
        int shift = 64 - (int)clz(hi);
        ulong top = shift == 64 ? hi : (hi << (64 - shift)) | (lo >> shift);
        ulong rest = shift == 64 ? lo : lo << (64 - shift);
        magnitude = ldexp(convert_double_rte(top | (rest != 0UL ? 1UL : 0UL)), shift);
    }
    return negative ? -magnitude : magnitude;
}

/* An integer-valued double below 2^127 in magnitude as a 128-bit two's complement number. */
void noether_double_to_i128(double d, ulong *hi, ulong *lo) {
    ulong bits = as_ulong(fabs(d));
    long exponent = (long)(bits >> 52) - 1075;
    ulong mantissa = (bits & 0xfffffffffffffUL) | 0x10000000000000UL;
    if (d >= 0x1p127) {
        /* Saturated, as Rust's `as i128`. */
        *lo = ~0UL;
        *hi = 0x7fffffffffffffffUL;
        return;
    }
    if (fabs(d) < 0x1p63) {
        *lo = (ulong)(long)fabs(d);
        *hi = 0UL;
    } else if (exponent >= 64) {
        *lo = 0UL;
        *hi = mantissa << (exponent - 64);
    } else {
        *lo = mantissa << exponent;
        *hi = mantissa >> (64 - exponent);
    }
    if (d < 0.0) {
        *lo = ~*lo + 1UL;
        *hi = ~*hi + (*lo == 0UL ? 1UL : 0UL);
    }
}

/* `x = q pi/2 + y0 + y1` for a finite `x` with |x| >= 1 (Payne and Hanek), as
   `noether_compiler::math::reduce::large` computes it, bit for bit. */
void noether_reduce_large(double x, double *q, double *y0, double *y1) {
    ulong bits = as_ulong(fabs(x));
    long biased = (long)(bits >> 52);
    ulong m = biased == 0 ? bits : (bits & 0xfffffffffffffUL) | 0x10000000000000UL;
    long e = biased == 0 ? -1074L : biased - 1075L;
    long s = max(e - 2L, 0L);
    ulong window[3];
    for (int w = 0; w < 3; w++) {
        ulong word = 0;
        for (long b = 0; b < 64; b++) {
            long i = s + 64 * w + b;
            word = (word << 1) | ((NOETHER_TWO_OVER_PI[i / 64] >> (63 - i % 64)) & 1UL);
        }
        window[w] = word;
    }
    ulong product[4];
    ulong carry = 0;
    for (int k = 0; k < 3; k++) {
        ulong word = window[2 - k];
        ulong low = m * word + carry;
        ulong high = mul_hi(m, word) + (low < carry ? 1UL : 0UL);
        product[k] = low;
        carry = high;
    }
    product[3] = carry;
    long point = s + 192 - e;
    ulong quadrant = noether_bits64(product, point) & 3UL;
    ulong fraction_hi = noether_bits64(product, point - 64);
    ulong fraction_lo = noether_bits64(product, point - 128);
    if (fraction_hi >> 63) quadrant = (quadrant + 1UL) & 3UL;
    double hi = noether_i128_to_double(fraction_hi, fraction_lo);
    ulong rounded_hi, rounded_lo;
    noether_double_to_i128(hi, &rounded_hi, &rounded_lo);
    ulong rest_lo = fraction_lo - rounded_lo;
    ulong rest_hi = fraction_hi - rounded_hi - (fraction_lo < rounded_lo ? 1UL : 0UL);
    double lo = noether_i128_to_double(rest_hi, rest_lo);
    double scale = 0x1p-128;
    double f_hi = hi * scale;
    double f_lo = lo * scale;
    double p = f_hi * PIO2_HI;
    double error = fma(f_hi, PIO2_HI, -p);
    double tail = error + (f_hi * PIO2_LO + f_lo * PIO2_HI);
    double r0 = p + tail;
    double r1 = tail - (r0 - p);
    if (x < 0.0) {
        *q = (double)((4UL - quadrant) & 3UL);
        *y0 = -r0;
        *y1 = -r1;
    } else {
        *q = (double)quadrant;
        *y0 = r0;
        *y1 = r1;
    }
}
