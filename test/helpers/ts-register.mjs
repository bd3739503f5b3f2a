// `node --import ./test/helpers/ts-register.mjs x.ts`: runs the TypeScript sources in a child
// process the way vitest does in-process (no build), for tests that need a real process to kill.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
