// A CLI process on the sources: `node --import ./test/helpers/ts-register.mjs test/helpers/cli-entry.ts train|sample …`.
import { sampleMain, trainMain } from '@flashgrad/models';

const [command, ...argv] = process.argv.slice(2);
if (command !== 'train' && command !== 'sample') throw new Error(`cli-entry: expected train or sample, got ${command}`);
process.exitCode = await (command === 'train' ? trainMain : sampleMain)(argv);
