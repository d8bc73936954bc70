#!/usr/bin/env node
// bench/verify: the reference of bench/verify/run (README.md here). @phala/dcap-qvl (installed
// in tests/oracle by scripts/install-deps) verifies one case folder's quote at the case's time
// again and again for SECONDS, on Node's one thread, with its collateral object built once
// (dcap-qvl's API takes the collateral as text and parses and checks it in every verify() call;
// that is part of what it costs per quote). A one-second warm-up (JIT) is not counted. Every
// verification must succeed. Prints one JSON line, with the rate by the wall clock and by the
// process's CPU time (user + system; Node's own helper threads, e.g. its garbage collector,
// count too):
//   {"case":"…","verified":K,"seconds":S,"cpu_seconds":C,"per_second":K/S,"per_cpu_second":K/C}
//
//   node bench/verify/dcap-qvl-rate.mjs CASE_DIR SECONDS

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildCollateral, verify } from '../../tests/oracle/dcap-qvl-verify.mjs';

function loop(quote, collateral, at, seconds) {
    const deadline = performance.now() + seconds * 1000;
    let verified = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    let now = start;
    while (now < deadline) {
        verify(quote, collateral, at); // throws on a refusal: nothing to measure then
        verified++;
        now = performance.now();
    }
    const used = process.cpuUsage(cpu);
    return { verified, seconds: (now - start) / 1000, cpu: (used.user + used.system) / 1e6 };
}

function main(argv) {
    if (argv.length !== 2 || !/^[0-9]+$/.test(argv[1]) || Number(argv[1]) < 1) {
        process.stderr.write('usage: dcap-qvl-rate.mjs CASE_DIR SECONDS\n');
        return 2;
    }
    const [dir, seconds] = [argv[0], Number(argv[1])];
    const at = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')).verification_time.unix;
    const quote = new Uint8Array(readFileSync(join(dir, 'quote.bin')));
    const collateral = buildCollateral(dir);
    loop(quote, collateral, at, 1);
    const r = loop(quote, collateral, at, seconds);
    const line = { case: dir, verified: r.verified, seconds: r.seconds, cpu_seconds: r.cpu,
                   per_second: r.verified / r.seconds, per_cpu_second: r.verified / r.cpu };
    process.stdout.write(JSON.stringify(line) + '\n');
    return 0;
}

process.exitCode = main(process.argv.slice(2));
