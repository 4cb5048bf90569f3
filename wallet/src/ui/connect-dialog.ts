/**
 * The dialogs the wallet shows inside its iframe. They are plain DOM, built with textContent
 * only. While one is open the wallet asks the host page to show the iframe, and to hide it
 * when the user has answered; dialogs queue, one at a time.
 */
export interface DialogHost {
  root: HTMLElement;
  setVisible: (visible: boolean) => void;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: { text?: string; testId?: string; className?: string } = {}, ...children: Node[]) {
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

  private enqueue<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private show(kind: string, body: Node[], labels: { approve: string; reject: string }): Promise<boolean> {
    return new Promise((resolve) => {
      const approve = el('button', { text: labels.approve, testId: `${kind}-approve`, className: 'primary' });
      const reject = el('button', { text: labels.reject, testId: `${kind}-reject` });
      const dialog = el('section', { className: 'dialog', testId: `${kind}-dialog` }, ...body, el('div', { className: 'actions' }, reject, approve));
      dialog.setAttribute('role', 'dialog');
      dialog.setAttribute('aria-modal', 'true');
      const finish = (answer: boolean) => {
        dialog.remove();
        this.host.setVisible(false);
        resolve(answer);
      };
      approve.addEventListener('click', () => finish(true), { once: true });
      reject.addEventListener('click', () => finish(false), { once: true });
      this.host.root.replaceChildren(dialog);
      this.host.setVisible(true);
      approve.focus();
    });
  }
}
