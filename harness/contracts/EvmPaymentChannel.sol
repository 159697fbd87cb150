// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EIP712} from "solady/utils/EIP712.sol";
import {ECDSA} from "solady/utils/ECDSA.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";

/// mppconf's escrow for EVM session channels: the mandatory core of
/// draft-evm-session-00 §"Contract Functions" (`open`, `settle`, `topUp`,
/// `close`, `requestClose`, `withdraw`), with §"Channel State",
/// §"Access Control", §"Signature Verification", §"Voucher Signing Format"
/// (domain "EVM Payment Channel", version "1") and §"Channel Re-Use /
/// Cross-Epoch Replay" (finalized records are kept for ever). The optional
/// Relayed / Gasless Operations profile is not implemented, which the draft
/// allows ("an implementation MAY omit in whole").
///
/// It is the escrow suite's reference (`mppconf escrow --reference`): every
/// public function is `virtual` only so that the suite's deviating twin
/// (`EvmPaymentChannelDeviating.sol`) can break one rule at a time.
contract EvmPaymentChannel is EIP712 {
    /// §"Channel State", in the draft's order.
    struct Channel {
        address payer;
        address payee;
        address token;
        address authorizedSigner;
        uint128 deposit;
        uint128 settled;
        uint64 closeRequestedAt;
        bool finalized;
    }

    /// §"Forced Close": "MUST NOT use a grace period shorter than 10
    /// minutes"; Tempo's escrow uses 15, and so does this one.
    uint64 public constant CLOSE_GRACE_PERIOD = 15 minutes;

    /// §"Signing Procedure", step 2.
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 cumulativeAmount)");

    /// §"Signature Verification", item 1: `secp256k1_order / 2`.
    uint256 internal constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    mapping(bytes32 => Channel) internal channels;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        address token,
        address authorizedSigner,
        uint256 deposit
    );
    event Settled(bytes32 indexed channelId, uint256 cumulativeAmount, uint256 deltaPaid);
    event TopUp(bytes32 indexed channelId, uint256 additionalDeposit, uint256 newDeposit);
    event CloseRequested(bytes32 indexed channelId, uint256 closeGraceEnd);
    event CloseRequestCancelled(bytes32 indexed channelId);
    event ChannelClosed(bytes32 indexed channelId, uint256 settledToPayee, uint256 refundedToPayer);

    /// §"Contract Errors": the RECOMMENDED names.
    error ChannelAlreadyExists();
    error ChannelNotFound();
    error ChannelFinalized();
    error NotPayee();
    error NotPayer();
    error AmountNotIncreasing();
    error AmountExceedsDeposit();
    error InvalidSignature();
    error CloseNotReady();
    error ZeroDeposit();
    error DepositOverflow();
    error TransferFailed();

    function _domainNameAndVersion() internal pure virtual override returns (string memory, string memory) {
        return ("EVM Payment Channel", "1");
    }

    /// Anyone opens; the caller becomes the payer. A channel id that was
    /// ever used, finalized or not, is refused (§"open").
    function open(address payee, address token, uint128 deposit, bytes32 salt, address authorizedSigner)
        public
        virtual
        returns (bytes32 channelId)
    {
        if (deposit == 0) revert ZeroDeposit();
        channelId = computeChannelId(msg.sender, payee, token, salt, authorizedSigner);
        if (channels[channelId].payer != address(0)) revert ChannelAlreadyExists();
        _create(channelId, msg.sender, payee, token, deposit, authorizedSigner);
    }

    /// Payee only: `cumulativeAmount` strictly above what is settled and at
    /// most the deposit; the difference goes to the payee (§"settle").
    function settle(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) public virtual {
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payee) revert NotPayee();
        if (cumulativeAmount <= channel.settled) revert AmountNotIncreasing();
        if (cumulativeAmount > channel.deposit) revert AmountExceedsDeposit();
        _verifyVoucher(channel, channelId, cumulativeAmount, signature);
        _settle(channel, channelId, cumulativeAmount);
    }

    /// Payer only; cancels a pending close request (§"topUp").
    function topUp(bytes32 channelId, uint128 additionalDeposit) public virtual {
        if (additionalDeposit == 0) revert ZeroDeposit();
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        if (uint256(channel.deposit) + additionalDeposit > type(uint128).max) revert DepositOverflow();
        channel.deposit += additionalDeposit;
        if (channel.closeRequestedAt != 0) {
            channel.closeRequestedAt = 0;
            emit CloseRequestCancelled(channelId);
        }
        _pull(channel.token, msg.sender, additionalDeposit);
        emit TopUp(channelId, additionalDeposit, channel.deposit);
    }

    /// Payee only: settles the final voucher, refunds the rest, finalizes.
    /// At or below what is settled, the payee forfeits the rest and no
    /// signature is read (§"close": MAY).
    function close(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) public virtual {
        Channel storage channel = _live(channelId);
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
        emit ChannelClosed(channelId, delta, refund);
    }

    /// Payer only, on a live channel: starts the grace period (a second
    /// request keeps the first time).
    function requestClose(bytes32 channelId) public virtual {
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        if (channel.closeRequestedAt == 0) channel.closeRequestedAt = uint64(block.timestamp);
        emit CloseRequested(channelId, channel.closeRequestedAt + CLOSE_GRACE_PERIOD);
    }

    /// Payer only, once, after a requested close's grace period: refunds
    /// what is not settled (§"withdraw").
    function withdraw(bytes32 channelId) public virtual {
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        _requireGraceOver(channel, CLOSE_GRACE_PERIOD);
        _refund(channel, channelId);
    }

    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return channels[channelId];
    }

    /// §"Channel State": bound to this contract and chain.
    function computeChannelId(address payer, address payee, address token, bytes32 salt, address authorizedSigner)
        public
        view
        virtual
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

    function _create(
        bytes32 channelId,
        address payer,
        address payee,
        address token,
        uint128 deposit,
        address authorizedSigner
    ) internal {
        channels[channelId] = Channel({
            payer: payer,
            payee: payee,
            token: token,
            authorizedSigner: authorizedSigner,
            deposit: deposit,
            settled: 0,
            closeRequestedAt: 0,
            finalized: false
        });
        _pull(token, payer, deposit);
        emit ChannelOpened(channelId, payer, payee, token, authorizedSigner, deposit);
    }

    function _settle(Channel storage channel, bytes32 channelId, uint128 cumulativeAmount) internal {
        uint128 delta = cumulativeAmount - channel.settled;
        channel.settled = cumulativeAmount;
        _push(channel.token, channel.payee, delta);
        emit Settled(channelId, cumulativeAmount, delta);
    }

    function _requireGraceOver(Channel storage channel, uint64 grace) internal view {
        if (channel.closeRequestedAt == 0 || block.timestamp < channel.closeRequestedAt + grace) {
            revert CloseNotReady();
        }
    }

    function _refund(Channel storage channel, bytes32 channelId) internal {
        uint128 refund = channel.deposit - channel.settled;
        channel.finalized = true;
        _push(channel.token, channel.payer, refund);
        emit ChannelClosed(channelId, 0, refund);
    }

    function _live(bytes32 channelId) internal view returns (Channel storage channel) {
        channel = channels[channelId];
        if (channel.payer == address(0)) revert ChannelNotFound();
        if (channel.finalized) revert ChannelFinalized();
    }

    /// §"Signature Verification": the 65-byte `r || s || v` form with v 27
    /// or 28 (§"Hexadecimal Values"), s at most half the curve order, the
    /// signer the channel's authorized signer, else its payer.
    function _verifyVoucher(Channel storage channel, bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature)
        internal
        view
        virtual
    {
        (address signer, uint256 s) = _recover(getVoucherDigest(channelId, cumulativeAmount), signature);
        if (s > HALF_ORDER || signer == address(0) || signer != _expectedSigner(channel)) revert InvalidSignature();
    }

    function _expectedSigner(Channel storage channel) internal view returns (address) {
        return channel.authorizedSigner == address(0) ? channel.payer : channel.authorizedSigner;
    }

    /// The signer of a 65-byte signature over `digest` (zero when it does
    /// not recover), and its s.
    function _recover(bytes32 digest, bytes calldata signature) internal view returns (address signer, uint256 s) {
        if (signature.length != 65) revert InvalidSignature();
        bytes32 r = bytes32(signature[0:32]);
        s = uint256(bytes32(signature[32:64]));
        uint8 v = uint8(signature[64]);
        if (v != 27 && v != 28) revert InvalidSignature();
        signer = ECDSA.tryRecover(digest, v, r, bytes32(s));
    }

    function _pull(address token, address from, uint256 amount) internal {
        if (amount != 0 && !SafeTransferLib.trySafeTransferFrom(token, from, address(this), amount)) {
            revert TransferFailed();
        }
    }

    function _push(address token, address to, uint256 amount) internal {
        if (amount == 0) return;
        (bool ok, bytes memory data) = token.call(abi.encodeWithSelector(0xa9059cbb, to, amount));
        if (!ok || (data.length != 0 && !abi.decode(data, (bool)))) revert TransferFailed();
    }
}
