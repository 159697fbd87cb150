//! The `WWW-Authenticate: Payment` challenge
//! (draft-httpauth-payment-00 §"Challenge (WWW-Authenticate)").

use serde_json::{Map, Value};

use super::auth_params::{self, RawChallenge, RawParam};
use super::json::{EncodedJson, require_flat_string_map};
use super::{content_digest, rfc3339};
use crate::drafts::CoreDraft;
use crate::error::{Error, Result};

/// A validated Payment challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub id: String,
    pub realm: String,
    pub method: String,
    pub intent: String,
    pub request: EncodedJson,
    pub expires: Option<String>,
    pub digest: Option<String>,
    pub description: Option<String>,
    pub opaque: Option<EncodedJson>,
    /// Parameters draft-httpauth-payment-00 does not define, in wire
    /// order. Clients must ignore them (§"Optional Parameters"); they are
    /// kept so that a parsed challenge formats back to the same parameters.
    /// The `header` parameter of draft-httpauth-payment-01 is one of them
    /// (see [`Challenge::header`]): what it means depends on the draft a
    /// run judges against.
    pub unknown_params: Vec<(String, String)>,
}

/// The only value draft-httpauth-payment-01 allows for the `header`
/// parameter (§"Optional Parameters", §"Credentials").
pub const PAYMENT_AUTHORIZATION: &str = "Payment-Authorization";

/// A -01 `header` value: exactly [`PAYMENT_AUTHORIZATION`].
pub fn validate_header(value: &str) -> Result<()> {
    if value == PAYMENT_AUTHORIZATION {
        return Ok(());
    }
    Err(Error::InvalidCredentialHeader {
        value: value.to_string(),
    })
}

/// The parameters this draft defines, in the order [`Challenge::to_header`] writes them.
pub const KNOWN_PARAMS: [&str; 9] = [
    "id",
    "realm",
    "method",
    "intent",
    "request",
    "expires",
    "digest",
    "description",
    "opaque",
];

/// The outcome for each Payment challenge of a `WWW-Authenticate` field
/// list, in order; challenges of other schemes are skipped.
pub fn parse_all<S: AsRef<str>>(fields: &[S]) -> Result<Vec<Result<Challenge>>> {
    let mut out = Vec::new();
    for field in fields {
        for raw in auth_params::parse_field(field.as_ref())? {
            if raw.scheme.eq_ignore_ascii_case("payment") {
                out.push(Challenge::from_owned(raw));
            }
        }
    }
    Ok(out)
}

/// The value of the parameter named `name` (lowercase).
fn find<'p>(params: &'p [RawParam], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_ref())
}

/// A challenge read leniently, and the syntax slips tolerated in it.
pub type Lenient = (Challenge, Vec<String>);

/// [`parse_all`], read leniently: a challenge the strict codec refuses for
/// a syntax slip (a missing or empty `id` or `realm`, a method or intent
/// outside its grammar, a padded or standard-alphabet `request`, an
/// `expires`, `digest` or `opaque` that does not parse) is kept, with
/// every slip tolerated named. What is tolerated is kept as it came
/// (`wire`, `method`, …), so that echoing it is byte for byte. Only a
/// challenge with no decodable `request` object is still refused: there
/// is nothing to pay.
pub fn parse_all_lenient<S: AsRef<str>>(fields: &[S]) -> Result<Vec<Result<Lenient>>> {
    let mut out = Vec::new();
    for field in fields {
        for raw in auth_params::parse_field(field.as_ref())? {
            if raw.scheme.eq_ignore_ascii_case("payment") {
                out.push(Challenge::from_raw_lenient(&raw));
            }
        }
    }
    Ok(out)
}

