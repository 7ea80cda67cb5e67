//! Integration tests, in one binary to keep link time low.

mod big_input;
mod cases;
mod cli;
mod docs;
mod embed;
mod examples;
mod filters;
mod fmt;
mod fractional;
mod gradients;
mod guards;
mod math;
mod md;
mod modes;
mod nn;
#[cfg(feature = "opencl")]
mod opencl;
mod parity;
mod physics;
mod plot;
mod random;
mod robustness;
mod sampling;
mod sde;
mod stream;
mod support;
mod threads;
