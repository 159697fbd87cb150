//! The recommended HMAC-SHA256 challenge binding
//! (draft-httpauth-payment-00 §"Recommended: HMAC-SHA256 Binding").
//!
//! ```text
//! id = base64url(HMAC-SHA256(server_secret,
//!        realm|method|intent|request_b64url|expires|digest|opaque_b64url))
//! ```
//! All seven slots are always present; absent optional ones are empty.
//! Slots 3 and 6 are the base64url texts as they appear on the wire.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::base64url;
use super::challenge::Challenge;
use super::credential::EchoedChallenge;

/// The seven slot values, borrowed from a challenge or given directly.
#[derive(Debug, Clone, Copy)]
pub struct BindingSlots<'a> {
    pub realm: &'a str,
    pub method: &'a str,
    pub intent: &'a str,
    pub request_wire: &'a str,
    pub expires: Option<&'a str>,
    pub digest: Option<&'a str>,
    pub opaque_wire: Option<&'a str>,
}

impl<'a> BindingSlots<'a> {
    pub fn of(c: &'a Challenge) -> Self {
        Self {
            realm: &c.realm,
            method: &c.method,
            intent: &c.intent,
            request_wire: &c.request.wire,
            expires: c.expires.as_deref(),
            digest: c.digest.as_deref(),
            opaque_wire: c.opaque.as_ref().map(|o| o.wire.as_str()),
        }
    }

    /// The slots as a credential echoed them: what a server recomputes.
    pub fn of_echo(e: &'a EchoedChallenge) -> Self {
        Self {
            realm: &e.realm,
            method: &e.method,
            intent: &e.intent,
            request_wire: &e.request.wire,
            expires: e.expires.as_deref(),
            digest: e.digest.as_deref(),
            opaque_wire: e.opaque.as_ref().map(|o| o.wire.as_str()),
        }
    }

    /// The pipe-joined HMAC input.
    pub fn input(&self) -> String {
        [
            self.realm,
            self.method,
            self.intent,
            self.request_wire,
            self.expires.unwrap_or(""),
            self.digest.unwrap_or(""),
            self.opaque_wire.unwrap_or(""),
        ]
        .join("|")
    }

    /// The challenge id for `secret`.
    pub fn challenge_id(&self, secret: &[u8]) -> String {
        // HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(self.input().as_bytes());
        base64url::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_slots_with_empty_optionals() {
        let slots = BindingSlots {
            realm: "api.example.com",
            method: "tempo",
            intent: "charge",
            request_wire: "e30",
            expires: None,
            digest: Some("d"),
            opaque_wire: None,
        };
        assert_eq!(slots.input(), "api.example.com|tempo|charge|e30||d|");
        let id = slots.challenge_id(b"secret");
        assert_eq!(id.len(), 43);
        assert_ne!(
            id,
            BindingSlots {
                digest: None,
                ..slots
            }
            .challenge_id(b"secret")
        );
    }
}