impl Challenge {
    /// [`Challenge::from_raw`], tolerating syntax slips (see
    /// [`parse_all_lenient`]); the slips tolerated, empty when the
    /// challenge is strictly valid.
    pub fn from_raw_lenient(raw: &RawChallenge) -> Result<Lenient> {
        if let Ok(c) = Self::from_raw(raw) {
            return Ok((c, Vec::new()));
        }
        let get = |name: &str| find(&raw.params, name);
        let mut slips = Vec::new();
        let text = |name: &'static str, slips: &mut Vec<String>| match get(name) {
            Some("") => {
                slips.push(format!("empty {name}"));
                String::new()
            }
            Some(v) => v.to_string(),
            None => {
                slips.push(format!("no {name}"));
                String::new()
            }
        };
        let id = text("id", &mut slips);
        let realm = text("realm", &mut slips);
        let method = text("method", &mut slips);
        if !method.is_empty() && validate_method(&method).is_err() {
            slips.push(format!("method {method:?} is not lowercase letters"));
        }
        let intent = text("intent", &mut slips);
        if !intent.is_empty() && validate_intent(&intent).is_err() {
            slips.push(format!("intent {intent:?} is outside its grammar"));
        }
        let wire = get("request").ok_or(Error::MissingParam { name: "request" })?;
        let request = match EncodedJson::decode_object("request", wire) {
            Ok(r) => r,
            Err(strict) => {
                // Padding and the standard alphabet, decoded as they came.
                let relaxed = wire
                    .trim_end_matches('=')
                    .replace('+', "-")
                    .replace('/', "_");
                let decoded =
                    EncodedJson::decode_object("request", &relaxed).map_err(|_| strict)?;
                slips.push("request is not base64url without padding".into());
                EncodedJson {
                    wire: wire.to_string(),
                    value: decoded.value,
                }
            }
        };
        let expires = get("expires");
        if let Some(e) = expires
            && rfc3339::parse("expires", e).is_err()
        {
            slips.push(format!("expires {e:?} is not RFC 3339"));
        }
        let digest = get("digest");
        if let Some(d) = digest
            && content_digest::parse(d).is_err()
        {
            slips.push("digest does not parse".into());
        }
        let opaque = match get("opaque") {
            None => None,
            Some(wire) => match decode_opaque(wire) {
                Ok(o) => Some(o),
                // Kept as it came, to be echoed as it came.
                Err(_) => {
                    slips.push("opaque does not parse".into());
                    Some(EncodedJson {
                        wire: wire.to_string(),
                        value: Value::Null,
                    })
                }
            },
        };
        let challenge = Self {
            id,
            realm,
            method,
            intent,
            request,
            expires: expires.map(str::to_string),
            digest: digest.map(str::to_string),
            description: get("description").map(str::to_string),
            opaque,
            unknown_params: raw
                .params
                .iter()
                .filter(|p| !KNOWN_PARAMS.contains(&p.name.as_ref()))
                .map(|p| (p.name.to_string(), p.value.to_string()))
                .collect(),
        };
        Ok((challenge, slips))
    }

    /// Parses the first Payment challenge of one `WWW-Authenticate` field
    /// value; other schemes before it are skipped.
    pub fn parse(field: &str) -> Result<Self> {
        let mut raws = auth_params::parse_field(field)?;
        match raws
            .iter()
            .position(|c| c.scheme.eq_ignore_ascii_case("payment"))
        {
            Some(i) => Self::from_owned(raws.swap_remove(i)),
            None => Err(match raws.into_iter().next() {
                Some(other) => Error::NotPaymentScheme {
                    found: other.scheme.to_string(),
                },
                None => Error::NoPaymentChallenge,
            }),
        }
    }

    /// The `header` parameter (draft-httpauth-payment-01), if the challenge
    /// has one; under -00 it is an unknown parameter like any other.
    pub fn header(&self) -> Option<&str> {
        self.unknown_params
            .iter()
            .find(|(name, _)| name == "header")
            .map(|(_, value)| value.as_str())
    }

    /// The field the credential for this challenge travels in under
    /// `draft`: `Authorization` unless -01's `header` selects
    /// `Payment-Authorization`.
    pub fn credential_field(&self, draft: CoreDraft) -> &'static str {
        match self.header() {
            Some(_) if draft.has_header_param() => PAYMENT_AUTHORIZATION,
            _ => "Authorization",
        }
    }

    /// What `draft` adds to the validation of [`Challenge::from_raw`]:
    /// under -01 a `header` other than `Payment-Authorization` makes the
    /// challenge unrecognized (§"Credentials": "Clients MUST treat any
    /// other `header` value as an unrecognized challenge"). The match is
    /// exact: the draft names one value, though field names are
    /// case-insensitive (vectors mark a case variant `acceptable`).
    pub fn check_draft(&self, draft: CoreDraft) -> Result<()> {
        match self.header() {
            Some(value) if draft.has_header_param() => validate_header(value),
            _ => Ok(()),
        }
    }

    /// Validates a Payment challenge's parameters. It borrows, so that
    /// the lenient read can fall back on the same parameters without a
    /// copy; [`Challenge::parse`] moves the values instead.
    pub fn from_raw(raw: &RawChallenge) -> Result<Self> {
        if raw.token68.is_some() {
            return Err(Error::MissingParam { name: "id" });
        }
        let mut slots: [Option<&str>; 9] = [None; 9];
        let mut unknown = Vec::new();
        for p in &raw.params {
            match KNOWN_PARAMS.iter().position(|k| *k == p.name) {
                Some(i) => slots[i] = Some(p.value.as_ref()),
                None => unknown.push((p.name.to_string(), p.value.to_string())),
            }
        }
        Self::from_slots(slots, unknown)
    }

    /// [`Challenge::from_raw`], moving the values out of `raw` (an escaped
    /// value or a long one is not copied again).
    fn from_owned(raw: RawChallenge) -> Result<Self> {
        if raw.token68.is_some() {
            return Err(Error::MissingParam { name: "id" });
        }
        let mut slots: [Option<std::borrow::Cow<str>>; 9] = Default::default();
        let mut unknown = Vec::new();
        for p in raw.params {
            match KNOWN_PARAMS.iter().position(|k| *k == p.name) {
                Some(i) => slots[i] = Some(p.value),
                None => unknown.push((p.name.into_owned(), p.value.into_owned())),
            }
        }
        Self::from_slots(slots, unknown)
    }

    /// The challenge of the parameters filed by name in the order of
    /// [`KNOWN_PARAMS`] (names are unique: the field parser saw to it),
    /// validated in the order the errors take precedence.
    fn from_slots<V: AsRef<str> + Into<String>>(
        slots: [Option<V>; 9],
        unknown_params: Vec<(String, String)>,
    ) -> Result<Self> {
        let [
            id,
            realm,
            method,
            intent,
            request,
            expires,
            digest,
            description,
            opaque,
        ] = slots;
        let required =
            |value: Option<V>, name: &'static str| value.ok_or(Error::MissingParam { name });
        // "its value MUST be non-empty after auth-param parsing and
        // quoted-string unescaping" (§"Required Parameters").
        let id = required(id, "id")?;
        if id.as_ref().is_empty() {
            return Err(Error::EmptyId);
        }
        let realm = required(realm, "realm")?;
        let method = required(method, "method")?;
        validate_method(method.as_ref())?;
        let intent = required(intent, "intent")?;
        validate_intent(intent.as_ref())?;
        let request = EncodedJson::decode_object("request", required(request, "request")?)?;
        if let Some(e) = &expires {
            rfc3339::parse("expires", e.as_ref())?;
        }
        if let Some(d) = &digest {
            content_digest::parse(d.as_ref())?;
        }
        let opaque = opaque.map(decode_opaque).transpose()?;
        Ok(Self {
            id: id.into(),
            realm: realm.into(),
            method: method.into(),
            intent: intent.into(),
            request,
            expires: expires.map(Into::into),
            digest: digest.map(Into::into),
            description: description.map(Into::into),
            opaque,
            unknown_params,
        })
    }

    /// Formats the challenge as a `WWW-Authenticate` field value, every
    /// value quoted (as in all of the draft's examples).
    pub fn to_header(&self) -> Result<String> {
        if self.id.is_empty() {
            return Err(Error::Unformattable {
                field: "id",
                reason: "servers MUST NOT emit a Payment challenge with an empty id".into(),
            });
        }
        validate_method(&self.method).map_err(|e| Error::Unformattable {
            field: "method",
            reason: e.to_string(),
        })?;
        validate_intent(&self.intent).map_err(|e| Error::Unformattable {
            field: "intent",
            reason: e.to_string(),
        })?;
        // A header our own parser would reject is not a challenge.
        if let Some(e) = &self.expires {
            rfc3339::parse("expires", e).map_err(|e| Error::Unformattable {
                field: "expires",
                reason: e.to_string(),
            })?;
        }
        if let Some(d) = &self.digest {
            content_digest::parse(d).map_err(|e| Error::Unformattable {
                field: "digest",
                reason: e.to_string(),
            })?;
        }
        let mut params: Vec<(&str, &str)> = vec![
            ("id", &self.id),
            ("realm", &self.realm),
            ("method", &self.method),
            ("intent", &self.intent),
            ("request", &self.request.wire),
        ];
        let optional = [
            ("expires", self.expires.as_deref()),
            ("digest", self.digest.as_deref()),
            ("description", self.description.as_deref()),
            ("opaque", self.opaque.as_ref().map(|o| o.wire.as_str())),
        ];
        params.extend(optional.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))));
        for (name, value) in &self.unknown_params {
            if name.is_empty() || !name.bytes().all(auth_params::is_tchar) {
                return Err(Error::Unformattable {
                    field: "parameter name",
                    reason: format!("{name:?} is not a token"),
                });
            }
            params.push((name, value));
        }
        let mut out = String::from("Payment ");
        for (i, (name, value)) in params.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push('=');
            push_quoted(&mut out, name, value)?;
        }
        Ok(out)
    }

    /// The ABI object: `request` decoded, `opaque` as its base64url text
    /// (the official ABI's shape), absent fields omitted.
    pub fn to_abi(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("realm".into(), self.realm.clone().into());
        m.insert("method".into(), self.method.clone().into());
        m.insert("intent".into(), self.intent.clone().into());
        m.insert("request".into(), self.request.value.clone());
        insert_opt(&mut m, "expires", &self.expires);
        insert_opt(&mut m, "digest", &self.digest);
        insert_opt(&mut m, "description", &self.description);
        if let Some(o) = &self.opaque {
            m.insert("opaque".into(), o.wire.clone().into());
        }
        Value::Object(m)
    }

    /// [`Challenge::to_abi`] under `draft`: -01 adds `header`.
    pub fn to_abi_for(&self, draft: CoreDraft) -> Value {
        let mut v = self.to_abi();
        if let (Some(h), Value::Object(m)) = (self.header(), &mut v)
            && draft.has_header_param()
        {
            m.insert("header".into(), h.into());
        }
        v
    }

    /// Builds a challenge from the ABI object, encoding `request`
    /// canonically (JCS, then base64url-nopad); `opaque` may be given as
    /// that encoding or as the object itself.
    pub fn from_abi(value: &Value) -> Result<Self> {
        let map = value
            .as_object()
            .ok_or(Error::NotAnObject { field: "challenge" })?;
        let s = |f: &str| super::json::required_str(map, f, "").map(str::to_string);
        let o = |f: &str| super::json::optional_str(map, f, "").map(|v| v.map(str::to_string));
        let request = map.get("request").ok_or(Error::MissingField {
            field: "request".into(),
        })?;
        if !request.is_object() {
            return Err(Error::WrongType {
                field: "request".into(),
                expected: "a JSON object",
            });
        }
        let opaque = map.get("opaque").map(opaque_from_abi).transpose()?;
        Ok(Self {
            id: s("id")?,
            realm: s("realm")?,
            method: s("method")?,
            intent: s("intent")?,
            request: EncodedJson::canonical(request.clone()),
            expires: o("expires")?,
            digest: o("digest")?,
            description: o("description")?,
            opaque,
            // -01's `header` (validated by [`Challenge::check_draft`]).
            unknown_params: o("header")?
                .map(|h| vec![("header".to_string(), h)])
                .unwrap_or_default(),
        })
    }
}

