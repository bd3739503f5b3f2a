globalThis.navigator = { hardwareConcurrency: Number(process.env.CORES ?? 2) };
