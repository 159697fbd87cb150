//! draft-card-charge-00 offline: what a credential's `encryptedPayload`
//! shows without the server's private key. §"Encrypted Payload Format"
//! and §"Encryption Key" fix the JWE's compact form, its protected header
//! (`alg` RSA-OAEP-256 and the offered key's, `enc` A256GCM, the offered
//! key's `kid`, no `zip`), a 96-bit IV and, with AES-256-GCM, a 128-bit
//! tag; and an RSA-OAEP encrypted key is exactly as long as the key's
//! modulus, so a CEK encrypted to any other key (or none: `dir`) shows in
//! its length ([`verify_jwe`]). With the offered key's private half
//! ([`decrypt_jwe`]: mppconf's own key, offered by the client suite, or a
//! vector's), the JWE is decrypted and its plaintext judged: a minified
//! JSON object with the `token` (§"Token Data") and `dynamicData`
//! (§"Dynamic Data") a server needs.
//!
//! The draft says both that "Client and server MUST NOT parse the
//! `encryptedPayload` field" and that "The Server Enabler decrypts the
//! JWE"; reading the header a client produced is what every JWE library
//! does before decrypting, so it is judged here as the client's
//! obligation (§"Encrypted Payload Format": "The JWE protected header MUST
//! contain").

use aes_gcm::aead::{Aead, KeyInit, Payload};
use rsa::BoxedUint;
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};

use crate::codec::base64url;
use crate::error::{Error, Result};

const OP: &str = "card.jwe.verify";

const DECRYPT_OP: &str = "card.jwe.decrypt";

/// §"Encryption Key": the only key management algorithm.
const ALG: &str = "RSA-OAEP-256";

/// §"Encrypted Payload Format": the only content encryption.
const ENC: &str = "A256GCM";

fn fail(requirement: &'static str, reason: impl Into<String>) -> Error {
    Error::PayloadSchema {
        requirement,
        path: "$.payload.encryptedPayload".into(),
        reason: reason.into(),
    }
}

fn bad_input(reason: impl Into<String>) -> Error {
    Error::BadOpInput {
        op: OP.into(),
        reason: reason.into(),
    }
}

fn plaintext_fail(requirement: &'static str, path: &str, reason: impl Into<String>) -> Error {
    Error::PayloadSchema {
        requirement,
        path: format!("$.payload.encryptedPayload(decrypted){path}"),
        reason: reason.into(),
    }
}

/// The key a client must encrypt to, resolved from the request as
/// §"Encryption Key" says: the embedded `encryptionJwk` (its `kid`, `alg`
/// and modulus), or with `jwksUri` the top-level `kid` (the key itself is
/// in a JWK Set this offline check does not fetch).
struct OfferedKey<'a> {
    kid: &'a str,
    /// The modulus (big-endian, without leading zeros), when the key is
    /// embedded.
    modulus: Option<Vec<u8>>,
}

impl<'a> OfferedKey<'a> {
    fn of(request: &'a Value) -> Result<Self> {
        let details = request
            .get("methodDetails")
            .and_then(Value::as_object)
            .ok_or_else(|| bad_input("request has no methodDetails object"))?;
        if let Some(jwk) = details.get("encryptionJwk").and_then(Value::as_object) {
            let kid = jwk
                .get("kid")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_input("request's encryptionJwk has no kid"))?;
            let n = jwk
                .get("n")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_input("request's encryptionJwk has no n"))?;
            let modulus = base64url::decode("n", n)
                .map_err(|_| bad_input("request's encryptionJwk.n is not base64url"))?;
            // An encoder that left a leading zero octet does not make the
            // key longer.
            return Ok(Self {
                kid,
                modulus: Some(unsigned(&modulus).to_vec()),
            });
        }
        let kid = details
            .get("kid")
            .and_then(Value::as_str)
            .filter(|_| details.contains_key("jwksUri"))
            .ok_or_else(|| {
                bad_input("request names no key: neither encryptionJwk nor jwksUri with kid")
            })?;
        Ok(Self { kid, modulus: None })
    }
}

