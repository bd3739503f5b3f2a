// pnpm sample --ckpt out [--prompt "Call me"] [--tokens 500] [--temperature 0.8] [--top-k 200]
import { sampleMain } from '@flashgrad/models';

process.exitCode = await sampleMain(process.argv.slice(2));
