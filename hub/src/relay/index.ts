export { consoleRelayLog, HEALTH_PATH, RELAY_PATH, relayOriginOf, startRelay } from './server.ts';
export type { LogFields, Relay, RelayHealth, RelayLog, RelayOptions } from './server.ts';
export { CloseCode, MAX_FRAME_BYTES, MAX_ID_CHARS, MAX_MESSAGE_CHARS } from './protocol.ts';
export type { ClientFrame, ErrorCode, ServerFrame } from './protocol.ts';
export { DEFAULT_QUEUE_LIMITS, OfflineQueue } from './queue.ts';
export type { QueueLimits } from './queue.ts';
