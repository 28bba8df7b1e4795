//! Pure types and rules: no I/O, unit-tested inline.

pub mod audit;
pub mod duration;
pub mod policy;
pub mod service;
pub mod slots;
pub mod subject;
pub mod time;
