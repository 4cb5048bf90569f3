import { describe, expect, it } from 'vitest';
import type { Address, Bytes32 } from '../../../core/src/index.ts';
import type { ChainFailure } from '../../../core/src/objectives/effects.ts';
import type { ChannelSummary } from '../../../engine/src/engine.ts';
import { describeChainFailure, type ChainFailureFacts } from './chain-error-dialog.ts';

const ETH: Address = '0x0000000000000000000000000000000000000000';
const TOKEN: Address = '0x5fbdb2315678afecb367f032d93f642f64180aa3';
const ME: Address = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const PEER: Address = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const FUNDER: Address = '0x90f79bf6eb2c4f870365e785982e1f101e93b906';
const CHANNEL = `0x${'ab'.repeat(32)}` as Bytes32;
const ether = (n: number) => BigInt(Math.round(n * 1e6)) * 10n ** 12n;

function channel(over: Partial<ChannelSummary> = {}): ChannelSummary {
  return { channelId: CHANNEL, participants: [ME, PEER], appDefinition: `0x${'02'.repeat(20)}`, turnNum: 0, status: 'failed', asset: ETH, balances: [ether(1), ether(0.5)], challengeDuration: 86_400, ...over };
}

function describe_(failure: ChainFailure, over: Partial<ChainFailureFacts> = {}) {
  return describeChainFailure({ failure, channel: channel(), me: ME, rpcUrl: 'http://127.0.0.1:8545', chainId: 31337, tokenSymbol: 'CWT', ...over });
}

const deposit = (code: string, more: Partial<ChainFailure> = {}): ChainFailure => ({ operation: 'deposit', code, asset: ETH, amount: ether(1), held: 0n, ...more });
const conclude = (code: string, more: Partial<ChainFailure> = {}): ChainFailure => ({ operation: 'conclude', code, ...more });

const NEW_CHANNEL = 'You can close the channel to end it. To try again, open a new channel.';
const CLOSE_SAFE = "Your 1 ETH is safe: the final state you both signed, kept in this wallet, pays it out once submitted on chain. Close the channel again to submit it once the problem is fixed; do not clear this site's data before then.";

