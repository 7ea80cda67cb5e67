//! Integration tests, in one binary to keep link time low.

mod cases;
mod cli;
mod deep;
mod examples;
mod gradients;
mod parity;
mod physics;
mod random;
mod robustness;
mod sde;
mod support;
