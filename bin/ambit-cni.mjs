#!/usr/bin/env node
// The CNI plugin `ambit-cni`: the runtime execs it by its `type` name from CNI_PATH. It is `ambit cni`, with
// ambit.mjs's runtime check (and its switch to the pinned Node.js 24), so both entry points behave alike.
process.argv.splice(2, 0, 'cni');
await import('./ambit.mjs');
