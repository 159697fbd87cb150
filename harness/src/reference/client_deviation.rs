//! The rules `mppconf pay` breaks on purpose, one named deviation each:
//! the known-bad clients the client suite's checks must catch.

use serde::Deserialize;

use crate::error::Result;

/// A rule the client breaks on purpose.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Deviation {
    /// Pays expired challenges.
    IgnoreExpiry,
    /// Pays requests whose splits reach the amount.
    IgnoreSplitRule,
    /// Pays one base unit less than asked.
    ShortAmount,
    /// Drops the memo (plain `transfer`).
    DropMemo,
    /// Echoes a modified `request` (amount changed) under the original id.
    TamperRequest,
    /// Sends the credential twice, in two `Authorization` headers.
    TwoAuthorizationHeaders,
    /// Uses push mode even where the challenge forbids it.
    PushAlways,
    /// Uses pull mode even where the challenge offers only push.
    PullAlways,
    /// Echoes another challenge id.
    EchoWrongId,
    /// Echoes another realm (the issued one with `.example` appended).
    EchoWrongRealm,
    /// Echoes `expires` reformatted (with fractional seconds).
    EchoWrongExpires,
    /// Echoes `opaque` re-encoded with sorted keys.
    ResortOpaque,
    /// Leaves `digest` out of the echo.
    DropDigest,
    /// Sends no `source`.
    NoSource,
    /// Transfers on another TIP-20 token than the challenge's currency.
    WrongToken,
    /// Pays the whole amount to the recipient and no split.
    SkipSplits,
    /// Signs for another chain id.
    WrongChainId,
    /// Signs with `validBefore` after the challenge's `expires`.
    LateValidBefore,
    /// Leaves `fee_token` empty while paying its own fees.
    NoFeeToken,
    /// Signs to pay its own fees when the server sponsors them.
    SelfPaidWhenSponsored,
    /// Signs the zero-amount proof over another challenge id.
    ProofOtherId,
    /// Retries without the request body.
    DropBodyOnRetry,
    /// Sends a malformed `Accept-Payment`.
    MalformedAcceptPayment,
    /// Pays challenges whose id is missing or empty.
    AcceptMissingId,
    /// Pays `tempo` challenges of any intent as a charge.
    AnyIntent,
    /// Pays the first Payment challenge as tempo/charge, whatever its method.
    FirstChallengeOnly,
    /// Ignores `supportedModes` (pulls whatever is advertised).
    IgnoreModes,
    /// Drops challenges with parameters it does not know.
    RejectUnknownParams,
    /// Refuses challenges longer than 2 KB.
    SmallHeaderLimit,
    /// Reads only ASCII header values.
    AsciiOnlyHeaders,
    /// Splits auth-params on every comma, quoted or not.
    NaiveCommaSplit,
    /// Follows redirects, credential and all.
    FollowRedirects,
    /// Sends credentials over plain http without being allowed to.
    IgnorePlainHttpRule,
    /// Emits the transfers in reverse order (splits before the primary).
    ReverseTransfers,
    /// Sends a hash credential for a payment it signed but never
    /// broadcast.
    HashWithoutBroadcast,
    /// Pays the amount a `description` names (`amount=N`) instead of the
    /// request's.
    AmountFromDescription,
    /// Requests the resource over plain http whatever the URL's scheme
    /// (TLS stripped).
    DowngradeToHttp,
    /// Pays whatever the challenge asks: no spending limit, any recipient.
    IgnorePolicy,
    /// Compares the request's recipient with the expected one as text
    /// (EIP-55 against lowercase hex differs), not as 20 bytes.
    RecipientTextCompare,
    /// Sends the credential in `Authorization` whatever field the
    /// challenge's `header` selects (-01).
    CredentialInAuthorization,
    /// Leaves `header` out of the echoed challenge (-01).
    DropHeaderEcho,
    /// Under -01, pays challenges with any `header` value, in the field
    /// the value names.
    AnyHeaderValue,
    /// Under -01, sends the credential in `Payment-Authorization` whatever
    /// the challenge selects.
    AlwaysPaymentAuthorization,
    /// Under -01, echoes `header="Payment-Authorization"` even for a
    /// challenge without `header`.
    EchoHeaderAlways,
    // Sessions (draft-tempo-session-00), judged by the session client
    // scenarios only ([`Deviation::SESSION`]).
    /// Names a channel id in the open payload that is not the one the
    /// transaction opens.
    SessionWrongChannelId,
    /// Signs vouchers in the EIP-712 domain of another chain.
    SessionWrongDomain,
    /// Opens the channel on another escrow than the challenge's.
    SessionOtherEscrow,
    /// Writes the channel id of its vouchers in uppercase hex.
    SessionUppercaseHex,
    /// Repeats its previous voucher once after each new one.
    SessionRepeatVoucher,
    /// Reads `payment-need-voucher` and never answers it.
    SessionIgnoreNeedVoucher,
    /// Stops instead of topping up when the deposit is short.
    SessionSkipTopUp,
    /// Sends the voucher above the deposit before its topUp.
    SessionVoucherBeforeTopUp,
    /// Deposits `suggestedDeposit` whatever its budget.
    SessionIgnoreBudget,
    /// Signs the server's `acceptedCumulative` plus a unit, not its own
    /// highest voucher plus a unit.
    SessionTrustAccepted,
    /// Pays each `payment-need-voucher` whether or not anything was
    /// delivered.
    SessionPayWithoutDelivery,
    /// Leaves the channel open when done.
    SessionNoClose,
    /// Sends its paid session requests without an `Idempotency-Key`.
    SessionNoIdempotencyKey,
    /// Pays the fees of its open and topUp itself when the challenge's
    /// server sponsors them.
    SessionSelfPaidWhenSponsored,
    /// Signs its open and topUp for a fee payer when the challenge does
    /// not sponsor fees.
    SessionAsksSponsorship,
    /// Resumes a channel the challenge suggests (`methodDetails.channelId`)
    /// with a voucher, without checking what it has left.
    SessionResumeUnchecked,
    // EVM charge (draft-evm-charge-00), judged by the EVM client scenarios
    // ([`Deviation::EVM`]); some charge deviations above apply there too.
    /// Binds its Permit2 witness and EIP-3009 nonce to a random hash, not
    /// the challenge's `challengeHash`.
    EvmUnboundWitness,
    /// Leaves `externalId` out of its Permit2 witness.
    EvmDropExternalId,
    /// Pays a challenge for a chain its RPC does not serve, signing for
    /// the challenge's chain id.
    EvmAnyChain,
    /// Signs Permit2 permits for whatever `permit2Address` the challenge
    /// names.
    EvmAnyPermit2,
    /// Pays with a `transaction` credential whatever types the challenge
    /// offers.
    EvmAnyCredentialType,
    /// Pays one base unit more than asked.
    EvmOverpay,
    /// Signs Permit2 permits for a spender other than the recipient
    /// (ambiguity.evm-permit2-spender).
    EvmOtherSpender,
}

