// npm run docs:rpc — rewrites docs/rpc.md from the RPC schema.
import { writeFileSync } from 'node:fs';
import { renderRpcReference } from '../sdk-client/src/schema-doc.ts';

writeFileSync(new URL('../docs/rpc.md', import.meta.url), renderRpcReference());
console.log('docs/rpc.md written');