/// What a JWE shows without the private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JweShape {
    pub kid: String,
    pub encrypted_key_len: usize,
    pub ciphertext_len: usize,
    /// Whether the encrypted key's length was checked against an embedded
    /// key's modulus (not with `jwksUri`).
    pub key_length_checked: bool,
}

/// Judges `encrypted` (a credential's `encryptedPayload`) against the key
/// `request` offers, in the order a server's JWE library reads it.
pub fn verify_jwe(request: &Value, encrypted: &str) -> Result<JweShape> {
    let key = OfferedKey::of(request)?;
    let parts: Vec<&str> = encrypted.split('.').collect();
    let [header, encrypted_key, iv, ciphertext, tag] = parts.as_slice() else {
        return Err(fail(
            "card-charge.jwe.compact-assembly",
            format!(
                "{} dot-separated parts, not the five of a JWE compact serialization",
                parts.len()
            ),
        ));
    };
    let segment = |name: &'static str, text: &str| {
        base64url::decode(name, text).map_err(|e| {
            fail(
                "card-charge.jwe.compact-assembly",
                format!("the {name} part is not base64url without padding ({e})"),
            )
        })
    };
    let header_bytes = segment("protected header", header)?;
    let header: Map<String, Value> = serde_json::from_slice(&header_bytes).map_err(|e| {
        fail(
            "card-charge.encrypted.protected-header",
            format!("the protected header is not a JSON object ({e})"),
        )
    })?;
    let field = |name: &str| -> Result<&str> {
        header.get(name).and_then(Value::as_str).ok_or_else(|| {
            fail(
                "card-charge.jwe.header-alg-enc-kid",
                format!("the protected header has no string {name:?}"),
            )
        })
    };
    let (alg, enc, kid) = (field("alg")?, field("enc")?, field("kid")?);
    if alg == "RSA1_5" || alg == "dir" {
        return Err(fail(
            "card-charge.jwe.no-pkcs1",
            format!("alg {alg:?}: PKCS#1 v1.5 padding or direct encryption"),
        ));
    }
    if alg != ALG {
        return Err(fail(
            "card-charge.encrypted.alg-match",
            format!("alg {alg:?} is not the offered key's {ALG:?}"),
        ));
    }
    if enc != ENC {
        return Err(fail(
            "card-charge.encrypted.enc-a256gcm",
            format!("enc {enc:?} is not {ENC:?}"),
        ));
    }
    if kid != key.kid {
        return Err(fail(
            "card-charge.encrypted.kid-match",
            format!("kid {kid:?} is not the offered key's {:?}", key.kid),
        ));
    }
    if header.contains_key("zip") {
        return Err(fail(
            "card-charge.encrypted.no-zip",
            format!("the protected header has zip {}", header["zip"]),
        ));
    }
    let encrypted_key = segment("encrypted key", encrypted_key)?;
    if let Some(modulus_len) = key.modulus.as_ref().map(Vec::len)
        && encrypted_key.len() != modulus_len
    {
        return Err(fail(
            "card-charge.jwe.cek-rsa-oaep-256",
            format!(
                "the encrypted key is {} bytes, the offered key's modulus {modulus_len}: the CEK was not RSA-OAEP encrypted to that key",
                encrypted_key.len()
            ),
        ));
    }
    let iv = segment("initialization vector", iv)?;
    if iv.len() != 12 {
        return Err(fail(
            "card-charge.jwe.iv-96",
            format!("the IV is {} bits, not 96", iv.len() * 8),
        ));
    }
    let ciphertext = segment("ciphertext", ciphertext)?;
    let tag = segment("authentication tag", tag)?;
    if tag.len() != 16 {
        // RFC 7518 §5.3: AES GCM's authentication tag is 128 bits.
        return Err(fail(
            "card-charge.jwe.compact-rsa-oaep-a256gcm",
            format!(
                "the authentication tag is {} bits, not the 128 of A256GCM",
                tag.len() * 8
            ),
        ));
    }
    Ok(JweShape {
        kid: kid.to_string(),
        encrypted_key_len: encrypted_key.len(),
        ciphertext_len: ciphertext.len(),
        key_length_checked: key.modulus.is_some(),
    })
}