impl Deviation {
    pub const ALL: [Deviation; 44] = [
        Deviation::IgnoreExpiry,
        Deviation::IgnoreSplitRule,
        Deviation::ShortAmount,
        Deviation::DropMemo,
        Deviation::TamperRequest,
        Deviation::TwoAuthorizationHeaders,
        Deviation::PushAlways,
        Deviation::PullAlways,
        Deviation::EchoWrongId,
        Deviation::EchoWrongRealm,
        Deviation::EchoWrongExpires,
        Deviation::ResortOpaque,
        Deviation::DropDigest,
        Deviation::NoSource,
        Deviation::WrongToken,
        Deviation::SkipSplits,
        Deviation::WrongChainId,
        Deviation::LateValidBefore,
        Deviation::NoFeeToken,
        Deviation::SelfPaidWhenSponsored,
        Deviation::ProofOtherId,
        Deviation::DropBodyOnRetry,
        Deviation::MalformedAcceptPayment,
        Deviation::AcceptMissingId,
        Deviation::AnyIntent,
        Deviation::FirstChallengeOnly,
        Deviation::IgnoreModes,
        Deviation::RejectUnknownParams,
        Deviation::SmallHeaderLimit,
        Deviation::AsciiOnlyHeaders,
        Deviation::ReverseTransfers,
        Deviation::HashWithoutBroadcast,
        Deviation::AmountFromDescription,
        Deviation::NaiveCommaSplit,
        Deviation::FollowRedirects,
        Deviation::IgnorePlainHttpRule,
        Deviation::DowngradeToHttp,
        Deviation::IgnorePolicy,
        Deviation::RecipientTextCompare,
        Deviation::CredentialInAuthorization,
        Deviation::DropHeaderEcho,
        Deviation::AnyHeaderValue,
        Deviation::AlwaysPaymentAuthorization,
        Deviation::EchoHeaderAlways,
    ];

    /// The session client's deviations: inert against a charge.
    pub const SESSION: [Deviation; 16] = [
        Deviation::SessionWrongChannelId,
        Deviation::SessionWrongDomain,
        Deviation::SessionOtherEscrow,
        Deviation::SessionUppercaseHex,
        Deviation::SessionRepeatVoucher,
        Deviation::SessionIgnoreNeedVoucher,
        Deviation::SessionSkipTopUp,
        Deviation::SessionVoucherBeforeTopUp,
        Deviation::SessionIgnoreBudget,
        Deviation::SessionTrustAccepted,
        Deviation::SessionPayWithoutDelivery,
        Deviation::SessionNoClose,
        Deviation::SessionNoIdempotencyKey,
        Deviation::SessionSelfPaidWhenSponsored,
        Deviation::SessionAsksSponsorship,
        Deviation::SessionResumeUnchecked,
    ];

    /// The EVM client's own deviations: inert against a Tempo challenge.
    pub const EVM: [Deviation; 7] = [
        Deviation::EvmUnboundWitness,
        Deviation::EvmDropExternalId,
        Deviation::EvmAnyChain,
        Deviation::EvmAnyPermit2,
        Deviation::EvmAnyCredentialType,
        Deviation::EvmOverpay,
        Deviation::EvmOtherSpender,
    ];

    pub fn name(self) -> String {
        super::variant_name(&self)
    }

    pub fn parse(name: &str) -> Result<Self> {
        let every: Vec<Deviation> = Self::ALL
            .into_iter()
            .chain(Self::SESSION)
            .chain(Self::EVM)
            .collect();
        super::parse_variant(name, "client deviation", &every)
    }
}