/// `payment-method-id = 1*LOWERALPHA` (§"Method Identifier Format").
pub fn validate_method(method: &str) -> Result<()> {
    if !method.is_empty() && method.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(Error::InvalidMethod {
            value: method.to_string(),
        })
    }
}

/// `intent = 1*( ALPHA / DIGIT / "-" )` (§"Intent Identifiers").
pub fn validate_intent(intent: &str) -> Result<()> {
    if !intent.is_empty()
        && intent
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(())
    } else {
        Err(Error::InvalidIntent {
            value: intent.to_string(),
        })
    }
}

/// `opaque` as an ABI input: its base64url text (checked), or the flat
/// string map itself (encoded canonically).
pub fn opaque_from_abi(v: &Value) -> Result<EncodedJson> {
    match v {
        Value::String(wire) => decode_opaque(wire),
        v => {
            require_flat_string_map(v).map_err(|reason| Error::InvalidOpaque { reason })?;
            Ok(EncodedJson::canonical(v.clone()))
        }
    }
}

/// `opaque`: base64url-nopad of JCS of a flat string-to-string object.
pub fn decode_opaque(wire: impl AsRef<str> + Into<String>) -> Result<EncodedJson> {
    let decoded = EncodedJson::decode_object("opaque", wire).map_err(|e| Error::InvalidOpaque {
        reason: e.to_string(),
    })?;
    require_flat_string_map(&decoded.value).map_err(|reason| Error::InvalidOpaque { reason })?;
    Ok(decoded)
}

