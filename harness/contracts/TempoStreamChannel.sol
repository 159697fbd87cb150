// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EIP712} from "solady/utils/EIP712.sol";
import {ECDSA} from "solady/utils/ECDSA.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";

/// mppconf's escrow for Tempo session channels, `sessionProtocol: "v1"`.
///
/// Written from draft-tempo-session-00 §"Channel Escrow Contract"
/// (Contract-Backed Channel State, Contract Functions, Access Control,
/// Signature Verification) and §"Voucher Signing Format", with the names of
/// the appendix's informative `ITempoStreamChannel` interface, and the
/// `Channel` layout the SDKs read, so that they drive it unchanged.
/// The appendix also names `CLOSE_REQUEST_TYPEHASH` and
/// `getCloseRequestDigest`, but the draft defines no close-request type
/// string and no function that takes such a signature, so this escrow does
/// not invent one.
contract TempoStreamChannel is EIP712 {
    /// The field order of the deployed reference contract, which the SDKs
    /// decode `getChannel` with (mppx's legacy escrow ABI, mpp's
    /// `IEscrow`), not the order of the draft's informative interface
    /// (ambiguity.tempo-session-escrow-interface).
    struct Channel {
        bool finalized;
        uint64 closeRequestedAt;
        address payer;
        address payee;
        address token;
        address authorizedSigner;
        uint128 deposit;
        uint128 settled;
    }

    /// §"requestClose": a grace period of at least 15 minutes.
    uint64 public constant CLOSE_GRACE_PERIOD = 15 minutes;

    /// §"Signing Procedure", step 2.
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 cumulativeAmount)");

    /// §"Signature Verification", item 1: `secp256k1_order / 2`.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    mapping(bytes32 => Channel) private channels;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        address token,
        address authorizedSigner,
        uint256 deposit
    );
    event Settled(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint256 cumulativeAmount,
        uint256 deltaPaid,
        uint256 newSettled
    );
    event CloseRequested(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 closeGraceEnd);
    event CloseRequestCancelled(bytes32 indexed channelId, address indexed payer, address indexed payee);
    event TopUp(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint256 additionalDeposit,
        uint256 newDeposit
    );
    event ChannelClosed(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint256 settledToPayee,
        uint256 refundedToPayer
    );

    error ChannelAlreadyExists();
    error ChannelNotFound();
    error ChannelFinalized();
    error InvalidSignature();
    error AmountExceedsDeposit();
    error AmountNotIncreasing();
    error NotPayer();
    error NotPayee();
    error TransferFailed();
    error CloseNotReady();

    function _domainNameAndVersion() internal pure override returns (string memory, string memory) {
        return ("Tempo Stream Channel", "1");
    }

    /// Anyone opens; the caller becomes the payer (§"Access Control").
    function open(address payee, address token, uint128 deposit, bytes32 salt, address authorizedSigner)
        external
        returns (bytes32 channelId)
    {
        channelId = computeChannelId(msg.sender, payee, token, salt, authorizedSigner);
        if (channels[channelId].payer != address(0)) revert ChannelAlreadyExists();
        channels[channelId] = Channel({
            payer: msg.sender,
            payee: payee,
            token: token,
            authorizedSigner: authorizedSigner,
            deposit: deposit,
            settled: 0,
            closeRequestedAt: 0,
            finalized: false
        });
        _pull(token, msg.sender, deposit);
        emit ChannelOpened(channelId, msg.sender, payee, token, authorizedSigner, deposit);
    }

    /// Payee only: withdraws `cumulativeAmount - settled` on a voucher.
    function settle(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external {
        Channel storage channel = _open(channelId);
        if (msg.sender != channel.payee) revert NotPayee();
        if (cumulativeAmount <= channel.settled) revert AmountNotIncreasing();
        if (cumulativeAmount > channel.deposit) revert AmountExceedsDeposit();
        _verifyVoucher(channel, channelId, cumulativeAmount, signature);
        uint128 delta = cumulativeAmount - channel.settled;
        channel.settled = cumulativeAmount;
        _push(channel.token, channel.payee, delta);
        emit Settled(channelId, channel.payer, channel.payee, cumulativeAmount, delta, cumulativeAmount);
    }

    /// Payer only: adds to the deposit and cancels a pending close request.
    function topUp(bytes32 channelId, uint128 additionalDeposit) external {
        _topUp(channelId, additionalDeposit);
    }

    /// The same with a uint256 amount: the deployed reference contract's
    /// signature, which the SDKs call (the draft allows other parameter
    /// types with the same semantics; ambiguity.tempo-session-escrow-interface).
    function topUp(bytes32 channelId, uint256 additionalDeposit) external {
        if (additionalDeposit > type(uint128).max) revert AmountExceedsDeposit();
        _topUp(channelId, uint128(additionalDeposit));
    }

    function _topUp(bytes32 channelId, uint128 additionalDeposit) private {
        Channel storage channel = _open(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        channel.deposit += additionalDeposit;
        if (channel.closeRequestedAt != 0) {
            channel.closeRequestedAt = 0;
            emit CloseRequestCancelled(channelId, channel.payer, channel.payee);
        }
        _pull(channel.token, msg.sender, additionalDeposit);
        emit TopUp(channelId, channel.payer, channel.payee, additionalDeposit, channel.deposit);
    }

    /// Payee only: settles the final voucher, refunds the rest, finalizes.
    /// A `cumulativeAmount` at or below what is settled closes on what is
    /// settled and needs no signature (nothing more moves to the payee).
    function close(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external {
        Channel storage channel = _open(channelId);
        if (msg.sender != channel.payee) revert NotPayee();
        uint128 delta;
        if (cumulativeAmount > channel.settled) {
            if (cumulativeAmount > channel.deposit) revert AmountExceedsDeposit();
            _verifyVoucher(channel, channelId, cumulativeAmount, signature);
            delta = cumulativeAmount - channel.settled;
            channel.settled = cumulativeAmount;
        }
        uint128 refund = channel.deposit - channel.settled;
        channel.finalized = true;
        _push(channel.token, channel.payee, delta);
        _push(channel.token, channel.payer, refund);
        emit ChannelClosed(channelId, channel.payer, channel.payee, delta, refund);
    }

    /// Payer only: starts the grace period (a second request keeps the first time).
    function requestClose(bytes32 channelId) external {
        Channel storage channel = _open(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        if (channel.closeRequestedAt == 0) channel.closeRequestedAt = uint64(block.timestamp);
        emit CloseRequested(channelId, channel.payer, channel.payee, channel.closeRequestedAt + CLOSE_GRACE_PERIOD);
    }

    /// Payer only, after the grace period: refunds what is not settled.
    function withdraw(bytes32 channelId) external {
        Channel storage channel = _open(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        if (channel.closeRequestedAt == 0 || block.timestamp < channel.closeRequestedAt + CLOSE_GRACE_PERIOD) {
            revert CloseNotReady();
        }
        uint128 refund = channel.deposit - channel.settled;
        channel.finalized = true;
        _push(channel.token, channel.payer, refund);
        emit ChannelClosed(channelId, channel.payer, channel.payee, 0, refund);
    }

    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return channels[channelId];
    }

    function getChannelsBatch(bytes32[] calldata channelIds) external view returns (Channel[] memory result) {
        result = new Channel[](channelIds.length);
        for (uint256 i; i < channelIds.length; ++i) {
            result[i] = channels[channelIds[i]];
        }
    }

    /// §"Contract-Backed Channel State": bound to this contract and chain.
    function computeChannelId(address payer, address payee, address token, bytes32 salt, address authorizedSigner)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(payer, payee, token, salt, authorizedSigner, address(this), block.chainid));
    }

    function getVoucherDigest(bytes32 channelId, uint128 cumulativeAmount) public view returns (bytes32) {
        return _hashTypedData(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount)));
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparator();
    }

    function _open(bytes32 channelId) private view returns (Channel storage channel) {
        channel = channels[channelId];
        if (channel.payer == address(0)) revert ChannelNotFound();
        if (channel.finalized) revert ChannelFinalized();
    }

    /// §"Signature Verification" with §"Signature Malleability"'s accepted
    /// formats: 65 bytes `r || s || v` with v 27 or 28, or the 64-byte
    /// EIP-2098 compact `r || vs`; s at most half the curve order; the
    /// recovered signer is the authorized signer, else the payer.
    function _verifyVoucher(Channel storage channel, bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature)
        private
        view
    {
        bytes32 r;
        bytes32 s;
        uint8 v;
        if (signature.length == 65) {
            r = bytes32(signature[0:32]);
            s = bytes32(signature[32:64]);
            v = uint8(signature[64]);
        } else if (signature.length == 64) {
            r = bytes32(signature[0:32]);
            bytes32 vs = bytes32(signature[32:64]);
            s = vs & bytes32(uint256(type(uint256).max >> 1));
            v = uint8(uint256(vs >> 255)) + 27;
        } else {
            revert InvalidSignature();
        }
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) revert InvalidSignature();
        address signer = ECDSA.tryRecover(getVoucherDigest(channelId, cumulativeAmount), v, r, s);
        address expected = channel.authorizedSigner == address(0) ? channel.payer : channel.authorizedSigner;
        if (signer == address(0) || signer != expected) revert InvalidSignature();
    }

    function _pull(address token, address from, uint256 amount) private {
        if (amount != 0 && !SafeTransferLib.trySafeTransferFrom(token, from, address(this), amount)) {
            revert TransferFailed();
        }
    }

    function _push(address token, address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok, bytes memory data) = token.call(abi.encodeWithSelector(0xa9059cbb, to, amount));
        if (!ok || (data.length != 0 && !abi.decode(data, (bool)))) revert TransferFailed();
    }
}
