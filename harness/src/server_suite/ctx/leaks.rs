//! Secrets in answers: every answer a check receives is scanned for the
//! payer's key, the secrets the user named, and the credential material
//! the request carried; a find fails the check that received it (see
//! `take_leaks`).

use super::Ctx;

impl Ctx {
    /// Adds texts no answer may contain (the payer key is always one).
    pub fn with_secrets(mut self, secrets: Vec<(String, String)>) -> Self {
        self.secrets
            .extend(secrets.into_iter().filter(|(_, v)| v.len() >= 8));
        self
    }

    /// The secrets the run watches for: the account key, and those given.
    fn watched(&self) -> Vec<(String, String)> {
        let mut all = vec![(
            "the payer's private key".to_string(),
            self.account.to_bytes().to_string()[2..].to_string(),
        )];
        all.extend(self.secrets.iter().cloned());
        all
    }

    /// Where the current check saw a secret in an answer, forgotten.
    pub(in crate::server_suite) fn take_leaks(&self) -> Vec<String> {
        self.leaks
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Scans an answer (headers and body) for the run's secrets and for
    /// the credential material the request carried.
    pub(super) fn scan(
        &self,
        url: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &str,
        authorization: &[&str],
    ) {
        let mut watched = self.watched();
        for a in authorization {
            let token = a.get(8..).unwrap_or_default();
            if token.len() >= 16 {
                watched.push(("the credential it was sent".into(), token.to_string()));
            }
            for (what, text) in credential_material(a) {
                watched.push((what, text));
            }
        }
        let mut found = Vec::new();
        for (what, secret) in &watched {
            let lower = secret.to_ascii_lowercase();
            if body.to_ascii_lowercase().contains(&lower) {
                found.push(format!(
                    "{what} in the body of the {status} answer to {url}"
                ));
            }
            for (name, value) in headers {
                if value
                    .to_str()
                    .is_ok_and(|v| v.to_ascii_lowercase().contains(&lower))
                {
                    found.push(format!(
                        "{what} in the {name} header of the {status} answer to {url}"
                    ));
                }
            }
        }
        if !found.is_empty()
            && let Ok(mut l) = self.leaks.lock()
        {
            l.extend(found);
        }
    }
}

/// The material of a Payment credential that must never come back in an
/// answer: its payload's signatures and signed transactions (hashes and a
/// session's `channelId` are left out: a receipt names the transaction it
/// settled, or the channel; and so are addresses, such as an EVM
/// authorization's `from` and `to`, which are public).
fn credential_material(authorization: &str) -> Vec<(String, String)> {
    let Ok(credential) = mppconf_suite::codec::Credential::parse(authorization) else {
        return Vec::new();
    };
    credential
        .payload
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "hash" | "channelId"))
        .filter_map(|(k, v)| {
            let text = v.as_str()?.trim_start_matches("0x");
            (text.len() > 40).then(|| (format!("the credential's payload.{k}"), text.to_string()))
        })
        .collect()
}