fn insert_opt(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.into(), v.clone().into());
    }
}

/// Writes a quoted-string, escaping `"` and `\`. Control characters have no
/// representation in a field value (RFC 9110 §5.5), so they cannot be sent.
fn push_quoted(out: &mut String, name: &str, value: &str) -> Result<()> {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push(c),
            c if c.is_ascii_control() => {
                return Err(Error::Unformattable {
                    field: "parameter value",
                    reason: format!("{name} contains the control character {c:?}"),
                });
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REQ: &str = "eyJhbW91bnQiOiIxMDAwIn0"; // {"amount":"1000"}

    #[test]
    fn parses_and_formats_back() {
        let h = format!(
            r#"payment id="a\"b", realm=api, method="tempo", intent="charge", request="{REQ}", description="x, Payment id=1", foo="bar""#
        );
        let c = Challenge::parse(&h).unwrap();
        assert_eq!(c.id, "a\"b");
        assert_eq!(c.request.value, json!({"amount": "1000"}));
        assert_eq!(c.unknown_params, vec![("foo".into(), "bar".into())]);
        assert_eq!(Challenge::parse(&c.to_header().unwrap()).unwrap(), c);
    }

    #[test]
    fn required_and_typed_params() {
        let base = format!(r#"realm="r", method="tempo", intent="charge", request="{REQ}""#);
        assert_eq!(
            Challenge::parse(&format!("Payment {base}")).unwrap_err(),
            Error::MissingParam { name: "id" }
        );
        assert_eq!(
            Challenge::parse(&format!(r#"Payment id="", {base}"#)).unwrap_err(),
            Error::EmptyId
        );
        let bad_method =
            format!(r#"Payment id=x, realm=r, method=Tempo, intent=charge, request={REQ}"#);
        assert!(matches!(
            Challenge::parse(&bad_method),
            Err(Error::InvalidMethod { .. })
        ));
        assert!(matches!(
            Challenge::parse("Bearer realm=x"),
            Err(Error::NotPaymentScheme { .. })
        ));
    }

    #[test]
    fn format_refuses_control_characters() {
        let mut c = Challenge::parse(&format!(
            r#"Payment id=x, realm=r, method=tempo, intent=charge, request={REQ}"#
        ))
        .unwrap();
        c.description = Some("a\r\nb".into());
        assert!(matches!(c.to_header(), Err(Error::Unformattable { .. })));
    }
}

#[cfg(test)]
mod lenient_tests {
    use super::*;

    #[test]
    fn a_syntax_slip_is_tolerated_named_and_kept_as_it_came() {
        let field = "Payment id=\"x1\", method=\"Tempo\", intent=\"charge\", request=\"eyJhIjoiYiJ9\", expires=\"soon\"";
        let all = parse_all_lenient(&[field]).unwrap();
        let (c, slips) = all[0].as_ref().unwrap();
        assert_eq!(c.method, "Tempo", "kept as it came, to be echoed");
        assert_eq!(c.realm, "");
        assert!(slips.iter().any(|s| s.contains("no realm")), "{slips:?}");
        assert!(slips.iter().any(|s| s.contains("lowercase")), "{slips:?}");
        assert!(slips.iter().any(|s| s.contains("expires")), "{slips:?}");
        // Padding: decoded, the wire kept for the echo and the binding.
        let padded = "Payment id=\"x2\", realm=\"r\", method=\"tempo\", intent=\"charge\", request=\"eyJhIjoiYiJ9==\"";
        let (c, slips) = parse_all_lenient(&[padded]).unwrap().remove(0).unwrap();
        assert_eq!(c.request.wire, "eyJhIjoiYiJ9==");
        assert_eq!(c.request.value["a"], "b");
        assert_eq!(slips, ["request is not base64url without padding"]);
        // A valid challenge: the strict read, no slip.
        let ok = "Payment id=\"x3\", realm=\"r\", method=\"tempo\", intent=\"charge\", request=\"eyJhIjoiYiJ9\"";
        let (c, slips) = parse_all_lenient(&[ok]).unwrap().remove(0).unwrap();
        assert!(slips.is_empty());
        assert_eq!(Challenge::parse(ok).unwrap(), c);
        // Nothing to pay: still refused.
        let no_request = "Payment id=\"x4\", realm=\"r\", method=\"tempo\", intent=\"charge\"";
        assert!(parse_all_lenient(&[no_request]).unwrap()[0].is_err());
    }
}
