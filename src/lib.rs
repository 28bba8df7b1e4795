//! datenwart: the booking store of a municipal online appointment service and the
//! data-protection officer's tool for the GDPR over it.
//!
//! Layers: [`cli`] parses and renders, [`ops`] holds the use cases, [`domain`] the pure
//! types and rules, [`store`] the SQLite and PostgreSQL I/O behind one trait, [`http`] the
//! booking endpoint, [`mail`] the mailbox readers and the SMTP side of delivery,
//! [`sms`] the SMS gateways, and [`pdf`] the letters' PDF form.

pub mod cli;
pub mod domain;
pub mod http;
pub mod mail;
pub mod ops;
pub mod pdf;
pub mod sms;
pub mod store;
