import { afterEach, describe, expect, it, vi } from 'vitest';
import { NotificationEmitter } from './emitter.ts';

describe('NotificationEmitter', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('calls listeners in order; on returns an unsubscribe and off removes', () => {
    const emitter = new NotificationEmitter();
    const calls: string[] = [];
    const a = (p: { visible: boolean }) => calls.push(`a${p.visible}`);
    const b = (p: { visible: boolean }) => calls.push(`b${p.visible}`);
    const stopA = emitter.on('wallet_uiRequest', a);
    emitter.on('wallet_uiRequest', b);
    emitter.emit('wallet_uiRequest', { visible: true });
    stopA();
    emitter.emit('wallet_uiRequest', { visible: false });
    emitter.off('wallet_uiRequest', b);
    emitter.emit('wallet_uiRequest', { visible: true });
    expect(calls).toEqual(['atrue', 'btrue', 'bfalse']);
  });

  it('keeps calling the rest when one listener throws', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const emitter = new NotificationEmitter();
    const seen: unknown[] = [];
    emitter.on('wallet_ready', () => {
      throw new Error('listener bug');
    });
    emitter.on('wallet_ready', (p) => seen.push(p));
    emitter.emit('wallet_ready', { version: '1' });
    expect(seen).toEqual([{ version: '1' }]);
    expect(error).toHaveBeenCalledOnce();
  });

  it('rejects an unknown event name and a non-function listener', () => {
    const emitter = new NotificationEmitter();
    expect(() => emitter.on('accountsChanged' as never, () => {})).toThrowError(/Unknown wallet event "accountsChanged"/);
    expect(() => emitter.on('wallet_ready', 'nope' as never)).toThrowError(/must be a function/);
  });
});
