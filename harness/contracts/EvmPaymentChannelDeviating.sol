// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EvmPaymentChannel} from "./EvmPaymentChannel.sol";

/// The reference EVM session escrow with one rule of draft-evm-session-00
/// broken on purpose, chosen at deployment (`mppconf escrow --reference
/// --deviate NAME`): what the escrow suite must catch, each by the check
/// that names the rule. Deviation 0 breaks nothing. The numbers are the
/// harness's `EscrowDeviation` codes.
contract EvmPaymentChannelDeviating is EvmPaymentChannel {
    uint256 internal constant OPEN_OVERWRITES = 1;
    uint256 internal constant REOPEN_AFTER_CLOSE = 2;
    uint256 internal constant CHANNEL_ID_WITHOUT_CHAIN = 3;
    uint256 internal constant SETTLE_ANY_CALLER = 4;
    uint256 internal constant SETTLE_EQUAL_AMOUNT = 5;
    uint256 internal constant SETTLE_BEYOND_DEPOSIT = 6;
    uint256 internal constant HIGH_S = 7;
    uint256 internal constant PAYER_DESPITE_DELEGATE = 8;
    uint256 internal constant ALSO_TEMPO_DOMAIN = 9;
    uint256 internal constant TOPUP_ANY_CALLER = 10;
    uint256 internal constant TOPUP_KEEPS_CLOSE = 11;
    uint256 internal constant CLOSE_ANY_CALLER = 12;
    uint256 internal constant CLOSE_NO_REFUND = 13;
    uint256 internal constant REQUEST_CLOSE_ANY_CALLER = 14;
    uint256 internal constant REQUEST_CLOSE_FINALIZED = 15;
    uint256 internal constant WITHDRAW_WITHOUT_REQUEST = 16;
    uint256 internal constant SHORT_GRACE = 17;
    uint256 internal constant WITHDRAW_TWICE = 18;

    uint256 public immutable deviation;

    constructor(uint256 deviation_) {
        deviation = deviation_;
    }

    /// OPEN_OVERWRITES: no "already exists" check at all.
    /// REOPEN_AFTER_CLOSE: a finalized record counts as free, so a closed
    /// channel's id (and its old vouchers) come back to life.
    function open(address payee, address token, uint128 deposit, bytes32 salt, address authorizedSigner)
        public
        override
        returns (bytes32 channelId)
    {
        if (deviation != OPEN_OVERWRITES && deviation != REOPEN_AFTER_CLOSE) {
            return super.open(payee, token, deposit, salt, authorizedSigner);
        }
        if (deposit == 0) revert ZeroDeposit();
        channelId = computeChannelId(msg.sender, payee, token, salt, authorizedSigner);
        Channel storage existing = channels[channelId];
        if (deviation == REOPEN_AFTER_CLOSE && existing.payer != address(0) && !existing.finalized) {
            revert ChannelAlreadyExists();
        }
        _create(channelId, msg.sender, payee, token, deposit, authorizedSigner);
    }

    /// CHANNEL_ID_WITHOUT_CHAIN: the id leaves out `block.chainid`.
    function computeChannelId(address payer, address payee, address token, bytes32 salt, address authorizedSigner)
        public
        view
        override
        returns (bytes32)
    {
        if (deviation != CHANNEL_ID_WITHOUT_CHAIN) {
            return super.computeChannelId(payer, payee, token, salt, authorizedSigner);
        }
        return keccak256(abi.encode(payer, payee, token, salt, authorizedSigner, address(this)));
    }

    /// SETTLE_ANY_CALLER, SETTLE_EQUAL_AMOUNT (`<` for `<=`),
    /// SETTLE_BEYOND_DEPOSIT (no deposit cap: the delta comes out of other
    /// channels' funds).
    function settle(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) public override {
        if (deviation != SETTLE_ANY_CALLER && deviation != SETTLE_EQUAL_AMOUNT && deviation != SETTLE_BEYOND_DEPOSIT) {
            return super.settle(channelId, cumulativeAmount, signature);
        }
        Channel storage channel = _live(channelId);
        if (deviation != SETTLE_ANY_CALLER && msg.sender != channel.payee) revert NotPayee();
        if (deviation == SETTLE_EQUAL_AMOUNT ? cumulativeAmount < channel.settled : cumulativeAmount <= channel.settled)
        {
            revert AmountNotIncreasing();
        }
        if (deviation != SETTLE_BEYOND_DEPOSIT && cumulativeAmount > channel.deposit) revert AmountExceedsDeposit();
        _verifyVoucher(channel, channelId, cumulativeAmount, signature);
        _settle(channel, channelId, cumulativeAmount);
    }

    /// HIGH_S: any s. PAYER_DESPITE_DELEGATE: the payer's signature too on a
    /// channel with an authorized signer. ALSO_TEMPO_DOMAIN: a voucher signed
    /// under Tempo's domain name verifies as well.
    function _verifyVoucher(Channel storage channel, bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature)
        internal
        view
        override
    {
        bytes32 digest = getVoucherDigest(channelId, cumulativeAmount);
        if (deviation == HIGH_S) {
            (address signer,) = _recover(digest, signature);
            if (signer == address(0) || signer != _expectedSigner(channel)) revert InvalidSignature();
        } else if (deviation == PAYER_DESPITE_DELEGATE) {
            (address signer, uint256 s) = _recover(digest, signature);
            if (s > HALF_ORDER || signer == address(0) || (signer != _expectedSigner(channel) && signer != channel.payer))
            {
                revert InvalidSignature();
            }
        } else if (deviation == ALSO_TEMPO_DOMAIN) {
            (address signer, uint256 s) = _recover(digest, signature);
            if (signer != _expectedSigner(channel)) {
                bytes32 tempoDomain = keccak256(
                    abi.encode(
                        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                        keccak256("Tempo Stream Channel"),
                        keccak256("1"),
                        block.chainid,
                        address(this)
                    )
                );
                bytes32 structHash = keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount));
                (signer, s) = _recover(keccak256(abi.encodePacked("\x19\x01", tempoDomain, structHash)), signature);
            }
            if (s > HALF_ORDER || signer == address(0) || signer != _expectedSigner(channel)) revert InvalidSignature();
        } else {
            super._verifyVoucher(channel, channelId, cumulativeAmount, signature);
        }
    }

    /// TOPUP_ANY_CALLER; TOPUP_KEEPS_CLOSE (a pending close survives).
    function topUp(bytes32 channelId, uint128 additionalDeposit) public override {
        if (deviation != TOPUP_ANY_CALLER && deviation != TOPUP_KEEPS_CLOSE) {
            return super.topUp(channelId, additionalDeposit);
        }
        if (additionalDeposit == 0) revert ZeroDeposit();
        Channel storage channel = _live(channelId);
        if (deviation != TOPUP_ANY_CALLER && msg.sender != channel.payer) revert NotPayer();
        channel.deposit += additionalDeposit;
        if (deviation != TOPUP_KEEPS_CLOSE) channel.closeRequestedAt = 0;
        _pull(channel.token, msg.sender, additionalDeposit);
        emit TopUp(channelId, additionalDeposit, channel.deposit);
    }

    /// CLOSE_ANY_CALLER; CLOSE_NO_REFUND (finalized, the remainder kept).
    function close(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) public override {
        if (deviation != CLOSE_ANY_CALLER && deviation != CLOSE_NO_REFUND) {
            return super.close(channelId, cumulativeAmount, signature);
        }
        Channel storage channel = _live(channelId);
        if (deviation != CLOSE_ANY_CALLER && msg.sender != channel.payee) revert NotPayee();
        uint128 delta;
        if (cumulativeAmount > channel.settled) {
            if (cumulativeAmount > channel.deposit) revert AmountExceedsDeposit();
            _verifyVoucher(channel, channelId, cumulativeAmount, signature);
            delta = cumulativeAmount - channel.settled;
            channel.settled = cumulativeAmount;
        }
        uint128 refund = deviation == CLOSE_NO_REFUND ? 0 : channel.deposit - channel.settled;
        channel.finalized = true;
        _push(channel.token, channel.payee, delta);
        _push(channel.token, channel.payer, refund);
        emit ChannelClosed(channelId, delta, refund);
    }

    /// REQUEST_CLOSE_ANY_CALLER; REQUEST_CLOSE_FINALIZED (a finalized
    /// channel takes a close request).
    function requestClose(bytes32 channelId) public override {
        if (deviation != REQUEST_CLOSE_ANY_CALLER && deviation != REQUEST_CLOSE_FINALIZED) {
            return super.requestClose(channelId);
        }
        Channel storage channel = channels[channelId];
        if (channel.payer == address(0)) revert ChannelNotFound();
        if (deviation != REQUEST_CLOSE_FINALIZED && channel.finalized) revert ChannelFinalized();
        if (deviation != REQUEST_CLOSE_ANY_CALLER && msg.sender != channel.payer) revert NotPayer();
        if (channel.closeRequestedAt == 0) channel.closeRequestedAt = uint64(block.timestamp);
        emit CloseRequested(channelId, channel.closeRequestedAt + CLOSE_GRACE_PERIOD);
    }

    /// WITHDRAW_WITHOUT_REQUEST (no `closeRequestedAt == 0` check);
    /// SHORT_GRACE (five minutes); WITHDRAW_TWICE (no finalized check).
    function withdraw(bytes32 channelId) public override {
        if (deviation != WITHDRAW_WITHOUT_REQUEST && deviation != SHORT_GRACE && deviation != WITHDRAW_TWICE) {
            return super.withdraw(channelId);
        }
        Channel storage channel = channels[channelId];
        if (channel.payer == address(0)) revert ChannelNotFound();
        if (deviation != WITHDRAW_TWICE && channel.finalized) revert ChannelFinalized();
        if (msg.sender != channel.payer) revert NotPayer();
        if (deviation == WITHDRAW_WITHOUT_REQUEST) {
            if (block.timestamp < channel.closeRequestedAt + CLOSE_GRACE_PERIOD) revert CloseNotReady();
        } else {
            _requireGraceOver(channel, deviation == SHORT_GRACE ? 5 minutes : CLOSE_GRACE_PERIOD);
        }
        _refund(channel, channelId);
    }
}
