/* The device computes what the IR says: no fused multiply-adds it did not ask for. */
#pragma OPENCL FP_CONTRACT OFF

/* Binary::Min and Binary::Max: NaN if either is NaN; min(-0, 0) = -0, max(-0, 0) = 0. */
real noether_min(real a, real b) {
    if (isnan(a) || isnan(b)) return NAN;
    return (a < b || (a == b && signbit(a))) ? a : b;
}

real noether_max(real a, real b) {
    if (isnan(a) || isnan(b)) return NAN;
    return (a > b || (a == b && !signbit(a))) ? a : b;
}

/* -1, 0 or 1; NaN stays NaN and a zero keeps its sign. */
real noether_sign(real x) {
    return x > 0 ? 1 : (x < 0 ? -1 : x);
}

/* ops::powi: binary exponentiation over the bits of |n| from the lowest, the first factor
   taken as it is, then a reciprocal for negative n. */
real noether_powi(real x, int n) {
    real result = 1;
    int have = 0;
    real base = x;
    uint bits = n < 0 ? (uint)(-(long)n) : (uint)n;
    while (bits > 0) {
        if (bits & 1) {
            result = have ? result * base : base;
            have = 1;
        }
        bits >>= 1;
        if (bits > 0) base *= base;
    }
    return n < 0 ? 1 / result : result;
}

/* ops::to_word: `x as i64 as u32` (saturating at the ends of i64, NaN to 0). */
uint noether_to_word(real x) {
    long n;
    if (isnan(x)) n = 0;
    else if (x >= 0x1p63f) n = 0x7fffffffffffffffL;
    else if (x < -0x1p63f) n = (long)0x8000000000000000UL;
    else n = (long)x;
    return (uint)n;
}

/* Node::Unit: (k + 1/2) 2^-52 for the top 52 bits k of hi:lo, each step exact. */
real noether_unit(uint hi, uint lo) {
    real k = (real)hi * 0x1p20 + floor((real)lo * 0x1p-12);
    return (k + 0.5) * 0x1p-52;
}

/* Access::resolve for the rules that always find a position. */
long noether_periodic(long x, long n) {
    long m = x % n;
    return m < 0 ? m + n : m;
}

long noether_clamp(long x, long n) {
    return x < 0 ? 0 : (x >= n ? n - 1 : x);
}

long noether_reflect(long x, long n) {
    if (x >= 0 && x < n) return x;
    if (n == 1) return 0;
    long period = 2 * (n - 1);
    long m = noether_periodic(x, period);
    return m < n ? m : period - m;
}

/* Sets one element: how the engine writes the clock's scalars between steps without waiting
   for the queue (a blocking write would). */
__kernel void noether_set_element(__global real *buffer, ulong index, real value) {
    buffer[index] = value;
}

/* Whether every element of `values` is finite: work item `i` clears `*finite` if element `i`
   is not (the NaN guard reads one flag). */
__kernel void noether_check_finite(__global const real *values, __global int *finite) {
    if (!isfinite(values[get_global_id(0)])) *finite = 0;
}

