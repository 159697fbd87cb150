// SPDX-License-Identifier: CC0-1.0
pragma solidity ^0.8.30;

import {ERC20} from "solady/tokens/ERC20.sol";

/// @title MppPlainToken
/// @notice An ERC-20 without EIP-3009, and an open `mint` as
/// MppTestToken's: the currency of mppconf's reference EVM server when it
/// deviates on purpose (`evm-authorization-any-token`), offering
/// `authorization` for a token that cannot settle one
/// (draft-evm-charge-00 §"Credential Type Negotiation").
contract MppPlainToken is ERC20 {
    function name() public pure override returns (string memory) {
        return "MPP Plain USD";
    }

    function symbol() public pure override returns (string memory) {
        return "MPPP";
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Anyone mints: the harness funds its payers with it.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