/// `card.jwe.verify`: `{request, encryptedPayload}` → `{kid,
/// encryptedKeyBytes, ciphertextBytes, keyLengthChecked}`.
pub fn verify_jwe_op(input: &Value) -> Result<Value> {
    let request = input
        .get("request")
        .ok_or_else(|| bad_input("input needs \"request\""))?;
    let encrypted = input
        .get("encryptedPayload")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_input("input needs a string \"encryptedPayload\""))?;
    let shape = verify_jwe(request, encrypted)?;
    Ok(json!({
        "kid": shape.kid,
        "encryptedKeyBytes": shape.encrypted_key_len,
        "ciphertextBytes": shape.ciphertext_len,
        "keyLengthChecked": shape.key_length_checked,
    }))
}

const ORIGIN_OP: &str = "card.jwks_uri.origin";

/// What [`jwks_origin`] refuses a `jwksUri` under.
pub const ORIGIN_REQUIREMENT: &str = "card-charge.key.jwks-same-origin";

/// Where a card request's `jwksUri` stands against the challenge's realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksOrigin {
    /// No `jwksUri` (the key is embedded, or the request rules say what is
    /// missing).
    Absent,
    /// `https://` on the realm's host and the default port.
    SameOrigin,
    /// The realm is not a host name, so it has no origin to compare with
    /// (ambiguity.card-charge-realm-origin: info, not a verdict).
    RealmNotHost,
}

impl JwksOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Absent => "absent",
            Self::SameOrigin => "same-origin",
            Self::RealmNotHost => "realm-not-host",
        }
    }
}

/// §"Encryption Key": "The `jwksUri` MUST be on the same origin as the
/// challenge realm." A realm is a protection-space string, not an origin;
/// as ambiguity.card-charge-realm-origin resolves it, a realm that is a
/// host name gives the origin `https://<realm>` on the default port, and
/// a `jwksUri` on another scheme, host or port is refused (a server that
/// points clients at a key set elsewhere has them encrypt card data to
/// whoever holds it).
pub fn jwks_origin(realm: &str, request: &Value) -> Result<JwksOrigin> {
    let Some(uri) = request
        .pointer("/methodDetails/jwksUri")
        .and_then(Value::as_str)
    else {
        return Ok(JwksOrigin::Absent);
    };
    let realm_host = fluent_uri::Uri::parse(format!("https://{realm}/").as_str())
        .ok()
        .and_then(|u| {
            let a = u.authority()?;
            (a.userinfo().is_none() && a.port().is_none() && a.host().eq_ignore_ascii_case(realm))
                .then(|| a.host().to_ascii_lowercase())
        });
    let Some(realm_host) = realm_host.filter(|h| !h.is_empty()) else {
        return Ok(JwksOrigin::RealmNotHost);
    };
    let off_origin = |reason: String| Error::RequestSchema {
        requirement: ORIGIN_REQUIREMENT,
        path: "$.methodDetails.jwksUri".into(),
        reason,
    };
    let parsed = fluent_uri::Uri::parse(uri).map_err(|e| Error::RequestSchema {
        requirement: "card-charge.request.jwks-uri",
        path: "$.methodDetails.jwksUri".into(),
        reason: format!("{uri:?} is not an RFC 3986 URI ({e})"),
    })?;
    let origin = format!("https://{realm_host}");
    if !parsed.scheme().as_str().eq_ignore_ascii_case("https") {
        return Err(off_origin(format!(
            "{uri:?} is not on the realm's origin {origin} (scheme)"
        )));
    }
    let Some(authority) = parsed.authority() else {
        return Err(off_origin(format!(
            "{uri:?} names no host; the realm's origin is {origin}"
        )));
    };
    if !authority.host().eq_ignore_ascii_case(&realm_host) {
        return Err(off_origin(format!(
            "{uri:?} is on host {:?}, not the realm's origin {origin}",
            authority.host()
        )));
    }
    // RFC 9110 §4.2.4: no userinfo in an https URI; it only serves to
    // make another host read like the realm.
    if authority.userinfo().is_some() {
        return Err(Error::RequestSchema {
            requirement: "card-charge.request.jwks-uri",
            path: "$.methodDetails.jwksUri".into(),
            reason: format!("{uri:?} has userinfo, which an https URI must not (RFC 9110 §4.2.4)"),
        });
    }
    match authority.port_to_u16() {
        Ok(None | Some(443)) => Ok(JwksOrigin::SameOrigin),
        _ => Err(off_origin(format!(
            "{uri:?} is on port {}, not the realm's origin {origin} (port 443)",
            authority.port().map_or("", |p| p.as_str())
        ))),
    }
}

