//! [`crate::math`]'s functions printed as OpenCL C: the same algorithms over [`Arith`], each
//! operation one statement, so a device computes the bits the interpreter computes.

use std::fmt::Write;

use super::{Precision, literal};
use crate::math::reduce::{PIO2_HI, PIO2_LO, TWO_OVER_PI};
use crate::math::{self, Arith, Bits, EXPONENT_BITS_BASE, POW2_BIAS, SIGNIFICAND_MASK, split_constants};

/// Prints [`Arith`] operations as statements, one fresh variable each.
struct Printer {
    code: String,
    next: usize,
}

impl Printer {
    /// A fresh variable of C type `ty` holding `expression`, by number.
    fn define(&mut self, ty: &str, expression: &str) -> usize {
        let index = self.next;
        self.next += 1;
        writeln!(self.code, "    {ty} t{index} = {expression};").expect("writing to a String");
        index
    }

    /// A fresh `double`.
    fn named(&mut self, expression: &str) -> usize {
        self.define("double", expression)
    }

    /// A fresh flag.
    fn flag(&mut self, expression: &str) -> usize {
        self.define("int", expression)
    }
}

impl Arith for Printer {
    type Num = usize;
    type Cond = usize;

    fn num(&mut self, c: f64) -> usize {
        self.named(&literal(c))
    }
    fn add(&mut self, a: usize, b: usize) -> usize {
        self.named(&format!("t{a} + t{b}"))
    }
    fn sub(&mut self, a: usize, b: usize) -> usize {
        self.named(&format!("t{a} - t{b}"))
    }
    fn mul(&mut self, a: usize, b: usize) -> usize {
        self.named(&format!("t{a} * t{b}"))
    }
    fn mul_add(&mut self, a: usize, b: usize, c: usize) -> usize {
        self.named(&format!("fma(t{a}, t{b}, t{c})"))
    }
    fn div(&mut self, a: usize, b: usize) -> usize {
        self.named(&format!("t{a} / t{b}"))
    }
    fn floor(&mut self, a: usize) -> usize {
        self.named(&format!("floor(t{a})"))
    }
    fn min(&mut self, a: usize, b: usize) -> usize {
        self.named(&format!("noether_min(t{a}, t{b})"))
    }
    fn max(&mut self, a: usize, b: usize) -> usize {
        self.named(&format!("noether_max(t{a}, t{b})"))
    }
    fn abs(&mut self, a: usize) -> usize {
        self.named(&format!("fabs(t{a})"))
    }
    fn sqrt(&mut self, a: usize) -> usize {
        self.named(&format!("sqrt(t{a})"))
    }
    fn neg(&mut self, a: usize) -> usize {
        self.named(&format!("-t{a}"))
    }
    fn less(&mut self, a: usize, b: usize) -> usize {
        self.flag(&format!("t{a} < t{b}"))
    }
    fn equal(&mut self, a: usize, b: usize) -> usize {
        self.flag(&format!("t{a} == t{b}"))
    }
    fn both(&mut self, a: usize, b: usize) -> usize {
        self.flag(&format!("t{a} && t{b}"))
    }
    fn select(&mut self, c: usize, a: usize, b: usize) -> usize {
        self.named(&format!("t{c} ? t{a} : t{b}"))
    }
}

