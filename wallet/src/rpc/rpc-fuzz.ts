/**
 * Fuzzing the wallet's JSON-RPC endpoint: `RpcServer` with the real handlers (as server.test.ts
 * builds them, over a fake-indexeddb `WalletDatabase`), and behind them a real engine — the payer
 * P of the peer-fuzz world (engine/src/testing/peer-fuzz.ts): a running direct channel with Q, a
 * budget (ledger) with the hub H and a virtual channel to Q with vouchers, the network live. The
 * origin is connected; every dialog is declined, so nothing reaches the (absent) chain.
 *
 * Inputs: valid requests of every method (ids of the world's channels, amounts), the same with 1–3
 * JSON mutations, batches, notifications, odd ids, non-objects, damaged JSON text, text over the
 * size limit, deeply nested params, and `channel_receiveMessage` carrying mutated real peer
 * messages. Sent as objects or as JSON text, as postMessage may deliver either.
 *
 * Oracles, after each input (and the network settled):
 *  - `handle` resolved, no unhandled rejection or uncaught exception;
 *  - a request with a valid id (a string of ≤ 128 characters or a finite number) gets exactly one
 *    response with that id; anything else gets at most one, with id null, or none for a notification
 *    (which is logged); no response is a -32603 (an internal error means bad input reached code that
 *    did not expect it);
 *  - the stores (the engine's MemoryStore, the permissions table) are unchanged unless the method
 *    may change them (update, pay, create/close a virtual channel, a peer message) — for those the
 *    engine's own rules apply and the engine fuzz judges them — or permissions (revoke, which the
 *    harness then grants again, counted as a store change it made itself).
 */
import 'fake-indexeddb/auto';
import { PrivateKey, type Address, signRelayLogin } from '../../../core/src/index.ts';
import { type FuzzCounts, type Json, Rng, canonical, emptyCounts, hugeJsonText, mutateJson, mutateText, randomJson, weighted } from '../../../core/src/testing/fuzz.ts';
import { peerWorld } from '../../../engine/src/testing/peer-fuzz.ts';
import { ErrorCode, MAX_MESSAGE_CHARS, type RpcNotification, type RpcResponse } from '../../../sdk-client/src/schema.ts';
import { relayOriginOf } from '../../../sdk-client/src/relay.ts';
import type { ChannelApi } from '../channels.ts';
import type { Logger } from '../log.ts';
import { WalletDatabase } from '../store/db.ts';
import { Permissions } from '../store/permissions.ts';
import type { VirtualApi } from '../virtual.ts';
import { FundingAccount } from '../funding/funding-account.ts';
import { TransactionBridge } from '../funding/transaction-bridge.ts';
import { createHandlers } from './handlers.ts';
import { RpcServer } from './server.ts';

const ORIGIN = 'http://localhost:5174';

/** Methods whose success (or failure part-way, e.g. an update the peer refused) may change what the engine stores. */
const MUTATING = new Set(['wallet_useFundingProvider', 'channel_update', 'virtual_pay', 'virtual_create', 'virtual_close', 'channel_receiveMessage']);

export interface RpcFuzzFailure {
  seed: number;
  input: number;
  what: string;
  text: string;
}

export interface RpcFuzzResult {
  seed: number;
  counts: FuzzCounts;
  failures: RpcFuzzFailure[];
  /** Responses by error code ('ok' for results). */
  codes: Record<string, number>;
}

let databases = 0;

