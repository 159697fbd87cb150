//! The rules the reference server breaks on purpose, one switch each, so
//! that the server suite can show each of its checks failing.

use serde::Deserialize;

use crate::error::Result;

/// A rule the server breaks on purpose, so that the server suite can show
/// each of its checks failing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Deviation {
    /// 402 without `Cache-Control: no-store`.
    NoCacheControl,
    /// Paid responses without `Cache-Control: private`.
    NoPrivateCache,
    /// Accepts a credential for an id already used.
    SkipReplayCheck,
    /// Accepts any echoed id without checking its binding.
    SkipBindingCheck,
    /// Accepts credentials for expired challenges.
    IgnoreExpiry,
    /// Broadcasts without checking that the transaction pays the request.
    AcceptWrongAmount,
    /// Attaches a `Payment-Receipt` to error responses.
    ReceiptOnError,
    /// Echoes the credential in error bodies.
    EchoCredential,
    /// Issues challenges with an empty `id`.
    EmptyId,
    /// Issues challenges without `realm`.
    NoRealm,
    /// Encodes `request` with `=` padding.
    PaddedRequest,
    /// Serializes `request` with keys in insertion order, not JCS.
    NonCanonicalRequest,
    /// Answers every failure with the `payment-required` problem type.
    GenericProblemType,
    /// Treats several Payment credentials like one (no 400).
    AcceptSeveralCredentials,
    /// Challenges with `method="Tempo"`.
    UppercaseMethod,
    /// Challenges without `expires`.
    NoExpires,
    /// 402s without a problem details body.
    NoProblemDetails,
    /// The same challenge for every 402 (no nonce, a fixed expiry).
    StaticChallenge,
    /// 402 for resources that do not exist.
    PaymentForUnknown,
    /// Accepts echoed challenges as they come: no binding, no comparison
    /// with the resource's request.
    SkipEchoCheck,
    /// Broadcasts transactions for any chain id.
    IgnoreChainId,
    /// Broadcasts transactions valid past the challenge's expiry.
    IgnoreValidBefore,
    /// Refuses credentials over 4000 bytes (below the 4 KB minimum) with 431.
    SmallHeaderLimit,
    /// Puts the RPC endpoint into error details.
    LeakRpcUrl,
    /// Accepts any proof, for any amount.
    SkipProofCheck,
    /// Accepts hash credentials where feePayer or supportedModes forbid them.
    AcceptForbiddenPush,
    /// Does not compare the body with the challenge digest.
    SkipDigestCheck,
    /// Trusts the echoed challenge: no binding, no comparison with the
    /// resource's request, and the payment verified against the *echoed*
    /// request (the historical defect the tampering checks attack).
    VerifyEchoedRequest,
    /// Takes the realm from the request target: `GET //evil.example/paid`
    /// is served as `/paid` with `realm="evil.example"` (a server that
    /// resolves the target as a URL reference).
    RealmFromRequestTarget,
    /// Refuses a pull payment without the challenge-bound attribution
    /// memo when the request asks for no memo, as the mppx, pympp and mpp
    /// servers do (ambiguity.server-required-memo).
    RequireAttributionMemo,
    /// A realm with non-ASCII characters (`mppconf.référence`).
    NonAsciiRealm,
    /// Challenges over 8 KB (a 9,000-character `description`).
    HugeChallenge,
    /// Error details in the challenge's auth-params (`error`,
    /// `error_description`), as RFC 6750 does, on refused credentials.
    ErrorInChallenge,
    /// Refuses hash credentials although its challenges omit
    /// `supportedModes` (claiming both modes).
    RefusePushUnadvertised,
    /// Refuses payments whose transfers are not in array order (primary
    /// first), in pull and in push mode.
    StrictCallOrder,
    /// Accepts a hash credential whose transaction is not mined (no
    /// receipt), as if pending meant paid.
    AcceptUnminedHash,
    /// Ignores `Idempotency-Key`: a retry of a paid request is refused as
    /// a replay.
    IgnoreIdempotencyKey,
    /// Skips the replay check when a request carries an `Idempotency-Key`
    /// it has not seen: one credential buys once per key.
    IdempotencyKeySkipsReplay,
    /// Leaves the request's `externalId` out of its receipts.
    DropExternalId,
    /// Served over TLS, also answers plain HTTP on the same port (the
    /// first byte of a connection decides), challenges and all.
    PlainHttpToo,
    /// A route that denies after payment answers 402 with a fresh
    /// challenge instead of 403.
    DenyWithChallenge,
    /// A route that fails after payment carries the receipt on its 500.
    ReceiptOnFailedResource,
    /// A `side_effect` route performs its side effect on every request,
    /// paid or not.
    SideEffectUnpaid,
    /// Asks for payment before authentication: 402 to a request without
    /// the route's authentication header, 401 only after payment.
    PaymentBeforeAuth,
    /// A refused credential's answer carries the resource's content (a
    /// `preview`): partial access without a verified payment.
    PartialContent,
    /// Keys the challenge-id HMAC with SHA-256 of the secret: ids bind
    /// (issue and verification agree) but are not the recommended HMAC.
    HashedHmacKey,
    /// No `Retry-After` on the 402 that refuses a credential.
    NoRetryAfter,
    /// Receipts name the first transaction the route ever settled (a
    /// mined payment of the same request, not this credential's).
    StaleReceiptReference,
    /// Over TLS, offers TLS 1.2 only (1.3 is RECOMMENDED).
    Tls12Only,
    /// Under -01, takes the credential for a route that selects
    /// Payment-Authorization from Authorization too.
    CredentialInAnyField,
    /// Under -01, binds ids without the header slot (as -00 would), at
    /// issue and at verification alike.
    HeaderUnbound,
    /// Under -01, answers requests with a credential in
    /// Payment-Authorization without Cache-Control unless another rule
    /// sets one.
    OtherFieldCacheable,
    /// Under -01, refuses an expired challenge with `invalid-challenge`
    /// (the -00 status table's row) instead of `payment-expired`.
    ExpiredAsInvalidChallenge,
    /// Discovery offers one base unit more than the challenges ask.
    DiscoveryWrongAmount,
    /// Discovery declares no 402 response on payable operations.
    DiscoveryNo402,
    /// Discovery uses the single-offer shorthand.
    DiscoveryShorthand,
    /// Discovery amounts with a leading zero.
    DiscoveryBadAmount,
    /// The discovery document as text/plain.
    DiscoveryTextPlain,
    /// Operations listed without x-payment-info.
    DiscoveryNoPaymentInfo,
    /// No Cache-Control on the discovery document.
    DiscoveryNoCacheControl,
    /// A docs homepage that is no RFC 3986 URI.
    DiscoveryBadDocsUri,
    /// A category in capitals with a space.
    DiscoveryUppercaseCategories,
    /// An empty info.title.
    DiscoveryNoTitle,
    /// POST operations without requestBody.
    DiscoveryNoRequestBody,
    /// The document at /.well-known/openapi.json, not /openapi.json.
    DiscoveryElsewhere,
    /// Session: accepts a voucher whoever signed it.
    SessionSkipSignerCheck,
    /// Session: takes an older voucher (below the highest accepted one,
    /// replayed) as payment for a request.
    SessionServeReplayedVoucher,
    /// Session: accepts vouchers above the channel's deposit.
    SessionIgnoreDeposit,
    /// Session: recovers voucher signers with plain ecrecover, high s too.
    SessionAcceptHighS,
    /// Session: lets go of the channel's lock while it reads the chain,
    /// so concurrent requests are charged against the same balance.
    SessionRacyAccounting,
    /// Session: closes on an older voucher than the one its receipt's
    /// `spent` stands for (settles less than it says).
    SessionCloseSettlesLess,
    /// Session: serves a channel whose payee is not the recipient.
    SessionSkipPayeeCheck,
    /// Session: keeps serving a channel after closing it.
    SessionServeClosedChannel,
    /// Session: serves a channel in another token than the currency.
    SessionSkipTokenCheck,
    /// Session: takes an open() on whatever contract the transaction
    /// calls as the channel.
    SessionAnyEscrow,
    /// Session: accepts vouchers on a channel whose payer requested a
    /// forced close.
    SessionIgnoreCloseRequest,
    /// Session: a metered stream goes on delivering when the balance is
    /// spent (no `payment-need-voucher`, no pause).
    SessionStreamIgnoresBalance,
    /// Session: keeps its accounting in memory only, whatever its store
    /// (a restart forgets every channel).
    SessionMemoryOnly,
    /// Session: serves its resource on its own method only (a voucher on
    /// `HEAD` is not found).
    SessionNoHead,
    /// Session: ignores `Idempotency-Key` (a retried request is served
    /// and charged again).
    SessionIgnoreIdempotencyKey,
    /// Session: co-signs a sponsored open and broadcasts it before
    /// checking what it opens (the fees of a refused open are paid).
    SessionSponsorBeforeValidating,
    /// Session: sponsors an open or topUp whatever other calls ride along.
    SessionSponsorExtraCalls,
    /// Session: does not settle its highest voucher when a payer starts a
    /// forced close (`requestClose`): the payer withdraws it after the
    /// grace period.
    SessionNoSettleOnCloseRequest,
    /// EVM charge: takes a Permit2 witness as the payload gives it (no
    /// comparison with this challenge's challengeHash) and submits with it.
    EvmUnboundWitness,
    /// EVM charge: takes an EIP-3009 authorization whatever its nonce (not
    /// checked against this challenge's challengeHash).
    EvmUnboundNonce,
    /// EVM charge: does not compare amounts with the request (permit2
    /// requestedAmount, authorization value, transaction calldata, hash logs).
    EvmAcceptWrongAmount,
    /// EVM charge: does not compare recipients with the request.
    EvmAcceptWrongRecipient,
    /// EVM charge: keeps no set of consumed transaction hashes.
    EvmHashReuse,
    /// EVM charge: judges a `hash` credential by its transaction's
    /// calldata, not by its receipt (a reverted transfer passes).
    EvmHashCalldataOnly,
    /// EVM charge: takes authorization, transaction and hash credentials
    /// for a request with splits (paying the primary recipient only).
    EvmSplitsAnyType,
    /// EVM charge: submits Permit2 and EIP-3009 transfers and answers 200
    /// without reading whether they succeeded.
    EvmIgnoreSettlementStatus,
    /// EVM charge: refuses `hash` credentials although it offers them.
    EvmRefuseHash,
    /// EVM charge: receipts without `chainId` and `challengeId`.
    EvmReceiptWithoutChainId,
    /// EVM charge: pays a permit from whoever signed it, whatever address
    /// or chain its `source` names.
    EvmIgnoreSource,
    /// EVM charge: does not compare the token a credential moves with the
    /// request's currency.
    EvmAcceptWrongToken,
    /// EVM charge: broadcasts `transaction` credentials for any chain.
    EvmIgnoreChainId,
    /// EVM charge: offers `authorization` for a currency that does not
    /// implement EIP-3009 (the reference run's EVM routes charge in
    /// mppconf's `MppPlainToken`).
    EvmAuthorizationAnyToken,
    /// EVM session: judges a `hash` open by the channel's state alone, not
    /// by the named transaction's status and logs (a reverted transaction
    /// of an existing channel passes).
    EvmSessionIgnoreTxStatus,
    /// EVM session: answers a voucher at or below the highest accepted
    /// amount before verifying its signature.
    EvmSessionReplayBeforeSignature,
    /// EVM session: closes with the highest accepted voucher, not the
    /// client's close voucher.
    EvmSessionCloseHighest,
    /// EVM session: raises a channel's deposit by a topUp's
    /// `additionalDeposit` as the payload states it, without reading the
    /// transaction.
    EvmSessionTrustTopUpAmount,
    /// EVM session: takes any increment, whatever `minVoucherDelta` says.
    EvmSessionIgnoreMinDelta,
    /// EVM session: takes a close's voucher without verifying who signed
    /// it (and closes with the highest it holds when that is too low).
    EvmSessionCloseUnverified,
    /// Tempo subscription: does not compare the key authorization's expiry
    /// with `subscriptionExpires`.
    SubscriptionIgnoreExpiry,
    /// Tempo subscription: does not compare the key authorization's chain
    /// with the request's (the chain refuses the activation it then
    /// broadcasts).
    SubscriptionIgnoreChain,
    /// Tempo subscription: does not compare the authorized key with
    /// `methodDetails.accessKey`.
    SubscriptionIgnoreAccessKey,
    /// Tempo subscription: takes any per-period limit on the currency.
    SubscriptionIgnoreLimit,
    /// Tempo subscription: takes any call scope (and admin keys).
    SubscriptionIgnoreCallScope,
    /// Tempo subscription: takes `source` on trust.
    SubscriptionTrustSource,
    /// Tempo subscription: refuses a scope without `transferWithMemo`
    /// (as mppx 0.11.0 does), although the draft makes it optional.
    SubscriptionRequireMemoScope,
    /// Tempo subscription: receipts without `subscriptionId`.
    SubscriptionReceiptWithoutId,
    /// Tempo subscription: one access key in every challenge of a route,
    /// shared by its subscriptions (§"Access Key Isolation" prefers one
    /// per subscription).
    SubscriptionSharedAccessKey,
}

