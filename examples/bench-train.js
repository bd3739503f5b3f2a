// pnpm bench:train [device] [--presets tiny,small] [--steps 10]: ms/step and tokens/s per preset,
// written to bench-results/train-<device>.json. The device also comes from FLASHGRAD_DEVICE.
import { benchTrainMain } from '@flashgrad/models';

process.exitCode = await benchTrainMain(process.argv.slice(2));
