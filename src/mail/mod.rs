//! Mailbox readers (Maildir, mbox, `.eml`) for the consent-withdrawal intake.
//!
//! Empty in this release: the intake arrives with the withdrawals issue. The schema it
//! writes to (inbox messages, requests, consents) is already in place.
