// Makes sure Debian's Chromium (/usr/bin/chromium) is installed for the Playwright e2e tests.
// Installs it with apt-get when running as root; otherwise explains what to do and exits 1.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM_PATH = '/usr/bin/chromium';

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.once('error', (err) => {
      console.error(`${cmd}: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  if (existsSync(CHROMIUM_PATH)) return 0;
  const aptGet = ['/usr/bin/apt-get', '/bin/apt-get'].find((p) => existsSync(p));
  if (process.getuid?.() !== 0 || !aptGet) {
    console.error("Chromium is required for the e2e tests: run 'sudo apt-get install -y chromium' and retry.");
    return 1;
  }
  console.log(`${CHROMIUM_PATH} not found: installing Debian's chromium with apt-get (about 30 s)...`);
  if ((await run(aptGet, ['update'])) !== 0) {
    console.error('apt-get update failed.');
    return 1;
  }
  if ((await run(aptGet, ['install', '-y', 'chromium'])) !== 0) {
    console.error('apt-get install -y chromium failed.');
    return 1;
  }
  if (!existsSync(CHROMIUM_PATH)) {
    console.error(`apt-get installed chromium, but ${CHROMIUM_PATH} is still missing.`);
    return 1;
  }
  console.log(`Installed ${CHROMIUM_PATH}.`);
  return 0;
}

process.exitCode = await main();
