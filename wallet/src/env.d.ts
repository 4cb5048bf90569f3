/// <reference types="vite/client" />

// Provided by the `chain-config` plugin in vite.config.ts: the contents of .local/chain.json
// (or the file named by env CHAIN_CONFIG) when the page is served or built, or null if there is none.
declare module 'virtual:chain-config' {
  const chainConfig: import('../../chain/deploy.ts').ChainConfig | null;
  export default chainConfig;
}
