//! What a Tempo charge must move, and whether a transaction or a receipt
//! moves it (draft-tempo-charge-00 §"Split Payments", §"Transaction
//! Verification", §"Hash Verification").
//!
//! The same matching serves the two places payments are seen: the calls
//! of a signed transaction (pull mode, before broadcast) and the logs of a
//! mined receipt (push mode, and every reference the harness checks).
//! Each required transfer must be met by its own effect: one transfer
//! cannot pay two entries, and a `transferWithMemo` counts once although
//! it emits both `Transfer` and `TransferWithMemo` (CHAIN.md).

use alloy_primitives::{Address, B256, U256, address, b256, hex};
use serde_json::Value;

use crate::codec::request_schema;
use crate::error::{Error, Result};

/// `transfer(address,uint256)`
pub const TRANSFER_SELECTOR: [u8; 4] = hex!("a9059cbb");
/// `transferWithMemo(address,uint256,bytes32)`
pub const TRANSFER_WITH_MEMO_SELECTOR: [u8; 4] = hex!("95777d59");
/// `Transfer(address indexed from, address indexed to, uint256 amount)`
pub const TRANSFER_TOPIC: B256 =
    b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
/// `TransferWithMemo(address indexed from, address indexed to, uint256 amount, bytes32 indexed memo)`
pub const TRANSFER_WITH_MEMO_TOPIC: B256 =
    b256!("57bc7354aa85aed339e000bccffabbc529466af35f0772c8f8ee1145927de7f0");
/// Fees are paid as a transfer to the FeeManager; never a payment.
pub const FEE_MANAGER: Address = address!("feec000000000000000000000000000000000000");

/// One transfer the request requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredTransfer {
    pub to: Address,
    pub amount: U256,
    pub memo: Option<B256>,
    /// Where it comes from in the request, for messages.
    pub role: String,
}

/// One transfer a transaction makes (or made) on the `currency` token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferEffect {
    pub to: Address,
    pub amount: U256,
    pub memo: Option<B256>,
}

/// A Tempo charge request, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub amount: U256,
    pub currency: Address,
    pub recipient: Address,
    pub chain_id: u64,
    pub fee_payer: bool,
    pub memo: Option<B256>,
    pub splits: Vec<RequiredTransfer>,
    pub supported_modes: Option<Vec<String>>,
}

fn addr(v: &Value) -> Option<Address> {
    v.as_str()?.parse().ok()
}

fn b32(v: &Value) -> Option<B256> {
    v.as_str()?.parse().ok()
}

impl ChargeRequest {
    /// Validates (see [`request_schema`]) and types a decoded request.
    pub fn from_json(request: &Value) -> Result<Self> {
        request_schema::validate("tempo", "charge", request)?;
        let units = |v: &Value| {
            v.as_str()
                .and_then(request_schema::parse_base_units)
                .unwrap_or_default()
        };
        let details = &request["methodDetails"];
        let splits = details["splits"]
            .as_array()
            .map(|a| {
                a.iter()
                    .enumerate()
                    .map(|(i, s)| RequiredTransfer {
                        to: addr(&s["recipient"]).unwrap_or_default(),
                        amount: units(&s["amount"]),
                        memo: b32(&s["memo"]),
                        role: format!("splits[{i}]"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            amount: units(&request["amount"]),
            currency: addr(&request["currency"]).unwrap_or_default(),
            recipient: addr(&request["recipient"]).unwrap_or_default(),
            chain_id: details["chainId"]
                .as_u64()
                .unwrap_or(super::tempo_charge::DEFAULT_CHAIN_ID),
            fee_payer: details["feePayer"].as_bool().unwrap_or(false),
            memo: b32(&details["memo"]),
            splits,
            supported_modes: details["supportedModes"].as_array().map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            }),
        })
    }

    /// "The primary recipient receives `amount - sum(splits[].amount)`";
    /// the top-level memo applies to the primary transfer.
    pub fn required_transfers(&self) -> Vec<RequiredTransfer> {
        let split_sum = self
            .splits
            .iter()
            .fold(U256::ZERO, |acc, s| acc.saturating_add(s.amount));
        let mut all = vec![RequiredTransfer {
            to: self.recipient,
            amount: self.amount.saturating_sub(split_sum),
            memo: self.memo,
            role: "primary recipient".into(),
        }];
        all.extend(self.splits.iter().cloned());
        all
    }

    pub fn allows_mode(&self, mode: &str) -> bool {
        self.supported_modes
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == mode))
    }
}

