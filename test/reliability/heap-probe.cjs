// Preloaded into the built proxy by the HTTP fuzz test (`node --expose-gc -r`): on SIGUSR2 it collects all garbage
// and appends the JavaScript heap then in use to FRAMEFILL_TEST_HEAP_FILE. A leak grows that figure with the cases;
// RSS also holds what the allocator and libvips keep for reuse, which settles at a level of its own.
const { appendFileSync } = require('node:fs');

process.on('SIGUSR2', () => {
  global.gc();
  appendFileSync(process.env.FRAMEFILL_TEST_HEAP_FILE, `${process.memoryUsage().heapUsed}\n`);
});
