// pnpm train [--preset quick] [--data file.txt] [--device auto] [--steps N] …  (--help lists every flag)
import { trainMain } from '@flashgrad/models';

process.exitCode = await trainMain(process.argv.slice(2));
