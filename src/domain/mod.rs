//! Pure types and rules: no I/O, unit-tested inline.

pub mod audit;
pub mod booking;
pub mod breach;
pub mod classify;
pub mod client;
pub mod deadline;
pub mod delivery;
pub mod duration;
pub mod holidays;
pub mod identity;
pub mod notice;
pub mod office_days;
pub mod policy;
pub mod redact;
pub mod requests;
pub mod retention;
pub mod service;
pub mod slots;
pub mod sms;
pub mod subject;
pub mod text;
pub mod time;