describe('the chain error notice: wording per error code', () => {
  it('names the channel (counterparty, asset) and what failed', () => {
    const n = describe_(deposit('insufficient-funds'));
    expect(n.title).toBe('Deposit failed');
    expect(n.counterparty).toBe('0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC');
    expect(n.asset).toBe('ETH');
    expect(n.what).toBe('Your deposit of 1 ETH into this channel did not complete.');
    const token = describe_(deposit('insufficient-funds', { asset: TOKEN }), { channel: channel({ asset: TOKEN }) });
    expect(token.asset).toBe('CWT 0x5FbDB2315678afecb367f032d93F642f64180aa3');
    expect(token.what).toBe('Your deposit of 1 CWT into this channel did not complete.');
    const close = describe_(conclude('unreachable'));
    expect(close.title).toBe('Closing the channel failed');
    expect(close.what).toBe('The transaction that closes this channel and pays it out did not complete.');
  });

  it('insufficient-funds: what the funding account has and what the deposit needs', () => {
    const shortfall = { account: FUNDER, asset: ETH, balance: ether(0.01), amount: ether(1) };
    const n = describe_(deposit('insufficient-funds', { shortfall }));
    expect(n.reason).toBe('Your funding account (0x90F79bf6EB2c4f870365E785982E1f101E93b906) has 0.01 ETH but the deposit needs 1 ETH plus gas.');
    expect(n.funds).toBe('Nothing was deposited.');
    expect(n.action).toBe('You can close the channel to end it. To try again, add ETH to your funding account and open a new channel.');

    expect(describe_(deposit('insufficient-funds', { shortfall: { ...shortfall, balance: ether(1), gas: 251_234_567_890_123n } })).reason).toBe(
      'Your funding account (0x90F79bf6EB2c4f870365E785982E1f101E93b906) has 1 ETH but the deposit needs 1 ETH plus up to 0.000252 ETH for gas.',
    );
    const token = describe_(deposit('insufficient-funds', { asset: TOKEN, amount: 7n * 10n ** 18n, shortfall: { account: FUNDER, asset: TOKEN, balance: 5n * 10n ** 18n, amount: 7n * 10n ** 18n } }), {
      channel: channel({ asset: TOKEN }),
    });
    expect(token.reason).toBe('Your funding account (0x90F79bf6EB2c4f870365E785982E1f101E93b906) has 5 CWT but the deposit needs 7 CWT.');
    expect(token.action).toMatch(/add CWT to your funding account/);
    // The token is there, the ETH for the approval's and the deposit's gas is not.
    const gasOnly = describe_(deposit('insufficient-funds', { asset: TOKEN, shortfall: { account: FUNDER, asset: ETH, balance: 0n, amount: 0n, gas: 10n ** 14n } }), { channel: channel({ asset: TOKEN }) });
    expect(gasOnly.reason).toBe('Your funding account (0x90F79bf6EB2c4f870365E785982E1f101E93b906) has 0 ETH but the deposit needs up to 0.0001 ETH for gas.');
    expect(gasOnly.action).toMatch(/add ETH to your funding account/);
    // The node refused it without the balance check's figures.
    expect(describe_(deposit('insufficient-funds')).reason).toBe('Your funding account does not have enough ETH for the deposit of 1 ETH and its gas.');
  });

  it('insufficient-funds when closing: the gas, and the balances still held', () => {
    const n = describe_(conclude('insufficient-funds', { shortfall: { account: FUNDER, asset: ETH, balance: 0n, amount: 0n, gas: 251_234_567_890_123n } }), { channel: channel({ status: 'failed', turnNum: 4 }) });
    expect(n.reason).toBe('Your funding account (0x90F79bf6EB2c4f870365E785982E1f101E93b906) has 0 ETH but closing the channel needs up to 0.000252 ETH for gas.');
    expect(n.funds).toBe("Nothing was paid out: the adjudicator still holds the channel's 1.5 ETH, 1 ETH of it yours.");
    expect(n.action).toBe(CLOSE_SAFE);
    expect(describe_(conclude('insufficient-funds')).reason).toBe('Your funding account does not have enough ETH for closing the channel and its gas.');
  });

  it('reverted: the contract reason; a counterparty deposit already in is paid back by closing', () => {
    const n = describe_(deposit('reverted', { reason: 'Deposit: insufficient allowance', held: ether(0.5) }), { channel: channel({ participants: [PEER, ME], balances: [ether(0.5), ether(1)] }) });
    expect(n.reason).toBe('The transaction was reverted: Deposit: insufficient allowance.');
    expect(n.funds).toBe("Nothing of yours was deposited. The adjudicator holds the counterparty's deposit of 0.5 ETH; closing the channel pays it back.");
    expect(n.action).toBe(NEW_CHANNEL);
    expect(describe_(deposit('reverted')).reason).toBe('The transaction was reverted by the chain, which gave no reason.');
    expect(describe_(conclude('reverted', { reason: 'Channel finalized.' })).reason).toBe('The transaction was reverted: Channel finalized.');
  });

  it('unreachable: names the RPC by its origin only (a path or query may hold an API key)', () => {
    const n = describe_(deposit('unreachable'), { rpcUrl: 'https://rpc.example.org/v3/SECRET-KEY?apikey=SECRET' });
    expect(n.reason).toBe('The chain at https://rpc.example.org is not reachable.');
    expect(JSON.stringify(n)).not.toMatch(/SECRET/);
    expect(n.funds).toBe('This wallet could not confirm whether your deposit of 1 ETH went through; most likely it did not. Closing the channel pays back whatever it holds.');
    expect(n.action).toBe('You can close the channel to end it. To try again, wait until the chain is reachable and open a new channel.');
    expect(describe_(deposit('unreachable'), { rpcUrl: 'not a url' }).reason).toBe('The chain at the configured chain RPC is not reachable.');
    expect(describe_(conclude('unreachable')).funds).toBe("As far as this wallet can tell, nothing was paid out: the adjudicator still holds the channel's 1.5 ETH, 1 ETH of it yours.");
  });

  it('wrong-chain, rejected-by-user, timeout', () => {
    const wrong = describe_(deposit('wrong-chain'));
    expect(wrong.reason).toBe("Your browser wallet is on another network than this wallet's channels, which are on chain 31337.");
    expect(wrong.funds).toBe('Nothing was deposited.');
    expect(wrong.action).toMatch(/To try again, switch your browser wallet to chain 31337 and open a new channel\.$/);

    const rejected = describe_(deposit('rejected-by-user'));
    expect(rejected.reason).toBe('The deposit was rejected in your browser wallet.');
    expect(rejected.funds).toBe('Nothing was deposited.');
    expect(rejected.action).toBe(NEW_CHANNEL);
    expect(describe_(conclude('rejected-by-user')).reason).toBe('The closing transaction was rejected in your browser wallet.');

    const hash = `0x${'cd'.repeat(32)}`;
    const late = describe_(deposit('timeout', { txHash: hash }));
    expect(late.reason).toBe(`The transaction ${hash} was sent but not confirmed in time.`);
    expect(late.funds).toBe('Your deposit of 1 ETH may still go through. If it does, the adjudicator holds it and closing the channel pays it back.');
    const lateClose = describe_(conclude('timeout'));
    expect(lateClose.reason).toBe('The transaction was sent but not confirmed in time.');
    expect(lateClose.funds).toBe("The closing transaction may still go through and pay everyone out. Until it does, the adjudicator still holds the channel's 1.5 ETH, 1 ETH of it yours.");
  });

  it('an unknown code says the chain message', () => {
    const n = describe_(deposit('something-new'), { detail: 'The chain said no' });
    expect(n.reason).toBe('The chain said no.');
    expect(describe_(deposit('something-new')).reason).toBe('The chain refused the transaction.');
  });
});
