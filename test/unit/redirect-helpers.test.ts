/** The small pure pieces of the redirect part: naming a namespace, printing commands, drift, DNS answers. */
import { describe, expect, it } from 'vitest';
import { lineDrift } from '../../src/redirect/backend/types.ts';
import { shellForm } from '../../src/redirect/exec.ts';
import { questionEnd, txtAnswer } from '../../src/redirect/plain-dns.ts';
import { BACKEND_ENV, backendChoice } from '../../src/redirect/rules.ts';
import { resolveTarget } from '../../src/redirect/target.ts';

describe('resolveTarget', () => {
  it('maps a name, a path and a pid to the path nsenter opens', () => {
    expect(resolveTarget({ name: 'pod-a' })).toEqual({ path: '/run/netns/pod-a' });
    expect(resolveTarget({ path: '/proc/1/ns/net' })).toEqual({ path: '/proc/1/ns/net' });
    expect(resolveTarget({ pid: '4242' })).toEqual({ path: '/proc/4242/ns/net' });
  });

  it.each([
    [{}, /exactly one/],
    [{ name: 'a', pid: 1 }, /exactly one/],
    [{ name: '../etc' }, /not a netns name/],
    [{ path: 'relative' }, /must be absolute/],
    [{ pid: '12abc' }, /not a process id/],
  ])('refuses %j', (spec, message) => {
    expect(() => resolveTarget(spec)).toThrow(message);
  });
});

describe('shellForm', () => {
  it('prints a command a shell runs identically, stdin as a quoted here-document', () => {
    expect(
      shellForm({
        argv: ['nsenter', '--net=/run/netns/a', '--', 'nft', 'list', 'table', 'inet', 'x'],
        mutates: false,
      }),
    ).toBe('nsenter --net=/run/netns/a -- nft list table inet x');
    expect(shellForm({ argv: ['echo', "it's", 'a b'], input: 'line $HOME\n', mutates: true })).toBe(
      `echo 'it'\\''s' 'a b' <<'AMBIT_EOF'\nline $HOME\nAMBIT_EOF`,
    );
  });
});

describe('lineDrift', () => {
  it('is empty for identical listings and names missing and extra lines', () => {
    expect(lineDrift(['a', 'b'], ['a', 'b'])).toEqual([]);
    expect(lineDrift(['a', 'b'], ['a', 'c'])).toEqual(['- b', '+ c']);
  });

  it('reports a reordering or a duplicate, which sets alone would miss', () => {
    expect(lineDrift(['a', 'b'], ['b', 'a'])).toEqual(['- a', '- b', '+ b', '+ a']);
    expect(lineDrift(['a'], ['a', 'a'])).not.toEqual([]);
  });
});

describe('plain DNS answers', () => {
  // A query for TXT who.example, id 0x1234, recursion desired.
  const query = Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    Buffer.from([3, ...Buffer.from('who'), 7, ...Buffer.from('example'), 0]),
    Buffer.from([0, 16, 0, 1]),
  ]);

  it('answers with the question and one TXT record', () => {
    const answer = txtAnswer(query, 'hello')!;
    expect(answer.readUInt16BE(0)).toBe(0x1234);
    expect(answer.readUInt16BE(2)).toBe(0x8500); // response, authoritative, recursion desired copied
    expect([answer.readUInt16BE(4), answer.readUInt16BE(6)]).toEqual([1, 1]);
    const end = questionEnd(query)!;
    expect(answer.subarray(12, end)).toEqual(query.subarray(12, end));
    expect(answer.subarray(end + 12).toString('latin1')).toBe('\x05hello');
  });

  it('splits long text into 255-byte strings', () => {
    const answer = txtAnswer(query, 'x'.repeat(300))!;
    const rdata = answer.subarray(questionEnd(query)! + 12);
    expect([rdata[0], rdata[256]]).toEqual([255, 45]);
  });

  it('ignores truncated queries and responses', () => {
    expect(txtAnswer(query.subarray(0, 20), 'x')).toBe(undefined);
    const response = Buffer.from(query);
    response[2] = 0x81;
    expect(txtAnswer(response, 'x')).toBe(undefined);
  });
});

describe('backend choice', () => {
  it('takes the flag, else $AMBIT_REDIRECT_BACKEND, else auto', () => {
    const saved = process.env[BACKEND_ENV];
    try {
      delete process.env[BACKEND_ENV];
      expect(backendChoice(undefined)).toBe('auto');
      process.env[BACKEND_ENV] = 'iptables-legacy';
      expect(backendChoice(undefined)).toBe('iptables-legacy');
      expect(backendChoice('nft')).toBe('nft');
      process.env[BACKEND_ENV] = 'ebpf';
      expect(() => backendChoice(undefined)).toThrow(
        /\$AMBIT_REDIRECT_BACKEND "ebpf": expected one of auto, iptables, nft/,
      );
    } finally {
      if (saved === undefined) delete process.env[BACKEND_ENV];
      else process.env[BACKEND_ENV] = saved;
    }
  });
});
