//! Where the reference server keeps its session accounting across a
//! restart (draft-tempo-session-00 §"Crash Safety"): one JSON file per
//! channel in a store folder, written whole and renamed into place before
//! what it authorizes is served, and read back when the server starts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use alloy::primitives::{B256, Bytes, U256};
use mppconf_suite::codec::ProblemType;
use serde_json::{Map, Value, json};

use super::session::{Channel, Slot};
use super::{Deviation, Refusal, refuse};

impl Channel {
    fn to_json(&self) -> Value {
        json!({
            "acceptedCumulative": self.accepted.to_string(),
            "spent": self.spent.to_string(),
            "deposit": self.deposit.to_string(),
            "escrow": self.escrow.to_string(),
            "finalized": self.finalized,
            "vouchers": self
                .vouchers
                .iter()
                .map(|(amount, signature)| (amount.to_string(), Value::from(Bytes::copy_from_slice(signature).to_string())))
                .collect::<Map<String, Value>>(),
        })
    }

    fn from_json(v: &Value) -> Option<Self> {
        let amount = |k: &str| U256::from_str_radix(v.get(k)?.as_str()?, 10).ok();
        let vouchers = v
            .get("vouchers")?
            .as_object()?
            .iter()
            .map(|(amount, signature)| {
                Some((
                    U256::from_str_radix(amount, 10).ok()?,
                    signature.as_str()?.parse::<Bytes>().ok()?.to_vec(),
                ))
            })
            .collect::<Option<BTreeMap<_, _>>>()?;
        Some(Self {
            accepted: amount("acceptedCumulative")?,
            spent: amount("spent")?,
            deposit: amount("deposit")?,
            escrow: v.get("escrow")?.as_str()?.parse().ok()?,
            vouchers,
            finalized: v.get("finalized")?.as_bool()?,
        })
    }
}

/// Where channels' accounting is persisted: `<dir>/<channel id>.json`,
/// each written whole to a temporary file and renamed over the old one,
/// so a crash leaves the previous state or the new one.
pub(super) struct Store {
    dir: std::path::PathBuf,
}

impl Store {
    pub(super) fn new(dir: &std::path::Path) -> crate::error::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Every channel persisted, as the server's starting state; a file
    /// that does not read is an error naming it (never silently dropped).
    pub(super) fn load(&self) -> crate::error::Result<HashMap<B256, Arc<Slot>>> {
        let mut channels = HashMap::new();
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| crate::error::Error::io(&self.dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(id) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<B256>().ok())
                .filter(|_| path.extension().is_some_and(|e| e == "json"))
            else {
                continue;
            };
            let text =
                std::fs::read_to_string(&path).map_err(|e| crate::error::Error::io(&path, e))?;
            let channel = serde_json::from_str(&text)
                .ok()
                .as_ref()
                .and_then(Channel::from_json)
                .ok_or_else(|| {
                    crate::error::Error::Usage(format!(
                        "{}: not a session channel's accounting (remove it, or the store folder, to start afresh)",
                        path.display()
                    ))
                })?;
            channels.insert(
                id,
                Arc::new(Slot {
                    channel: tokio::sync::Mutex::new(channel),
                    advanced: tokio::sync::Notify::new(),
                }),
            );
        }
        Ok(channels)
    }

    pub(super) fn save(&self, id: B256, channel: &Channel) -> Result<(), String> {
        let path = self.dir.join(format!("{id}.json"));
        let temporary = self.dir.join(format!("{id}.json.new"));
        std::fs::write(&temporary, channel.to_json().to_string())
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| format!("persisting the accounting of channel {id}: {e}"))
    }
}

/// Persists a channel's accounting before what it authorizes is served
/// (§"Crash Safety"); nothing without a store, or with the deviation.
pub(super) fn persist(state: &super::State, id: B256, channel: &Channel) -> Result<(), Refusal> {
    match &state.session_store {
        Some(store) if !state.deviates(Deviation::SessionMemoryOnly) => store
            .save(id, channel)
            .map_err(|e| refuse(ProblemType::VerificationFailed, format!("{e}: not served"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;

    #[test]
    fn the_store_gives_back_what_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path()).unwrap();
        let id = B256::repeat_byte(7);
        let channel = Channel {
            accepted: U256::from(3000u32),
            spent: U256::from(2000u32),
            deposit: U256::from(10_000u32),
            escrow: Address::repeat_byte(1),
            vouchers: BTreeMap::from([
                (U256::from(1000u32), vec![1u8; 65]),
                (U256::from(3000u32), vec![2u8; 65]),
            ]),
            finalized: false,
        };
        store.save(id, &channel).unwrap();
        let loaded = store.load().unwrap();
        let slot = loaded.get(&id).expect("the channel is back");
        let back = slot.channel.try_lock().unwrap();
        assert_eq!(back.accepted, channel.accepted);
        assert_eq!(back.spent, channel.spent);
        assert_eq!(back.deposit, channel.deposit);
        assert_eq!(back.escrow, channel.escrow);
        assert_eq!(back.vouchers, channel.vouchers);
        assert!(!back.finalized);
        // A file that is not a channel's accounting is an error naming it.
        std::fs::write(
            dir.path().join(format!("{}.json", B256::repeat_byte(8))),
            "{}",
        )
        .unwrap();
        let Err(err) = store.load() else {
            panic!("a broken file is refused");
        };
        let err = err.to_string();
        assert!(err.contains(".json"), "{err}");
    }
}