/// `card.jwks_uri.origin`: `{realm, request}` → `{origin}` (`absent`,
/// `same-origin` or `realm-not-host`); a `jwksUri` off the realm's origin
/// is refused.
pub fn jwks_origin_op(input: &Value) -> Result<Value> {
    let bad = |reason: &str| Error::BadOpInput {
        op: ORIGIN_OP.into(),
        reason: reason.into(),
    };
    let realm = input
        .get("realm")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("input needs a string \"realm\""))?;
    let request = input
        .get("request")
        .ok_or_else(|| bad("input needs \"request\""))?;
    Ok(json!({ "origin": jwks_origin(realm, request)?.as_str() }))
}

/// The private half of the key a card request offers: what decrypts the
/// client's JWE.
pub struct DecryptionKey(rsa::PrivateKey);

impl DecryptionKey {
    /// A fresh 2048-bit key and its public JWK under `kid`, as a server
    /// offers it in `methodDetails.encryptionJwk` (§"Encryption Key").
    pub fn generate(kid: &str) -> Result<(Self, Value)> {
        let mut rng = rsa::rand_core::UnwrapErr(getrandom::SysRng);
        let key = rsa::PrivateKey::new(&mut rng, 2048).map_err(|e| Error::BadOpInput {
            op: DECRYPT_OP.into(),
            reason: format!("cannot generate an RSA key ({e})"),
        })?;
        let public = json!({
            "kty": "RSA",
            "kid": kid,
            "use": "enc",
            "alg": ALG,
            "n": base64url::encode(unsigned(&key.n().to_be_bytes())),
            "e": base64url::encode(unsigned(&key.e().to_be_bytes())),
        });
        Ok((Self(key), public))
    }

    /// From a private JWK (RFC 7518 §6.3.2: `n`, `e`, `d`, `p`, `q`).
    pub fn from_jwk(jwk: &Value) -> Result<Self> {
        let bad = |reason: String| Error::BadOpInput {
            op: DECRYPT_OP.into(),
            reason,
        };
        let part = |name: &'static str| -> Result<BoxedUint> {
            let text = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("privateJwk has no string {name:?}")))?;
            let bytes = base64url::decode(name, text)
                .map_err(|_| bad(format!("privateJwk.{name} is not base64url")))?;
            Ok(BoxedUint::from_be_slice_vartime(&bytes))
        };
        rsa::PrivateKey::from_components(
            part("n")?,
            part("e")?,
            part("d")?,
            vec![part("p")?, part("q")?],
        )
        .map(Self)
        .map_err(|e| bad(format!("privateJwk is not an RSA private key ({e})")))
    }

    fn modulus(&self) -> Vec<u8> {
        unsigned(&self.0.n().to_be_bytes()).to_vec()
    }
}

/// Big-endian bytes without leading zeros (RFC 7518 §6.3.1.1).
fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// §"Dynamic Data": the cryptogram types.
const DYNAMIC_DATA_TYPES: [&str; 4] = [
    "CARD_APPLICATION_CRYPTOGRAM_SHORT_FORM",
    "CARD_APPLICATION_CRYPTOGRAM_LONG_FORM",
    "CARDHOLDER_AUTHENTICATION_CRYPTOGRAM",
    "NONE",
];

/// What a decrypted card JWE carries, without the token's values (a
/// network token number does not belong in a report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub shape: JweShape,
    pub dynamic_data_type: String,
    /// SHOULD-level findings (a numeric-string `dynamicDataExpiration`).
    pub warnings: Vec<&'static str>,
}

/// A bad input met by the steps [`decrypt_jwe`] shares with
/// [`verify_jwe`], named as the decrypting operation's.
fn as_decrypt_input(e: Error) -> Error {
    match e {
        Error::BadOpInput { reason, .. } => Error::BadOpInput {
            op: DECRYPT_OP.into(),
            reason,
        },
        other => other,
    }
}