/// The transfers a list of calls makes on `currency`. Calls to other
/// addresses or with other selectors move nothing the charge counts.
pub fn effects_of_calls<'a>(
    calls: impl IntoIterator<Item = (Address, &'a [u8])>,
    currency: Address,
) -> Vec<TransferEffect> {
    calls
        .into_iter()
        .filter(|(to, _)| *to == currency)
        .filter_map(|(_, input)| decode_transfer_call(input))
        .collect()
}

/// Decodes `transfer` / `transferWithMemo` calldata.
pub fn decode_transfer_call(input: &[u8]) -> Option<TransferEffect> {
    let (selector, args) = input.split_at_checked(4)?;
    let word = |i: usize| args.get(i * 32..(i + 1) * 32);
    let to_word = word(0)?;
    // An address argument is 12 zero bytes and 20 address bytes.
    if to_word[..12].iter().any(|b| *b != 0) {
        return None;
    }
    let to = Address::from_slice(&to_word[12..]);
    let amount = U256::from_be_slice(word(1)?);
    match selector {
        s if s == TRANSFER_SELECTOR && args.len() == 64 => Some(TransferEffect {
            to,
            amount,
            memo: None,
        }),
        s if s == TRANSFER_WITH_MEMO_SELECTOR && args.len() == 96 => Some(TransferEffect {
            to,
            amount,
            memo: Some(B256::from_slice(word(2)?)),
        }),
        _ => None,
    }
}

/// One log of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: Vec<u8>,
}

impl Log {
    /// Reads an `eth_getTransactionReceipt` log object.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            address: addr(&v["address"])?,
            topics: v["topics"]
                .as_array()?
                .iter()
                .map(b32)
                .collect::<Option<_>>()?,
            data: hex::decode(v["data"].as_str()?).ok()?,
        })
    }
}

/// The transfers a receipt's logs show on `currency`: every `Transfer`
/// except fee payments, each carrying the memo of a matching
/// `TransferWithMemo` (same from, to and amount) when there is one.
pub fn effects_of_logs(logs: &[Log], currency: Address) -> Vec<TransferEffect> {
    let topic_addr = |t: &B256| Address::from_slice(&t[12..]);
    let mut memos: Vec<(Address, Address, U256, B256)> = logs
        .iter()
        .filter(|l| l.address == currency && l.topics.len() == 4)
        .filter(|l| l.topics[0] == TRANSFER_WITH_MEMO_TOPIC && l.data.len() == 32)
        .map(|l| {
            (
                topic_addr(&l.topics[1]),
                topic_addr(&l.topics[2]),
                U256::from_be_slice(&l.data),
                l.topics[3],
            )
        })
        .collect();
    logs.iter()
        .filter(|l| l.address == currency && l.topics.len() == 3)
        .filter(|l| l.topics[0] == TRANSFER_TOPIC && l.data.len() == 32)
        .map(|l| {
            let (from, to) = (topic_addr(&l.topics[1]), topic_addr(&l.topics[2]));
            let amount = U256::from_be_slice(&l.data);
            let memo = memos
                .iter()
                .position(|m| m.0 == from && m.1 == to && m.2 == amount)
                .map(|i| memos.remove(i).3);
            TransferEffect { to, amount, memo }
        })
        .filter(|e| e.to != FEE_MANAGER)
        .collect()
}

/// Checks that every required transfer is met by a distinct effect with
/// the same recipient (compared as 20-byte values), amount and memo. Extra
/// effects are allowed ("Clients MAY achieve these effects using any valid
/// transaction structure"). A shortfall is reported against `requirement`,
/// which depends on who is judged and from what (calls or logs).
pub fn verify(
    required: &[RequiredTransfer],
    effects: &[TransferEffect],
    requirement: &'static str,
) -> Result<()> {
    let mut unused: Vec<&TransferEffect> = effects.iter().collect();
    for need in required {
        let found = unused.iter().position(|e| {
            e.to == need.to
                && e.amount == need.amount
                && (need.memo.is_none() || e.memo == need.memo)
        });
        match found {
            Some(i) => {
                unused.remove(i);
            }
            None => {
                let memo = need
                    .memo
                    .map(|m| format!(" with memo {m}"))
                    .unwrap_or_default();
                return Err(Error::RequestSchema {
                    requirement,
                    path: need.role.clone(),
                    reason: format!(
                        "no transfer of {} to {}{memo} on the currency token (seen: {})",
                        need.amount,
                        need.to,
                        describe(effects)
                    ),
                });
            }
        }
    }
    Ok(())
}

