// SPDX-License-Identifier: MIT
pragma solidity 0.8.17;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title Channel Wallet Test Token (CWT)
 * @notice TEST-ONLY ERC20 for local development and automated tests.
 * @dev `mint` is an unrestricted faucet: anyone can mint any amount to anyone.
 *      Never deploy this contract to a network where the token could have value.
 */
contract TestToken is ERC20 {
    /// @notice Supply minted to `owner` at deployment: 10^30 base units (10^12 tokens at 18 decimals).
    uint256 public constant INITIAL_SUPPLY = 10 ** 30;

    constructor(address owner) ERC20("Channel Wallet Test Token", "CWT") {
        _mint(owner, INITIAL_SUPPLY);
    }

    /// @notice Dev faucet (test-only): mints `amount` to `to`. Callable by anyone.
    function mint(address to, uint256 amount) public {
        _mint(to, amount);
    }
}