impl Bits for Printer {
    fn pow2(&mut self, n: usize) -> usize {
        self.named(&format!("as_double(as_ulong(t{n} + {}) << 52)", literal(POW2_BIAS)))
    }
    fn exponent(&mut self, a: usize) -> usize {
        let base = format!("{EXPONENT_BITS_BASE:#x}UL");
        self.named(&format!("as_double({base} | ((as_ulong(t{a}) >> 52) & 0x7ffUL)) - {}", literal(POW2_BIAS)))
    }
    fn split_below(&mut self, a: usize, limit: f64) -> [usize; 2] {
        let (offset, half_limit) = split_constants(limit);
        let carried = format!("(as_ulong(t{a}) + {offset:#x}UL)");
        let base = format!("{EXPONENT_BITS_BASE:#x}UL");
        let k = self.named(&format!("as_double({base} | ({carried} >> 52)) - {}", literal(POW2_BIAS)));
        let mask = format!("{SIGNIFICAND_MASK:#x}UL");
        let m = self.named(&format!("as_double(({carried} & {mask}) + {half_limit:#x}UL)"));
        [k, m]
    }
    fn copysign(&mut self, magnitude: usize, sign: usize) -> usize {
        self.named(&format!("copysign(t{magnitude}, t{sign})"))
    }
    fn reduce_large(&mut self, x: usize, large: usize, medium: [usize; 3]) -> [usize; 3] {
        let [q, y0, y1] = medium.map(|m| self.named(&format!("t{m}")));
        writeln!(self.code, "    if (t{large}) noether_reduce_large(t{x}, &t{q}, &t{y0}, &t{y1});")
            .expect("writing to a String");
        [q, y0, y1]
    }
}

/// `double name(double x)` computing `f` by the printed operations.
fn function(name: &str, f: fn(&mut Printer, usize) -> usize) -> String {
    printed(name, 1, |printer| f(printer, 0))
}

/// `double name(double a, double b)` computing `f` by the printed operations.
fn function2(name: &str, f: fn(&mut Printer, usize, usize) -> usize) -> String {
    printed(name, 2, |printer| f(printer, 0, 1))
}

/// A function of `arity` doubles (`t0`, `t1`, ...) whose body `body` prints.
fn printed(name: &str, arity: usize, body: impl FnOnce(&mut Printer) -> usize) -> String {
    let mut printer = Printer { code: String::new(), next: arity };
    let result = body(&mut printer);
    let parameters: Vec<String> = (0..arity).map(|i| format!("double t{i}")).collect();
    format!("double {name}({}) {{\n{}    return t{result};\n}}\n\n", parameters.join(", "), printer.code)
}

/// The OpenCL C definitions of `noether_exp`, `noether_log`, `noether_sin`, ...,
/// `noether_atan2`: in double precision printed from [`crate::math`], with the large reduction
/// they need (`noether_reduce_large`, a port of [`crate::math::reduce::large`]); in single
/// precision the device's own.
pub(super) fn functions(precision: Precision) -> String {
    if precision == Precision::F32 {
        let unary = ["exp", "log", "sin", "cos", "tan", "asin", "acos", "atan", "tanh", "sinh", "cosh"]
            .map(|f| format!("real noether_{f}(real x) {{\n    return {f}(x);\n}}\n\n"));
        let binary =
            ["pow", "atan2"].map(|f| format!("real noether_{f}(real a, real b) {{\n    return {f}(a, b);\n}}\n\n"));
        return unary.concat() + &binary.concat();
    }
    let mut out = reduce_large();
    out.push_str(&function("noether_exp", math::exp));
    out.push_str(&function("noether_log", math::log));
    out.push_str(&function2("noether_pow", math::pow));
    out.push_str(&function("noether_sin", math::sin));
    out.push_str(&function("noether_cos", math::cos));
    out.push_str(&function("noether_tan", math::tan));
    out.push_str(&function("noether_asin", math::asin));
    out.push_str(&function("noether_acos", math::acos));
    out.push_str(&function("noether_atan", math::atan));
    out.push_str(&function2("noether_atan2", math::atan2));
    out.push_str(&function("noether_tanh", math::tanh));
    out.push_str(&function("noether_sinh", math::sinh));
    out.push_str(&function("noether_cosh", math::cosh));
    out
}

/// [`crate::math::reduce::large`] in OpenCL C: the same integer arithmetic on 64-bit words,
/// and conversions of the 128-bit fraction that round as Rust's `i128 as f64` does.
fn reduce_large() -> String {
    let table: Vec<String> = TWO_OVER_PI.iter().map(|w| format!("{w:#018x}UL")).collect();
    format!(
        "__constant ulong NOETHER_TWO_OVER_PI[20] = {{\n    {}\n}};\n\n{}",
        table.join(",\n    "),
        include_str!("reduce.cl").replace("PIO2_HI", &literal(PIO2_HI)).replace("PIO2_LO", &literal(PIO2_LO))
    )
}
