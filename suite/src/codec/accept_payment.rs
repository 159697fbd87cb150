//! The `Accept-Payment` request header
//! (draft-httpauth-payment-00 §"Client Payment Preferences").
//!
//! ```abnf
//! Accept-Payment = #payment-range
//! payment-range  = payment-token [ weight ]             ; weight: RFC 9110 §12.4.2
//! payment-token  = payment-method-or-wildcard "/" intent-or-wildcard
//! ```

use serde_json::{Value, json};

use super::challenge::{validate_intent, validate_method};
use crate::error::{Error, Result};

/// One payment-range; `None` stands for the `*` wildcard. `q` is in
/// thousandths (RFC 9110 qvalues have at most three decimals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRange {
    pub method: Option<String>,
    pub intent: Option<String>,
    pub q: u16,
}

/// A parsed `Accept-Payment` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AcceptPayment {
    pub ranges: Vec<PaymentRange>,
}

impl PaymentRange {
    fn matches(&self, method: &str, intent: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.intent.as_deref().is_none_or(|i| i == intent)
    }

    /// How specific the range is. The draft does not rank `tempo/*`
    /// against `*/charge` (ambiguity.accept-payment-specificity); mppconf
    /// ranks the method above the intent, since a method decides how the
    /// client pays.
    fn specificity(&self) -> u8 {
        u8::from(self.method.is_some()) * 2 + u8::from(self.intent.is_some())
    }
}

impl AcceptPayment {
    pub fn parse(field: &str) -> Result<Self> {
        let mut ranges = Vec::new();
        for element in field.split(',') {
            let element = element.trim_matches([' ', '\t']);
            if element.is_empty() {
                continue; // empty list elements, RFC 9110 §5.6.1.2
            }
            ranges.push(parse_range(element)?);
        }
        Ok(Self { ranges })
    }

    /// The order in which a server should return its offers (indices into
    /// `offers`, given in server preference order), per the SHOULDs of
    /// §"Client Payment Preferences": keep offers whose most specific
    /// matching range has q > 0, sort by descending q, keep server order on
    /// ties. If nothing matches, the header is ignored (a MAY), as it is when
    /// absent (a MUST: "as though the client accepts any").
    pub fn select(header: Option<&Self>, offers: &[(&str, &str)]) -> Vec<usize> {
        let all: Vec<usize> = (0..offers.len()).collect();
        let Some(accept) = header else { return all };
        let mut ranked: Vec<(usize, u16)> = offers
            .iter()
            .enumerate()
            .filter_map(|(i, (m, it))| {
                accept
                    .ranges
                    .iter()
                    .filter(|r| r.matches(m, it))
                    .max_by_key(|r| r.specificity())
                    .map(|r| (i, r.q))
            })
            .filter(|(_, q)| *q > 0)
            .collect();
        if ranked.is_empty() {
            return all;
        }
        ranked.sort_by_key(|(_, q)| std::cmp::Reverse(*q)); // stable: ties keep server order
        ranked.into_iter().map(|(i, _)| i).collect()
    }

    pub fn to_abi(&self) -> Value {
        let ranges: Vec<Value> = self
            .ranges
            .iter()
            .map(|r| {
                json!({
                    "method": r.method.as_deref().unwrap_or("*"),
                    "intent": r.intent.as_deref().unwrap_or("*"),
                    "q": f64::from(r.q) / 1000.0,
                })
            })
            .collect();
        json!({ "ranges": ranges })
    }
}

fn parse_range(element: &str) -> Result<PaymentRange> {
    let invalid = |reason| Error::InvalidPaymentRange {
        value: element.to_string(),
        reason,
    };
    let (token, weight) = match element.split_once(';') {
        Some((t, w)) => (t.trim_end_matches([' ', '\t']), Some(w)),
        None => (element, None),
    };
    let (method, intent) = token
        .split_once('/')
        .ok_or_else(|| invalid("missing \"/\""))?;
    let method = match method {
        "*" => None,
        m => {
            validate_method(m).map_err(|_| invalid("method is not 1*LOWERALPHA or \"*\""))?;
            Some(m.to_string())
        }
    };
    let intent = match intent {
        "*" => None,
        i => {
            validate_intent(i).map_err(|_| invalid("intent is not an intent token or \"*\""))?;
            Some(i.to_string())
        }
    };
    let q = match weight {
        None => 1000,
        Some(w) => {
            let w = w.trim_start_matches([' ', '\t']);
            let v = w
                .strip_prefix("q=")
                .or_else(|| w.strip_prefix("Q="))
                .ok_or_else(|| invalid("the only parameter allowed is a weight \"q=\""))?;
            parse_qvalue(v).ok_or_else(|| invalid("weight is not a qvalue"))?
        }
    };
    Ok(PaymentRange { method, intent, q })
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_parse() {
        for h in [
            "tempo/charge, tempo/session, stripe/charge;q=0.5, solana/charge;q=0.3",
            "tempo/*, solana/*;q=0.6, */session;q=0.3",
            "tempo/charge, tempo/session;q=0, solana/charge",
        ] {
            AcceptPayment::parse(h).unwrap();
        }
        for bad in [
            "tempo",
            "Tempo/charge",
            "tempo/charge;q=2",
            "tempo/charge;q=0.0001",
            "tempo/charge;level=1",
        ] {
            assert!(AcceptPayment::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn select_follows_the_spec_example() {
        // §"Challenge Negotiation with Accept-Payment", the q=0 example.
        let a = AcceptPayment::parse(
            "tempo/charge, tempo/session;q=0, solana/charge;q=0.8, stripe/charge;q=0.4",
        )
        .unwrap();
        let offers = [
            ("tempo", "charge"),
            ("tempo", "session"),
            ("solana", "charge"),
            ("stripe", "charge"),
        ];
        assert_eq!(AcceptPayment::select(Some(&a), &offers), vec![0, 2, 3]);
        assert_eq!(AcceptPayment::select(None, &offers), vec![0, 1, 2, 3]);
        let specific = AcceptPayment::parse("tempo/*;q=0.5, tempo/charge;q=0").unwrap();
        assert_eq!(AcceptPayment::select(Some(&specific), &offers), vec![1]);
    }
}