/// Judges `encrypted` as [`verify_jwe`] does, then decrypts it with `key`
/// (the private half of the key `request` offers) as §"Encrypted Payload
/// Format" says a Server Enabler does, and judges the plaintext.
pub fn decrypt_jwe(request: &Value, encrypted: &str, key: &DecryptionKey) -> Result<Decrypted> {
    let shape = verify_jwe(request, encrypted).map_err(as_decrypt_input)?;
    if let Some(offered) = OfferedKey::of(request).map_err(as_decrypt_input)?.modulus
        && offered != key.modulus()
    {
        return Err(Error::BadOpInput {
            op: DECRYPT_OP.into(),
            reason: "the private key is not the one the request offers".into(),
        });
    }
    // verify_jwe read five base64url parts, a 96-bit IV and a 128-bit tag.
    let parts: Vec<Vec<u8>> = encrypted
        .split('.')
        .skip(1)
        .map(|p| base64url::decode("JWE part", p))
        .collect::<Result<_>>()?;
    let header = encrypted.split('.').next().unwrap_or_default();
    let [encrypted_key, iv, ciphertext, tag] = parts.as_slice() else {
        unreachable!("verify_jwe accepted five parts");
    };
    let cek = key
        .0
        .decrypt(rsa::Oaep::<sha2_011::Sha256>::new(), encrypted_key)
        .map_err(|_| {
            fail(
                "card-charge.jwe.cek-rsa-oaep-256",
                "the encrypted key does not unwrap under RSA-OAEP-256 (SHA-256) with the offered key",
            )
        })?;
    if cek.len() != 32 {
        return Err(fail(
            "card-charge.jwe.cek-256",
            format!(
                "the content encryption key is {} bits, not 256",
                cek.len() * 8
            ),
        ));
    }
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&cek).expect("a 256-bit key");
    let nonce =
        aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::try_from(iv.as_slice()).expect("a 96-bit IV");
    let sealed = [ciphertext.as_slice(), tag.as_slice()].concat();
    let plaintext = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed,
                aad: header.as_bytes(),
            },
        )
        .map_err(|_| {
            fail(
                "card-charge.jwe.compact-rsa-oaep-a256gcm",
                "the content does not authenticate under AES-256-GCM with the CEK and the protected header as additional data",
            )
        })?;
    let (dynamic_data_type, warnings) = judge_plaintext(&plaintext)?;
    Ok(Decrypted {
        shape,
        dynamic_data_type,
        warnings,
    })
}

/// Whether JSON text has whitespace outside its strings.
fn has_insignificant_whitespace(text: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b' ' | b'\t' | b'\n' | b'\r') => return true,
            _ => {}
        }
    }
    false
}

