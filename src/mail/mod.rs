//! Mailbox readers for the consent-withdrawal intake (`withdrawals import`), and the
//! outgoing side of `send`: [`outgoing`] builds the e-mails, [`smtp`] delivers them.
//!
//! Three steps of the intake live here, and nothing of its policy:
//!
//! * [`read`] streams raw messages out of a Maildir, an mbox file or single `.eml` files, one
//!   message in memory at a time, in order of receipt;
//! * [`parse`] turns one raw message into the few fields the intake routes, classifies and
//!   verifies on ([`ParsedMail`]), or says why it is not a mail at all ([`Unreadable`]);
//! * [`reply_eml`] writes the German answer as an RFC 5322 message for the outbox.
//!
//! MIME decoding is done by `mail-parser` 0.11; what it does not do the way the intake needs
//! (ordering a Maildir, HTML with block structure and quotes, the first rather than the last
//! `Received:`, refusing garbage it would happily accept) is done here.

pub mod auth_results;
mod html;
pub mod ics;
pub mod imap;
mod mailbox;
mod message;
pub mod outgoing;
mod reply;
pub mod smtp;

#[cfg(test)]
mod tests;

pub use self::mailbox::{Messages, RawMessage, ReadError, Source, read};
pub use self::message::{ParsedMail, Unreadable, hash_key, parse};
pub use self::reply::reply_eml;
