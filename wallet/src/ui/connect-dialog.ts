/**
 * The dialogs the wallet shows inside its iframe. They are plain DOM, built with textContent
 * only. While one is open the wallet asks the host page to show the iframe, and to hide it
 * when the user has answered; dialogs queue, one at a time. Dialogs with a module of their own
 * (ui/chain-error-dialog.ts) build their body with `el` and show it through `Dialogs.inform`.
 */
export interface DialogHost {
  root: HTMLElement;
  setVisible: (visible: boolean) => void;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: { text?: string; testId?: string; className?: string } = {}, ...children: Node[]) {
  const node = document.createElement(tag);
  if (attrs.text !== undefined) node.textContent = attrs.text;
  if (attrs.testId !== undefined) node.dataset['testid'] = attrs.testId;
  if (attrs.className !== undefined) node.className = attrs.className;
  node.append(...children);
  return node;
}

export class Dialogs {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly host: DialogHost) {}

  /** Asks the user whether `origin` may use the wallet. */
  askToConnect({ origin, address }: { origin: string; address: string }): Promise<boolean> {
    return this.enqueue(() =>
      this.show(
        'connect',
        [
          el('h1', { text: 'Connect to this site?' }),
          el('p', { className: 'site', testId: 'connect-site', text: origin }),
          el('p', { text: 'wants to use your Channel Wallet' }),
          el('p', { className: 'address', testId: 'connect-address', text: address }),
          el('p', {
            className: 'muted',
            text: 'It will see this address and may ask you to approve channels. Nothing moves money without your approval in this wallet.',
          }),
        ],
        { approve: 'Connect', reject: 'Reject' },
      ),
    );
  }

  /** Asks the user to approve funding a channel: who with, which asset, what they deposit, the total locked. */
  askToFund(req: { origin: string; counterparty: string; asset: string; assetLabel: string; deposit: string; total: string; role: 'open' | 'join' }): Promise<boolean> {
    return this.enqueue(() =>
      this.show(
        'fund',
        [
          el('h1', { text: req.role === 'open' ? 'Open a channel?' : 'Join a channel?' }),
          el('p', { className: 'muted', text: `Requested by ${req.origin}` }),
          el('p', { text: 'With' }),
          el('p', { className: 'address', testId: 'fund-counterparty', text: req.counterparty }),
          el('p', { text: 'Asset' }),
          el('p', { className: 'address', testId: 'fund-asset', text: req.assetLabel }),
          el('p', { text: 'You deposit' }),
          el('p', { className: 'amount', testId: 'fund-deposit', text: req.deposit }),
          el('p', { className: 'muted', testId: 'fund-total', text: `Total locked in the channel: ${req.total}` }),
          el('p', { className: 'muted', text: 'The deposit goes into the Nitro adjudicator on chain; you can always get your balance back by closing or challenging.' }),
        ],
        { approve: 'Approve deposit', reject: 'Reject' },
      ),
    );
  }

  /** Asks the user to approve closing a channel and withdrawing. */
  askToClose(req: { origin: string; channelId: string; payout: string; counterpartyPayout: string }): Promise<boolean> {
    return this.enqueue(() =>
      this.show(
        'close',
        [
          el('h1', { text: 'Close this channel?' }),
          el('p', { className: 'muted', text: `Requested by ${req.origin}` }),
          el('p', { className: 'address', text: req.channelId }),
          el('p', { text: 'You receive' }),
          el('p', { className: 'amount', testId: 'close-payout', text: req.payout }),
          el('p', { className: 'muted', text: `The counterparty receives ${req.counterpartyPayout}. Both are paid out on chain in one transaction.` }),
        ],
        { approve: 'Close and withdraw', reject: 'Keep open' },
      ),
    );
  }

  /** Asks the user to challenge a channel on chain (when the counterparty is gone): what they get, and how long it takes. */
  askToChallenge(req: { origin: string; channelId: string; payout: string; counterpartyPayout: string; challengeDuration: string }): Promise<boolean> {
    return this.enqueue(() =>
      this.show(
        'challenge',
        [
          el('h1', { text: 'Challenge this channel on chain?' }),
          el('p', { className: 'muted', text: `Requested by ${req.origin}` }),
          el('p', { className: 'address', text: req.channelId }),
          el('p', { text: 'You receive, once the challenge period ends' }),
          el('p', { className: 'amount', testId: 'challenge-payout', text: req.payout }),
          el('p', {
            className: 'muted',
            testId: 'challenge-period',
            text: `Use this when the counterparty does not answer. The channel's latest state is registered on chain; unless the counterparty answers with a newer one within ${req.challengeDuration}, the wallet withdraws your share (the counterparty gets ${req.counterpartyPayout}). Two transactions, each paying gas.`,
          }),
        ],
        { approve: 'Challenge', reject: 'Cancel' },
      ),
    );
  }

  /** Asks the user to exit a budget on chain without the hub (it does not answer): what they get back, how long it takes. */
  askToExitBudget(req: { origin: string; hub: string; payout: string; virtualChannels: number; challengeDuration: string }): Promise<boolean> {
    return this.enqueue(() =>
      this.show(
        'budget-exit',
        [
          el('h1', { text: 'Exit this budget on chain, without the hub?' }),
          el('p', { className: 'muted', text: `Requested by ${req.origin}` }),
          el('p', { className: 'address', text: req.hub }),
          el('p', { text: 'You withdraw, once the challenge period ends' }),
          el('p', { className: 'amount', testId: 'budget-exit-payout', text: req.payout }),
          el('p', {
            className: 'muted',
            testId: 'budget-exit-period',
            text: `Use this when the hub does not answer. The budget's latest state${req.virtualChannels ? ` and its ${req.virtualChannels} open payment channel${req.virtualChannels === 1 ? '' : 's'} (with the largest payment you received)` : ''} are registered on chain; after ${req.challengeDuration} the wallet reclaims the payments and withdraws. Several transactions, each paying gas.`,
          }),
        ],
        { approve: 'Exit on chain', reject: 'Cancel' },
      ),
    );
  }

  /** Asks the user to approve a budget with a hub: what they deposit (can pay), what the hub locks (can be paid). */
  askForBudget(req: { origin: string; hub: string; deposit: string; receive: string }): Promise<boolean> {
    return this.enqueue(() =>
      this.show(
        'budget',
        [
          el('h1', { text: 'Approve a budget?' }),
          el('p', { className: 'muted', text: `Requested by ${req.origin}` }),
          el('p', { text: 'With the hub' }),
          el('p', { className: 'address', testId: 'budget-hub', text: req.hub }),
          el('p', { text: 'You deposit (the most you can pay at once)' }),
          el('p', { className: 'amount', testId: 'budget-deposit', text: req.deposit }),
          el('p', { className: 'muted', testId: 'budget-receive', text: `The hub locks ${req.receive} for payments to you.` }),
          el('p', {
            className: 'muted',
            text: 'This site may then open payment channels within the budget without asking again; each payment is a voucher signed by this wallet. You can close the budget and withdraw at any time.',
          }),
        ],
        { approve: 'Approve budget', reject: 'Reject' },
      ),
    );
  }

  /** Asks the user to close a budget and withdraw everything. */
  askToCloseBudget(req: { origin: string; hub: string; payout: string }): Promise<boolean> {
    return this.enqueue(() =>
      this.show(
        'budget-close',
        [
          el('h1', { text: 'Close this budget?' }),
          el('p', { className: 'muted', text: `Requested by ${req.origin}` }),
          el('p', { className: 'address', text: req.hub }),
          el('p', { text: 'You withdraw' }),
          el('p', { className: 'amount', testId: 'budget-close-payout', text: req.payout }),
          el('p', { className: 'muted', text: 'Paid out on chain in one transaction; the hub gets its share back the same way.' }),
        ],
        { approve: 'Close and withdraw', reject: 'Keep open' },
      ),
    );
  }

  /** Tells the user something that needs no decision (e.g. a chain failure); resolves when dismissed. */
  inform(kind: string, body: Node[], dismissLabel = 'Dismiss'): Promise<void> {
    return this.enqueue(() => this.present(kind, body, [{ label: dismissLabel, testId: `${kind}-dismiss`, primary: true, answer: undefined }], 'alertdialog'));
  }

  private enqueue<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private show(kind: string, body: Node[], labels: { approve: string; reject: string }): Promise<boolean> {
    return this.present(kind, body, [
      { label: labels.reject, testId: `${kind}-reject`, primary: false, answer: false },
      { label: labels.approve, testId: `${kind}-approve`, primary: true, answer: true },
    ]);
  }

  /** Shows one dialog with its buttons (the primary one focused) and resolves with the answer of the one clicked. */
  private present<T>(kind: string, body: Node[], buttons: { label: string; testId: string; primary: boolean; answer: T }[], role: 'dialog' | 'alertdialog' = 'dialog'): Promise<T> {
    return new Promise((resolve) => {
      const nodes = buttons.map((b) => ({ b, node: el('button', { text: b.label, testId: b.testId, ...(b.primary && { className: 'primary' }) }) }));
      const dialog = el('section', { className: 'dialog', testId: `${kind}-dialog` }, ...body, el('div', { className: 'actions' }, ...nodes.map((n) => n.node)));
      dialog.setAttribute('role', role);
      dialog.setAttribute('aria-modal', 'true');
      const finish = (answer: T) => {
        dialog.remove();
        this.host.setVisible(false);
        resolve(answer);
      };
      for (const { b, node } of nodes) node.addEventListener('click', () => finish(b.answer), { once: true });
      this.host.root.replaceChildren(dialog);
      this.host.setVisible(true);
      nodes.find((n) => n.b.primary)?.node.focus();
    });
  }
}