fn describe(effects: &[TransferEffect]) -> String {
    if effects.is_empty() {
        return "none".into();
    }
    effects
        .iter()
        .map(|e| match e.memo {
            Some(m) => format!("{} to {} memo {m}", e.amount, e.to),
            None => format!("{} to {}", e.amount, e.to),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Calldata of `transfer` or, with a memo, `transferWithMemo`.
pub fn transfer_calldata(to: Address, amount: U256, memo: Option<B256>) -> Vec<u8> {
    let mut out = Vec::with_capacity(100);
    out.extend_from_slice(if memo.is_some() {
        &TRANSFER_WITH_MEMO_SELECTOR
    } else {
        &TRANSFER_SELECTOR
    });
    out.extend_from_slice(&[0u8; 12]);
    out.extend_from_slice(to.as_slice());
    out.extend_from_slice(&amount.to_be_bytes::<32>());
    if let Some(m) = memo {
        out.extend_from_slice(m.as_slice());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PATH_USD: Address = address!("20c0000000000000000000000000000000000000");
    const MERCHANT: Address = address!("742d35cc6634c0532925a3b844bc9e7595f8fe00");
    const PLATFORM: Address = address!("a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2");

    fn split_request() -> ChargeRequest {
        ChargeRequest::from_json(&json!({
            "amount": "1000000",
            "currency": "0x20c0000000000000000000000000000000000000",
            "recipient": "0x742d35Cc6634C0532925a3b844Bc9e7595f8fE00",
            "methodDetails": {"chainId": 4217, "memo": format!("0x{}", "11".repeat(32)), "splits": [
                {"amount": "50000", "recipient": "0xA1B2C3D4E5F6A1B2C3D4E5F6A1B2C3D4E5F6A1B2"}]}
        }))
        .unwrap()
    }

    #[test]
    fn calls_in_any_order_meet_the_split_request() {
        let req = split_request();
        let memo = Some(B256::repeat_byte(0x11));
        let primary = transfer_calldata(MERCHANT, U256::from(950_000), memo);
        let split = transfer_calldata(PLATFORM, U256::from(50_000), None);
        let effects =
            effects_of_calls([(PATH_USD, &split[..]), (PATH_USD, &primary[..])], PATH_USD);
        verify(&req.required_transfers(), &effects, "t.r.x").unwrap();
        // Wrong token, short amount, missing memo: each rejected.
        let other_token =
            effects_of_calls([(PLATFORM, &primary[..]), (PATH_USD, &split[..])], PATH_USD);
        assert!(verify(&req.required_transfers(), &other_token, "t.r.x").is_err());
        let short = transfer_calldata(MERCHANT, U256::from(949_999), memo);
        let effects = effects_of_calls([(PATH_USD, &short[..]), (PATH_USD, &split[..])], PATH_USD);
        assert!(verify(&req.required_transfers(), &effects, "t.r.x").is_err());
        let no_memo = transfer_calldata(MERCHANT, U256::from(950_000), None);
        let effects =
            effects_of_calls([(PATH_USD, &no_memo[..]), (PATH_USD, &split[..])], PATH_USD);
        assert!(verify(&req.required_transfers(), &effects, "t.r.x").is_err());
    }

    #[test]
    fn one_transfer_cannot_pay_two_entries() {
        let required = vec![
            RequiredTransfer {
                to: MERCHANT,
                amount: U256::from(5),
                memo: None,
                role: "a".into(),
            },
            RequiredTransfer {
                to: MERCHANT,
                amount: U256::from(5),
                memo: None,
                role: "b".into(),
            },
        ];
        let once = [TransferEffect {
            to: MERCHANT,
            amount: U256::from(5),
            memo: None,
        }];
        assert!(verify(&required, &once, "t.r.x").is_err());
    }

    #[test]
    fn logs_count_a_memo_transfer_once_and_skip_fees() {
        let payer = address!("1111111111111111111111111111111111111111");
        let topic = |a: Address| B256::left_padding_from(a.as_slice());
        let amount = U256::from(950_000).to_be_bytes::<32>().to_vec();
        let memo = B256::repeat_byte(0x11);
        let logs = vec![
            Log {
                address: PATH_USD,
                topics: vec![TRANSFER_TOPIC, topic(payer), topic(MERCHANT)],
                data: amount.clone(),
            },
            Log {
                address: PATH_USD,
                topics: vec![
                    TRANSFER_WITH_MEMO_TOPIC,
                    topic(payer),
                    topic(MERCHANT),
                    memo,
                ],
                data: amount,
            },
            Log {
                address: PATH_USD,
                topics: vec![TRANSFER_TOPIC, topic(payer), topic(FEE_MANAGER)],
                data: U256::from(7).to_be_bytes::<32>().to_vec(),
            },
        ];
        let effects = effects_of_logs(&logs, PATH_USD);
        assert_eq!(
            effects,
            vec![TransferEffect {
                to: MERCHANT,
                amount: U256::from(950_000),
                memo: Some(memo)
            }]
        );
    }
}
