//! Which version of the core draft a run judges against.
//!
//! The pinned set is `draft-httpauth-payment-00` with the intent and method
//! drafts; the SDKs follow `draft-httpauth-payment-01`, which adds the
//! `header` challenge parameter (the credential may travel in
//! `Payment-Authorization`) and binds it into the challenge id
//! (`vectors/specs/README.md` lists every normative change). `-02` differs
//! from `-01` only in its name, so it is not a separate version here.

use std::fmt;
use std::str::FromStr;

/// A version of the core draft.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CoreDraft {
    /// `draft-httpauth-payment-00`, the pinned default.
    #[default]
    Draft00,
    /// `draft-httpauth-payment-01`, with the `header` parameter.
    Draft01,
}

impl CoreDraft {
    pub const ALL: [CoreDraft; 2] = [CoreDraft::Draft00, CoreDraft::Draft01];

    pub fn docname(self) -> &'static str {
        match self {
            CoreDraft::Draft00 => "draft-httpauth-payment-00",
            CoreDraft::Draft01 => "draft-httpauth-payment-01",
        }
    }

    /// Whether the draft defines the `header` challenge parameter (and its
    /// slot in the challenge binding, and its echo in the credential).
    pub fn has_header_param(self) -> bool {
        self >= CoreDraft::Draft01
    }
}

/// Written as its docname, in reports.
impl serde::Serialize for CoreDraft {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.docname())
    }
}

impl<'de> serde::Deserialize<'de> for CoreDraft {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for CoreDraft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.docname())
    }
}

impl FromStr for CoreDraft {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "draft-httpauth-payment-00" | "00" | "-00" => Ok(CoreDraft::Draft00),
            "draft-httpauth-payment-01" | "01" | "-01" => Ok(CoreDraft::Draft01),
            "draft-httpauth-payment-02" | "02" | "-02" => Err(
                "draft-httpauth-payment-02 differs from -01 only in its name (vectors/specs/README.md): give draft-httpauth-payment-01".into(),
            ),
            other => Err(format!(
                "unknown core draft {other:?}: give draft-httpauth-payment-00 (the pinned default) or draft-httpauth-payment-01"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for d in CoreDraft::ALL {
            assert_eq!(d.docname().parse::<CoreDraft>(), Ok(d));
        }
        assert_eq!("01".parse::<CoreDraft>(), Ok(CoreDraft::Draft01));
        assert!(
            "draft-httpauth-payment-02"
                .parse::<CoreDraft>()
                .unwrap_err()
                .contains("-01")
        );
        assert!("draft-x".parse::<CoreDraft>().is_err());
        assert!(!CoreDraft::Draft00.has_header_param());
        assert!(CoreDraft::Draft01.has_header_param());
    }
}
