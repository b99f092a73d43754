//! Support for the arbitrage tests and benchmark: the real exchangeInfo read without the venue
//! adapter (storm-venues is not a dependency of storm-core), exact rationals, and the brute force
//! the evaluator is checked against.
#![allow(dead_code)]

pub mod brute;
pub mod exact;
pub mod exchange_info;