/// §"Encrypted Payload Format", §"Token Data", §"Dynamic Data": the
/// plaintext's type, fields and formats. Returns the cryptogram type and
/// the SHOULD-level findings. Public for the fuzzer: the plaintext is the
/// one part of a card credential mppconf parses as JSON.
pub fn judge_plaintext(plaintext: &[u8]) -> Result<(String, Vec<&'static str>)> {
    let minified = "card-charge.encrypted.minified-json";
    let text = std::str::from_utf8(plaintext)
        .map_err(|_| plaintext_fail(minified, "", "the plaintext is not UTF-8"))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| plaintext_fail(minified, "", format!("the plaintext is not JSON ({e})")))?;
    let object = value
        .as_object()
        .ok_or_else(|| plaintext_fail(minified, "", "the plaintext is not a JSON object"))?;
    if has_insignificant_whitespace(text) {
        return Err(plaintext_fail(
            minified,
            "",
            "the plaintext JSON is not minified: whitespace outside its strings",
        ));
    }
    let member = |name: &str| {
        object.get(name).and_then(Value::as_object).ok_or_else(|| {
            plaintext_fail(
                "card-charge.encrypted.plaintext-fields",
                &format!(".{name}"),
                format!("the plaintext has no {name} object"),
            )
        })
    };
    let (token, dynamic) = (member("token")?, member("dynamicData")?);
    let token_field = |name: &str, format: Option<(usize, &str)>| -> Result<()> {
        let path = format!(".token.{name}");
        let text = token.get(name).and_then(Value::as_str).ok_or_else(|| {
            plaintext_fail(
                "card-charge.token.fields",
                &path,
                format!("token has no string {name}"),
            )
        })?;
        match format {
            Some((digits, what))
                if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Err(plaintext_fail(
                    "card-charge.token.fields",
                    &path,
                    format!("{name} {text:?} is not {what}"),
                ))
            }
            _ => Ok(()),
        }
    };
    token_field("paymentToken", None)?;
    token_field("tokenExpirationMonth", Some((2, "a two-digit month")))?;
    token_field("tokenExpirationYear", Some((4, "a four-digit year")))?;
    token_field("eci", None)?;
    let kind = dynamic
        .get("dynamicDataType")
        .and_then(Value::as_str)
        .filter(|t| DYNAMIC_DATA_TYPES.contains(t))
        .ok_or_else(|| {
            plaintext_fail(
                "card-charge.dynamic.type",
                ".dynamicData.dynamicDataType",
                format!(
                    "dynamicDataType {} is not one of {}",
                    dynamic.get("dynamicDataType").unwrap_or(&Value::Null),
                    DYNAMIC_DATA_TYPES.join(", ")
                ),
            )
        })?;
    // ambiguity.card-charge-dynamic-data: REQUIRED, yet "MUST be provided
    // when dynamicDataType is not NONE".
    if kind != "NONE"
        && dynamic
            .get("dynamicDataValue")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(plaintext_fail(
            "card-charge.dynamic.value",
            ".dynamicData.dynamicDataValue",
            format!("no cryptogram (dynamicDataValue) with dynamicDataType {kind}"),
        ));
    }
    // ambiguity.card-charge-dynamic-data: "Unix Epoch Format", no JSON
    // type; the example is a number, a numeric string warns.
    let mut warnings = Vec::new();
    match dynamic.get("dynamicDataExpiration") {
        Some(Value::Number(n)) if n.is_u64() => {}
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            warnings.push("card-charge.dynamic.expiration");
        }
        other => {
            return Err(plaintext_fail(
                "card-charge.dynamic.expiration",
                ".dynamicData.dynamicDataExpiration",
                format!(
                    "dynamicDataExpiration {} is not Unix epoch seconds",
                    other.unwrap_or(&Value::Null)
                ),
            ));
        }
    }
    Ok((kind.to_string(), warnings))
}

/// `card.jwe.decrypt`: `{request, encryptedPayload, privateJwk}` →
/// `{kid, dynamicDataType, warnings}`.
pub fn decrypt_jwe_op(input: &Value) -> Result<Value> {
    let bad = |reason: &str| Error::BadOpInput {
        op: DECRYPT_OP.into(),
        reason: reason.into(),
    };
    let request = input
        .get("request")
        .ok_or_else(|| bad("input needs \"request\""))?;
    let encrypted = input
        .get("encryptedPayload")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("input needs a string \"encryptedPayload\""))?;
    let key = DecryptionKey::from_jwk(
        input
            .get("privateJwk")
            .ok_or_else(|| bad("input needs \"privateJwk\""))?,
    )?;
    let decrypted = decrypt_jwe(request, encrypted, &key)?;
    Ok(json!({
        "kid": decrypted.shape.kid,
        "dynamicDataType": decrypted.dynamic_data_type,
        "warnings": decrypted.warnings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bad request met while decrypting is reported under the
    /// operation that was asked, not the verify step it shares.
    #[test]
    fn a_request_without_a_key_is_a_bad_input_of_the_decrypt_op() {
        let file: Value =
            serde_json::from_str(include_str!("../../../vectors/card-charge/decrypt.json"))
                .unwrap();
        let mut input = file["cases"][0]["input"].clone();
        input["request"]["methodDetails"]
            .as_object_mut()
            .unwrap()
            .remove("encryptionJwk");
        let err = decrypt_jwe_op(&input).unwrap_err().to_string();
        assert!(err.starts_with("input of card.jwe.decrypt: "), "{err}");
        assert!(err.contains("names no key"), "{err}");
    }
}
