//! SMS gateways for `datenwart send`: one small trait, so another provider can be added
//! beside [`lox24`], the one the shipped policies name as processor.

pub mod lox24;

use crate::domain::delivery::ErrorClass;
use async_trait::async_trait;

/// One SMS as handed to a gateway.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingSms<'a> {
    /// The recipient in E.164 (`+491711234567`).
    pub to: &'a str,
    pub text: &'a str,
    /// The sender shown on the phone: up to 11 letters and digits, or a number.
    pub sender: &'a str,
    /// Our id of the message, the same for every attempt (the notification's Message-ID),
    /// so that a message sent twice can be found at the provider.
    pub our_id: &'a str,
}

/// The provider's id of an accepted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderMessageId(pub String);

/// A failed attempt: its class, whether the rest of this run's SMS should wait too (the
/// account or the gateway is the problem, not this message), and what to log — a status
/// code and a reason, never the number, the text or the key.
#[derive(Debug)]
pub struct SmsError {
    pub class: ErrorClass,
    pub stop: bool,
    pub detail: String,
}

impl SmsError {
    pub fn new(class: ErrorClass, stop: bool, detail: impl Into<String>) -> SmsError {
        SmsError {
            class,
            stop,
            detail: detail.into(),
        }
    }
}

#[async_trait]
pub trait SmsGateway: Send + Sync {
    /// The provider and its base URL, for messages and the audit trail (never the key).
    fn describe(&self) -> String;

    /// Reaches the gateway and checks the key, sending nothing: a gateway that cannot be
    /// reached, or refuses the key, stops the run before any SMS is claimed.
    async fn check(&self) -> Result<(), SmsError>;

    /// Hands one SMS to the gateway; its id when the gateway accepted it.
    async fn send(&self, sms: &OutgoingSms<'_>) -> Result<ProviderMessageId, SmsError>;
}