export async function runRpcFuzz(opts: { seed: number; inputs: number }): Promise<RpcFuzzResult> {
  const { seed } = opts;
  const w = await peerWorld(seed);
  await w.reconnect(); // the network delivers: calls that need the peers complete
  const P = w.P;
  const engine = P.engine;
  const db = new WalletDatabase(`rpc-fuzz-${seed}-${++databases}`);
  const permissions = new Permissions(db);
  await permissions.decide(ORIGIN, true);
  const logged: string[] = [];
  const log: Logger = { info: (e) => void logged.push(e), warn: (e) => void logged.push(e) };
  const posted: (RpcResponse | RpcNotification)[] = [];
  const funding = new FundingAccount(db);
  const bridge = new TransactionBridge((params) => server.notify('wallet_transactionRequest', params));
  const mustGet = async <T>(p: Promise<T | undefined>, what: string): Promise<T> => {
    const v = await p;
    if (v === undefined) throw new Error(`no ${what}`);
    return v;
  };
  const channels: ChannelApi = {
    list: () => engine.listChannels(),
    get: (id) => engine.getChannel(id),
    create: async () => {
      throw new Error('the fuzz declines every deposit dialog');
    },
    join: async () => {
      throw new Error('the fuzz declines every deposit dialog');
    },
    reject: (id, reason) => engine.joinChannel(id, { reject: reason }),
    update: (id, balances, appData) => engine.updateBalances(id, balances, appData),
    close: async () => {
      throw new Error('the fuzz declines every close dialog');
    },
  };
  const virtual: VirtualApi = {
    requestBudget: async () => {
      throw new Error('the fuzz declines every budget dialog');
    },
    getBudget: (hub) => engine.getBudget(hub),
    closeBudget: async () => {
      throw new Error('the fuzz declines every budget dialog');
    },
    exitBudget: async () => {
      throw new Error('the fuzz declines every budget dialog');
    },
    getBudgetExit: async () => undefined,
    create: async (args) => mustGet(engine.getVirtualChannel(await engine.createVirtualChannel(args)), 'virtual channel'),
    pay: (id, amount) => engine.pay(id, amount),
    close: async (id) => {
      await engine.closeVirtualChannel(id);
      return mustGet(engine.getVirtualChannel(id), 'virtual channel');
    },
    get: (id) => engine.getVirtualChannel(id),
    list: () => engine.listVirtualChannels(),
  };
  const server: RpcServer = new RpcServer({
    origin: ORIGIN,
    post: (m) => posted.push(m),
    isPermitted: (o) => permissions.isGranted(o),
    log,
    handlers: createHandlers({
      address: P.key.address,
      version: '0.0.0-fuzz',
      chain: { chainId: 31337, adjudicator: '0x' + 'a1'.repeat(20), consensusApp: '0x' + 'cc'.padStart(40, '0'), virtualPaymentApp: '0x' + 'ee'.padStart(40, '0'), token: '0x' + '04'.repeat(20) },
      permissions,
      askToConnect: async () => false,
      notify: (method, params) => server.notify(method, params),
      signRelayChallenge: (relayOrigin, challenge) => signRelayLogin(P.key, relayOrigin, challenge),
      receivePeerMessage: (from, message) => engine.receiveMessage(from.toLowerCase() as Address, message),
      useRelay: async (relayUrl) => ({ address: P.key.address, relayOrigin: relayOriginOf(relayUrl) }),
      channels,
      virtual,
      askToFund: async () => false,
      askToClose: async () => false,
      askForBudget: async () => false,
      askToCloseBudget: async () => false,
      useFundingProvider: async (address, chainId) => {
        await funding.useEip1193(address, chainId);
        bridge.repeatPending();
      },
      answerTransactionRequest: (result) => bridge.answer(result),
    }),
  });

  const r = new Rng(seed ^ 0x52c);
  const counts = emptyCounts();
  const failures: RpcFuzzFailure[] = [];
  const codes: Record<string, number> = {};
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  const Q = w.Q.key.address;
  const H = w.H.key.address;
  const stranger = PrivateKey.fromHex('0x' + '5a'.repeat(32)).address;
  const ids = [w.ids.D, w.ids.V, w.ids.W, w.ids.left, w.ids.right, '0x' + '11'.repeat(32)];
  const quantity = () => r.pick(['0x0', '0x1', '0x2', '0x3e8', '0x' + (2n ** 256n - 1n).toString(16), '0x' + (2n ** 256n).toString(16), '0x01', '-0x1']);
  const peerMessages = w.corpus.filter((m) => m.to === P.key.address);
  const valid = (): { method: string; params: Json } => {
    const method = r.pick([
      'eth_requestAccounts', 'eth_accounts', 'eth_chainId', 'wallet_getPermissions', 'wallet_requestPermissions', 'wallet_revokePermissions', 'wallet_getInfo',
      'channel_list', 'channel_get', 'channel_create', 'channel_join', 'channel_update', 'channel_update', 'channel_close', 'wallet_signRelayChallenge',
      'budget_request', 'budget_get', 'budget_close', 'virtual_create', 'virtual_pay', 'virtual_pay', 'virtual_close', 'virtual_get', 'virtual_list',
      'wallet_useRelay', 'channel_receiveMessage', 'channel_receiveMessage', 'wallet_useFundingProvider', 'wallet_transactionResult', 'no_such_method',
    ]);
    const channelId = r.pick(ids);
    switch (method) {
      case 'wallet_requestPermissions':
      case 'wallet_revokePermissions':
        return { method, params: [{ eth_accounts: {} }] };
      case 'channel_get':
      case 'channel_join':
      case 'channel_close':
      case 'virtual_get':
        return { method, params: [{ channelId: r.int(4) ? channelId : w.ids.V }] };
      case 'virtual_close': // never V itself: the payment after the fuzz goes through it
        return { method, params: [{ channelId: channelId === w.ids.V ? w.ids.W : channelId }] };
      case 'channel_create':
        return { method, params: [{ counterparty: Q, asset: '0x' + '00'.repeat(20), amount: quantity(), counterpartyAmount: quantity(), challengeDuration: r.pick([60, 600, 59, 31_536_001]) }] };
      case 'channel_update':
        return { method, params: [{ channelId: r.int(3) ? w.ids.D : channelId, balances: r.int(4) ? [quantity(), quantity()] : [quantity()] }] };
      case 'wallet_signRelayChallenge':
        return { method, params: [{ relayOrigin: r.pick(['https://relay.example', 'x', '']), challenge: r.hex(r.pick([0, 16, 32, 64])) }] };
      case 'budget_request':
        return { method, params: [{ hub: H, asset: '0x' + '00'.repeat(20), sendAmount: quantity(), receiveAmount: quantity(), challengeDuration: 600 }] };
      case 'budget_get':
      case 'budget_close':
        return { method, params: [{ hub: r.pick([H, Q, stranger]) }] };
      case 'virtual_create':
        return { method, params: [{ payee: r.pick([Q, Q, H, stranger, P.key.address]), hub: r.pick([H, H, Q]), amount: r.pick(['0x1', '0x5', '0x0', '0x' + (10n ** 30n).toString(16)]) }] };
      case 'virtual_pay':
        return { method, params: [{ channelId: r.int(3) ? w.ids.V : channelId, amount: r.pick(['0x1', '0x0', '0x2', '0x1f4', '0x' + (2n ** 256n - 1n).toString(16)]) }] };
      case 'wallet_useRelay':
        return { method, params: [{ relayUrl: r.pick(['wss://relay.example/ws', 'http://x', 'not a url', '']) }] };
      case 'channel_receiveMessage': {
        const m = r.pick(peerMessages);
        let text = m.text;
        if (r.int(4)) text = JSON.stringify(mutateJson(r, JSON.parse(text) as Json, [Q, H, w.ids.D, w.ids.V]).value);
        return { method, params: [{ from: r.int(5) ? m.from : r.pick([Q, H, stranger]), message: text }] };
      }
      case 'wallet_useFundingProvider':
        return { method, params: [{ address: stranger, chainId: r.pick(['0x7a69', '0x1']) }] };
      case 'wallet_transactionResult':
        return { method, params: [{ requestId: 'r' + r.int(10), result: { hash: r.bytes32() } }] };
      default:
        return { method, params: [] };
    }
  };
  const makeInput = (): { data: unknown; text: string } => {
    const kind = weighted(r, { valid: 30, mutated: 40, notification: 3, badId: 5, garbage: 8, text: 6, huge: 2, batch: 3, deep: 3 });
    const id: Json = r.int(2) ? r.int(1_000_000) : `req-${r.int(1000)}`;
    const request = (): Json => ({ jsonrpc: '2.0', id, ...valid() });
    let value: Json;
    switch (kind) {
      case 'valid':
        value = request();
        break;
      case 'mutated':
        value = request();
        for (let i = 1 + r.int(3); i > 0; i--) value = mutateJson(r, value, [w.ids.D, w.ids.V, Q, H, '0x1', 0, -1]).value;
        break;
      case 'notification': {
        const { id: _id, ...rest } = request() as Record<string, Json>;
        value = rest;
        break;
      }
      case 'badId':
        value = { ...(request() as Record<string, Json>), id: r.pick<Json>([null, 1.5, -1, 'x'.repeat(129), {}, [], true, 1e308, 2 ** 53 + 1]) };
        break;
      case 'garbage':
        value = randomJson(r, 4);
        break;
      case 'batch':
        value = [request(), request()];
        break;
      case 'deep': {
        const depth = 1 + r.int(5000);
        const text = `{"jsonrpc":"2.0","id":${r.int(100)},"method":"channel_get","params":${'['.repeat(depth)}${']'.repeat(depth)}}`;
        return { data: text, text };
      }
      case 'text': {
        const text = mutateText(r, JSON.stringify(request()));
        return { data: text, text };
      }
      case 'huge': {
        const text = r.int(2) ? hugeJsonText(r, MAX_MESSAGE_CHARS * 3) : JSON.stringify({ jsonrpc: '2.0', id, method: 'channel_receiveMessage', params: [{ from: Q, message: 'x'.repeat(MAX_MESSAGE_CHARS + r.int(1000)) }] });
        return { data: text, text };
      }
    }
    const text = JSON.stringify(value);
    return { data: r.int(3) === 0 ? text : value, text };
  };
  const snapshot = async () => canonical({ channels: P.store.channels, objectives: P.store.objectives, vouchers: P.store.vouchers, permissions: await db.permissions.toArray() });
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      for (const p of [w.H, w.P, w.Q]) await p.engine.idle();
    }
  };
  try {
    for (let i = 0; i < opts.inputs; i++) {
      const { data, text } = makeInput();
      counts.inputs++;
      await settle();
      const before = await snapshot();
      const postedBefore = posted.length;
      const logsBefore = logged.length;
      const fail = (what: string) => failures.push({ seed, input: i, what, text: text.length > 1500 ? `${text.slice(0, 1500)}… (${text.length} chars)` : text });
      try {
        await server.handle(data);
      } catch (e) {
        counts.crashes++;
        fail(`handle threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        continue;
      }
      await settle();
      if (unhandled.length) {
        counts.crashes++;
        fail(`unhandled: ${unhandled.splice(0).map(String).join('; ')}`);
      }
      const responses = posted.slice(postedBefore).filter((m): m is RpcResponse => 'id' in m);
      const obj = typeof data === 'string' ? tryParse(data) : data;
      const o = obj !== null && typeof obj === 'object' && !Array.isArray(obj) ? (obj as Record<string, unknown>) : undefined;
      const validId = o && (typeof o.id === 'number' ? Number.isFinite(o.id) : typeof o.id === 'string' && o.id.length <= 128);
      const notification = o && !('id' in o) && o.jsonrpc === '2.0' && typeof o.method === 'string';
      if (responses.length > 1) fail(`${responses.length} responses to one input`);
      const response = responses[0];
      if (response) {
        const code = 'error' in response && response.error ? String(response.error.code) : 'ok';
        codes[code] = (codes[code] ?? 0) + 1;
        if (code === String(ErrorCode.internalError)) fail(`internal error: ${JSON.stringify(response)}`);
        if (validId && o && response.id !== o.id && !(typeof data === 'string' && text.length > MAX_MESSAGE_CHARS)) fail(`response id ${String(response.id)} for request id ${String(o.id)}`);
      }
      if (!response && !notification) {
        counts.unanswered++;
        fail('no response');
      }
      const method = o && typeof o.method === 'string' ? o.method : '';
      const after = await snapshot();
      let changed = after !== before;
      if (changed && method === 'wallet_revokePermissions' && response && 'result' in response) {
        await permissions.decide(ORIGIN, true); // connected again, so later calls are not all 4100
        changed = false;
      }
      if (changed && !(MUTATING.has(method) && response)) {
        counts.wrongStoreChanges++;
        fail(`the store changed on ${method || 'a malformed input'} (${response && 'error' in response ? `error ${response.error?.code}` : 'no error'})`);
      }
      if (response) counts.answered++;
      else if (logged.length > logsBefore) counts.rejectedLogged++;
      else counts.harmless++;
    }
    // The wallet still works: a payment and an update through RPC succeed. (The fuzz's own valid
    // payments may have spent the channel: then paying more must be refused as overdrawn, and a
    // fresh virtual channel takes the payment.)
    const v = (await engine.getVirtualChannel(w.ids.V))!;
    const spent = v.paid >= v.amount;
    const payInto = spent ? await engine.createVirtualChannel({ payee: v.payee, hub: v.hub, amount: 10n }) : w.ids.V;
    if (spent) {
      const n = posted.length;
      await server.handle({ jsonrpc: '2.0', id: 'after-overdraw', method: 'virtual_pay', params: [{ channelId: w.ids.V, amount: '0x1' }] });
      const res = posted.slice(n).find((m): m is RpcResponse => 'id' in m && m.id === 'after-overdraw');
      if (!res || !('error' in res) || !/overdrawn/.test(res.error.message)) {
        counts.crashes++;
        failures.push({ seed, input: -1, what: `after the fuzz a payment beyond a spent channel was not refused as overdrawn: ${JSON.stringify(res)}`, text: '' });
      }
    }
    const pay = { jsonrpc: '2.0', id: 'after-pay', method: 'virtual_pay', params: [{ channelId: payInto, amount: '0x1' }] };
    const bal = (await engine.getChannel(w.ids.D))!.balances;
    const update = { jsonrpc: '2.0', id: 'after-update', method: 'channel_update', params: [{ channelId: w.ids.D, balances: [`0x${(bal[0]! - 1n).toString(16)}`, `0x${(bal[1]! + 1n).toString(16)}`] }] };
    for (const call of [pay, update]) {
      const n = posted.length;
      await server.handle(call);
      const res = posted.slice(n).find((m): m is RpcResponse => 'id' in m && m.id === call.id);
      if (!res || !('result' in res)) {
        counts.crashes++;
        failures.push({ seed, input: -1, what: `after the fuzz ${call.method} failed: ${JSON.stringify(res)}`, text: JSON.stringify(call) });
      }
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    w.stop();
    db.close();
  }
  return { seed, counts, failures, codes };
}

function tryParse(text: string): unknown {
  try {
    return text.length > MAX_MESSAGE_CHARS ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