impl Deviation {
    pub const ALL: [Deviation; 112] = [
        Deviation::NoCacheControl,
        Deviation::NoPrivateCache,
        Deviation::SkipReplayCheck,
        Deviation::SkipBindingCheck,
        Deviation::IgnoreExpiry,
        Deviation::AcceptWrongAmount,
        Deviation::ReceiptOnError,
        Deviation::EchoCredential,
        Deviation::EmptyId,
        Deviation::NoRealm,
        Deviation::PaddedRequest,
        Deviation::NonCanonicalRequest,
        Deviation::GenericProblemType,
        Deviation::AcceptSeveralCredentials,
        Deviation::UppercaseMethod,
        Deviation::NoExpires,
        Deviation::NoProblemDetails,
        Deviation::StaticChallenge,
        Deviation::PaymentForUnknown,
        Deviation::SkipEchoCheck,
        Deviation::IgnoreChainId,
        Deviation::IgnoreValidBefore,
        Deviation::SmallHeaderLimit,
        Deviation::LeakRpcUrl,
        Deviation::SkipProofCheck,
        Deviation::AcceptForbiddenPush,
        Deviation::SkipDigestCheck,
        Deviation::RequireAttributionMemo,
        Deviation::VerifyEchoedRequest,
        Deviation::RealmFromRequestTarget,
        Deviation::NonAsciiRealm,
        Deviation::HugeChallenge,
        Deviation::ErrorInChallenge,
        Deviation::RefusePushUnadvertised,
        Deviation::StrictCallOrder,
        Deviation::AcceptUnminedHash,
        Deviation::IgnoreIdempotencyKey,
        Deviation::IdempotencyKeySkipsReplay,
        Deviation::DropExternalId,
        Deviation::PlainHttpToo,
        Deviation::DenyWithChallenge,
        Deviation::ReceiptOnFailedResource,
        Deviation::SideEffectUnpaid,
        Deviation::PaymentBeforeAuth,
        Deviation::PartialContent,
        Deviation::HashedHmacKey,
        Deviation::NoRetryAfter,
        Deviation::StaleReceiptReference,
        Deviation::Tls12Only,
        Deviation::CredentialInAnyField,
        Deviation::HeaderUnbound,
        Deviation::OtherFieldCacheable,
        Deviation::ExpiredAsInvalidChallenge,
        Deviation::DiscoveryWrongAmount,
        Deviation::DiscoveryNo402,
        Deviation::DiscoveryShorthand,
        Deviation::DiscoveryBadAmount,
        Deviation::DiscoveryTextPlain,
        Deviation::DiscoveryNoPaymentInfo,
        Deviation::DiscoveryNoCacheControl,
        Deviation::DiscoveryBadDocsUri,
        Deviation::DiscoveryUppercaseCategories,
        Deviation::DiscoveryNoTitle,
        Deviation::DiscoveryNoRequestBody,
        Deviation::DiscoveryElsewhere,
        Deviation::SessionSkipSignerCheck,
        Deviation::SessionServeReplayedVoucher,
        Deviation::SessionIgnoreDeposit,
        Deviation::SessionAcceptHighS,
        Deviation::SessionRacyAccounting,
        Deviation::SessionCloseSettlesLess,
        Deviation::SessionSkipPayeeCheck,
        Deviation::SessionServeClosedChannel,
        Deviation::SessionSkipTokenCheck,
        Deviation::SessionAnyEscrow,
        Deviation::SessionIgnoreCloseRequest,
        Deviation::SessionStreamIgnoresBalance,
        Deviation::SessionMemoryOnly,
        Deviation::SessionNoHead,
        Deviation::SessionIgnoreIdempotencyKey,
        Deviation::SessionSponsorBeforeValidating,
        Deviation::SessionSponsorExtraCalls,
        Deviation::SessionNoSettleOnCloseRequest,
        Deviation::EvmUnboundWitness,
        Deviation::EvmUnboundNonce,
        Deviation::EvmAcceptWrongAmount,
        Deviation::EvmAcceptWrongRecipient,
        Deviation::EvmHashReuse,
        Deviation::EvmHashCalldataOnly,
        Deviation::EvmSplitsAnyType,
        Deviation::EvmIgnoreSettlementStatus,
        Deviation::EvmRefuseHash,
        Deviation::EvmReceiptWithoutChainId,
        Deviation::EvmIgnoreSource,
        Deviation::EvmAcceptWrongToken,
        Deviation::EvmIgnoreChainId,
        Deviation::EvmAuthorizationAnyToken,
        Deviation::EvmSessionIgnoreTxStatus,
        Deviation::EvmSessionReplayBeforeSignature,
        Deviation::EvmSessionCloseHighest,
        Deviation::EvmSessionTrustTopUpAmount,
        Deviation::EvmSessionIgnoreMinDelta,
        Deviation::EvmSessionCloseUnverified,
        Deviation::SubscriptionIgnoreExpiry,
        Deviation::SubscriptionIgnoreChain,
        Deviation::SubscriptionIgnoreAccessKey,
        Deviation::SubscriptionIgnoreLimit,
        Deviation::SubscriptionIgnoreCallScope,
        Deviation::SubscriptionTrustSource,
        Deviation::SubscriptionRequireMemoScope,
        Deviation::SubscriptionReceiptWithoutId,
        Deviation::SubscriptionSharedAccessKey,
    ];

    pub fn name(self) -> String {
        crate::reference::variant_name(&self)
    }

    pub fn parse(name: &str) -> Result<Self> {
        crate::reference::parse_variant(name, "server deviation", &Self::ALL)
    }
}
