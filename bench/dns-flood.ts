/**
 * What a DYNAMIC_DNS flood costs the waypoint's resolver, with the per-client bounds and without them
 * (`lookup-limits.ts` with every bound out of reach), measured in the same run, in turns: one client asks
 * FLOOD names it made up (NXDOMAIN, each new to the cache), BATCH at a time, while a second client asks one
 * new name of its own every other batch. The resolver is a stand-in answering after 1 ms (no packet leaves
 * the process). Reported: queries sent, lookups refused, the second client's names resolved, the names the
 * cache holds, and CPU time per flood lookup, as a ratio to the unbounded run.
 * Run: node bench/dns-flood.ts [flood] [rounds]
 */
import { DnsCache } from '../src/waypoint/upstream/dns-cache.ts';
import { LookupLimiter, lookupRequester } from '../src/waypoint/upstream/lookup-limits.ts';

const FLOOD = Number(process.argv[2] ?? 10_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const BATCH = 100;
const UNBOUNDED = { newNamesPerClient: 1e9, inFlightPerClient: 1e9, inFlight: 1e9 };

interface Outcome {
  queries: number;
  refused: number;
  quietResolved: number;
  quietAsked: number;
  cached: number;
  cpuMs: number;
}

async function flood(bounded: boolean, round: number): Promise<Outcome> {
  let queries = 0;
  const cache = new DnsCache({
    limiter: new LookupLimiter(bounded ? {} : UNBOUNDED),
    resolve: async (hostname) => {
      queries++;
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (hostname.startsWith('quiet-')) return [{ address: '198.18.0.1', ttl: 60 }];
      throw Object.assign(new Error('no such name'), { code: 'ENOTFOUND' });
    },
  });
  const flooder = lookupRequester('spiffe://cluster.local/ns/bench/sa/flooder', undefined, '10.244.0.2');
  const quiet = lookupRequester('spiffe://cluster.local/ns/bench/sa/quiet', undefined, '10.244.0.3');
  let refused = 0;
  let quietResolved = 0;
  let quietAsked = 0;
  const start = process.cpuUsage();
  for (let batch = 0; batch * BATCH < FLOOD; batch++) {
    const lookups = Array.from({ length: BATCH }, (_, i) =>
      cache
        .address(`f${round}-${batch}-${i}.wild.bench`, 'all', flooder)
        .catch((error: { reason?: string }) => {
          if (error.reason !== 'nxdomain') refused++;
        }),
    );
    if (batch % 2 === 0) {
      quietAsked++;
      lookups.push(
        cache.address(`quiet-${round}-${batch}.wild.bench`, 'all', quiet).then(
          () => {
            quietResolved++;
          },
          () => undefined,
        ),
      );
    }
    await Promise.all(lookups);
  }
  const cpu = process.cpuUsage(start);
  return {
    queries,
    refused,
    quietResolved,
    quietAsked,
    cached: cache.size,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

const runs: Record<'unbounded' | 'bounded', Outcome[]> = { unbounded: [], bounded: [] };
for (let round = 0; round < ROUNDS; round++) {
  runs.unbounded.push(await flood(false, round));
  runs.bounded.push(await flood(true, round));
}
const total = (outcomes: Outcome[], key: keyof Outcome) => outcomes.reduce((sum, o) => sum + o[key], 0);
for (const [name, outcomes] of Object.entries(runs)) {
  console.log(
    `${name.padEnd(9)} queries ${total(outcomes, 'queries') / ROUNDS}, refused ${total(outcomes, 'refused') / ROUNDS}, ` +
      `second client ${total(outcomes, 'quietResolved')}/${total(outcomes, 'quietAsked')} resolved, ` +
      `cache ${total(outcomes, 'cached') / ROUNDS} names, ${((total(outcomes, 'cpuMs') * 1000) / (FLOOD * ROUNDS)).toFixed(1)} µs CPU per flood lookup`,
  );
}
console.log(
  `bounded/unbounded: CPU ${(total(runs.bounded, 'cpuMs') / total(runs.unbounded, 'cpuMs')).toFixed(2)}x, ` +
    `queries ${(total(runs.bounded, 'queries') / total(runs.unbounded, 'queries')).toFixed(4)}x`,
);
