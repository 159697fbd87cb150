//! The recommended HMAC-SHA256 challenge binding
//! (draft-httpauth-payment-00 and -01 §"Recommended: HMAC-SHA256 Binding").
//!
//! ```text
//! id = base64url(HMAC-SHA256(server_secret,
//!        realm|method|intent|request_b64url|expires|digest|opaque_b64url))
//! ```
//! All seven slots are always present; absent optional ones are empty.
//! Slots 3 and 6 are the base64url texts as they appear on the wire.
//!
//! Under -01 a challenge with the `header` parameter has an eighth slot.
//! Where it goes is disputed: the pinned -01 text appends it after
//! `opaque` (`…|digest|opaque|header`), while upstream mpp-specs #362, the
//! three SDKs and the official cross-SDK vector put it before `opaque`
//! (`…|digest|header|opaque`). The reference follows #362 and the SDKs;
//! [`BindingSlots::input_text_order`] gives the pinned text's input, so a
//! check can say which text an implementation follows instead of failing
//! either (ambiguity `ambiguity.header-slot-order`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::base64url;
use super::challenge::Challenge;
use super::credential::EchoedChallenge;
use crate::drafts::CoreDraft;

/// The slot values, borrowed from a challenge or given directly.
#[derive(Debug, Clone, Copy)]
pub struct BindingSlots<'a> {
    pub realm: &'a str,
    pub method: &'a str,
    pub intent: &'a str,
    pub request_wire: &'a str,
    pub expires: Option<&'a str>,
    pub digest: Option<&'a str>,
    pub opaque_wire: Option<&'a str>,
    /// -01's `header`; `None` under -00, where it is not bound.
    pub header: Option<&'a str>,
}

impl<'a> BindingSlots<'a> {
    /// The slots of an issued challenge under `draft`.
    pub fn of(c: &'a Challenge, draft: CoreDraft) -> Self {
        Self {
            realm: &c.realm,
            method: &c.method,
            intent: &c.intent,
            request_wire: &c.request.wire,
            expires: c.expires.as_deref(),
            digest: c.digest.as_deref(),
            opaque_wire: c.opaque.as_ref().map(|o| o.wire.as_str()),
            header: c.header().filter(|_| draft.has_header_param()),
        }
    }

    /// The slots as a credential echoed them under `draft`: what a server
    /// recomputes.
    pub fn of_echo(e: &'a EchoedChallenge, draft: CoreDraft) -> Self {
        Self {
            realm: &e.realm,
            method: &e.method,
            intent: &e.intent,
            request_wire: &e.request.wire,
            expires: e.expires.as_deref(),
            digest: e.digest.as_deref(),
            opaque_wire: e.opaque.as_ref().map(|o| o.wire.as_str()),
            header: e.header().filter(|_| draft.has_header_param()),
        }
    }

    /// The pipe-joined HMAC input: seven slots, and under -01 with a
    /// `header` that header before `opaque` (mpp-specs #362, the SDKs).
    pub fn input(&self) -> String {
        let base = self.base();
        let mut slots: Vec<&str> = base[..6].to_vec();
        slots.extend(self.header);
        slots.push(base[6]);
        slots.join("|")
    }

    /// The HMAC input in the order of the pinned -01 text: the header slot
    /// after `opaque`. Equal to [`BindingSlots::input`] without a header.
    pub fn input_text_order(&self) -> String {
        let mut slots = self.base().to_vec();
        slots.extend(self.header);
        slots.join("|")
    }

    fn base(&self) -> [&'a str; 7] {
        [
            self.realm,
            self.method,
            self.intent,
            self.request_wire,
            self.expires.unwrap_or(""),
            self.digest.unwrap_or(""),
            self.opaque_wire.unwrap_or(""),
        ]
    }

    /// The challenge id for `secret`.
    pub fn challenge_id(&self, secret: &[u8]) -> String {
        hmac_id(secret, &self.input())
    }

    /// The id the pinned -01 text's slot order gives (see the module doc).
    pub fn challenge_id_text_order(&self, secret: &[u8]) -> String {
        hmac_id(secret, &self.input_text_order())
    }
}

fn hmac_id(secret: &[u8], input: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(input.as_bytes());
    base64url::encode(mac.finalize().into_bytes())
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
            header: None,
        };
        assert_eq!(slots.input(), "api.example.com|tempo|charge|e30||d|");
        assert_eq!(slots.input_text_order(), slots.input());
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

    #[test]
    fn the_header_slot_goes_before_opaque_or_after_it_in_the_pinned_text() {
        let slots = BindingSlots {
            realm: "r",
            method: "m",
            intent: "i",
            request_wire: "e30",
            expires: None,
            digest: None,
            opaque_wire: Some("o"),
            header: Some("Payment-Authorization"),
        };
        assert_eq!(slots.input(), "r|m|i|e30|||Payment-Authorization|o");
        assert_eq!(
            slots.input_text_order(),
            "r|m|i|e30|||o|Payment-Authorization"
        );
        assert_ne!(
            slots.challenge_id(b"k"),
            slots.challenge_id_text_order(b"k")
        );
    }
}
