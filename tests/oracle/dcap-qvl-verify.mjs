#!/usr/bin/env node
// The independent oracle: @phala/dcap-qvl (a pure-JS verifier of Intel DCAP quotes, not ours)
// verifies one case folder of shared/testvectors at a given time.
//
//   node tests/oracle/dcap-qvl-verify.mjs CASE_DIR UNIX_TIME
//
// prints one JSON object: {"status": "UpToDate", "advisory_ids": [...]} when dcap-qvl accepts
// the quote, {"error": "..."} when it refuses it (the message with its causes). Exit 0 either way;
// exit 2 when the folder cannot be read (a problem of the test, not a verdict).
//
// dcap-qvl takes its collateral as one object (types: node_modules/@phala/dcap-qvl/src/index.d.ts,
// "Collateral"). It is built from the folder's split files, not from collateral_dcap_qvl.json
// (only some cases have that), so that both verifiers read the very same bytes:
//   tcb_info        the exact text of the "tcbInfo" value of tcb_info.json (the signed bytes)
//   tcb_info_signature   its "signature" (hex r||s)
//   qe_identity, qe_identity_signature   the same from qe_identity.json ("enclaveIdentity")
//   *_issuer_chain  the PEM files as text
//   pck_crl, root_ca_crl   the DER files as hex (dcap-qvl takes hex strings or byte arrays)
//
// bench/verify imports buildCollateral() and verify from here.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import dcapQvl from '@phala/dcap-qvl';

export const { verify } = dcapQvl;

// The raw text of the value of the first key of a PCS body {"KEY":VALUE,"signature":"HEX"}.
// The signature covers exactly those bytes, so the value must not go through JSON.parse and
// JSON.stringify (which would change spacing or number forms).
function splitSignedBody(text, key) {
    const head = `{"${key}":`;
    const tail = text.lastIndexOf(',"signature":"');
    if (!text.startsWith(head) || tail < 0) {
        throw new Error(`not a PCS body {"${key}":…,"signature":"…"}`);
    }
    const signature = JSON.parse(text.slice(tail + ',"signature":'.length, text.lastIndexOf('}')));
    return { value: text.slice(head.length, tail), signature };
}

function readText(dir, name) {
    return readFileSync(join(dir, name), 'utf8');
}

export function buildCollateral(dir) {
    const tcb = splitSignedBody(readText(dir, 'tcb_info.json').trim(), 'tcbInfo');
    const qe = splitSignedBody(readText(dir, 'qe_identity.json').trim(), 'enclaveIdentity');
    return {
        tcb_info: tcb.value,
        tcb_info_signature: tcb.signature,
        tcb_info_issuer_chain: readText(dir, 'tcb_info_issuer_chain.pem'),
        qe_identity: qe.value,
        qe_identity_signature: qe.signature,
        qe_identity_issuer_chain: readText(dir, 'qe_identity_issuer_chain.pem'),
        pck_crl: readFileSync(join(dir, 'pck_crl.der')).toString('hex'),
        pck_crl_issuer_chain: readText(dir, 'pck_crl_issuer_chain.pem'),
        root_ca_crl: readFileSync(join(dir, 'root_ca_crl.der')).toString('hex'),
    };
}

function errorChain(e) {
    const parts = [];
    for (let c = e; c; c = c.cause) {
        parts.push(c.message || String(c));
    }
    return parts.join(': ');
}

export function verifyCase(dir, at) {
    const quote = new Uint8Array(readFileSync(join(dir, 'quote.bin')));
    const collateral = buildCollateral(dir);
    try {
        const r = verify(quote, collateral, at);
        return { status: r.status, advisory_ids: [...r.advisory_ids] };
    } catch (e) {
        return { error: errorChain(e) };
    }
}

function main(argv) {
    if (argv.length !== 2 || !/^[0-9]+$/.test(argv[1])) {
        process.stderr.write('usage: dcap-qvl-verify.mjs CASE_DIR UNIX_TIME\n');
        return 2;
    }
    let result;
    try {
        result = verifyCase(argv[0], Number(argv[1]));
    } catch (e) {
        process.stderr.write(`dcap-qvl-verify: ${argv[0]}: ${errorChain(e)}\n`);
        return 2;
    }
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
    process.exitCode = main(process.argv.slice(2));
}
