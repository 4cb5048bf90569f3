/**
 * The wallet's log. Lines carry an event name and a few primitive fields only — never an
 * object, a message body or a store record — so nothing secret can reach the console (which a
 * browser extension or a devtools session may forward) by accident.
 */
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
}

function line(event: string, fields: LogFields = {}): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v) : String(v)}`);
  return `[channel-wallet] ${event}${parts.length ? ' ' + parts.join(' ') : ''}`;
}

export const consoleLogger: Logger = {
  info: (event, fields) => console.info(line(event, fields)),
  warn: (event, fields) => console.warn(line(event, fields)),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {} };
