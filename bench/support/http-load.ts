/**
 * Closed-loop HTTP/1.1 load with little overhead of its own: each keep-alive connection sends a request
 * with a 1 KiB body and waits for the whole response (headers, then `content-length` bytes) before the
 * next. Responses other than 200 are counted and reported.
 */
import { closedLoop, type LatencyResult } from './load.ts';

export const BODY_BYTES = 1024;

export interface HttpLatencyResult extends LatencyResult {
  /** Responses other than 200 (counted, and the first one's status line kept, rather than aborting). */
  failed: number;
  firstFailure: string | undefined;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export async function httpRequestResponse(
  host: string,
  port: number,
  connections: number,
  seconds: number,
  authority: string,
  /** More header lines (each ending in CRLF), e.g. an `authorization` header. */
  extraHeaders = '',
): Promise<HttpLatencyResult> {
  const request = Buffer.concat([
    Buffer.from(
      `POST /bench HTTP/1.1\r\nhost: ${authority}\r\n${extraHeaders}content-type: application/octet-stream\r\ncontent-length: ${BODY_BYTES}\r\n\r\n`,
    ),
    Buffer.alloc(BODY_BYTES, 0x71),
  ]);
  let failed = 0;
  let firstFailure: string | undefined;
  const result = await closedLoop(host, port, connections, seconds, request, () => {
    let pending: Buffer = Buffer.alloc(0);
    return (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let complete = 0;
      for (;;) {
        const end = pending.indexOf(HEADER_END);
        if (end < 0) return complete;
        const head = pending.toString('latin1', 0, end);
        const total = end + HEADER_END.length + Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < total) return complete;
        if (!head.startsWith('HTTP/1.1 200')) {
          failed++;
          firstFailure ??= head.split('\r\n')[0];
        }
        pending = pending.subarray(total);
        complete++;
      }
    };
  });
  return { ...result, failed, firstFailure };
}
