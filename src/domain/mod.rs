//! Pure rules of the product: no I/O here, so every rule can be unit-tested on its own.
pub mod audit;
pub mod policy;
pub mod role;
pub mod token;
