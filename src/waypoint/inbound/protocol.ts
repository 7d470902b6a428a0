/**
 * How the waypoint reads a tunnel's bytes: from the served port's declared protocol, or (`detect`) from the
 * first bytes the client sends, as Istio's protocol sniffing does: the HTTP/2 connection preface means h2c
 * prior knowledge, an HTTP/1.x request line means HTTP/1.1, anything else is proxied as TCP (L4 policy only).
 */
import type { PortProtocol } from '../../core/l7/types.ts';

export type WireProtocol = 'http1' | 'http2' | 'tcp';

/** The HTTP/2 client connection preface (RFC 9113 section 3.4). */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Longest method token we wait for before deciding a request line is not HTTP (`OPTIONS`, `CONNECT`...). */
const MAX_METHOD_LENGTH = 16;

/** Bytes to look at before giving up on a decision: the preface is the longest thing we need to see. */
export const DETECT_MAX_BYTES = HTTP2_PREFACE.length;

/** The declared protocol's wire form, or `detect` when the first bytes must decide. */
export function declaredWire(protocol: PortProtocol): WireProtocol | 'detect' {
  switch (protocol) {
    case 'http':
      return 'http1';
    case 'http2':
    case 'grpc':
      return 'http2';
    case 'tcp':
      return 'tcp';
    case 'detect':
      return 'detect';
  }
}

/**
 * The protocol the first bytes show, or `more` when they are a prefix of both an answer and something
 * else (the caller reads on, up to `DETECT_MAX_BYTES` or a timeout, then calls with `final`).
 */
export function detectProtocol(bytes: Buffer, final = false): WireProtocol | 'more' {
  const preface = Math.min(bytes.length, HTTP2_PREFACE.length);
  if (preface > 0 && bytes.subarray(0, preface).equals(HTTP2_PREFACE.subarray(0, preface))) {
    if (bytes.length >= HTTP2_PREFACE.length) return 'http2';
    // "PRI" could also start an HTTP/1 request with an extension method; wait for the whole preface.
    if (!final) return 'more';
  }
  for (let i = 0; i < bytes.length && i <= MAX_METHOD_LENGTH; i++) {
    const byte = bytes[i]!;
    if (byte === 0x20) return i > 0 ? 'http1' : 'tcp';
    if (!isTokenChar(byte)) return 'tcp';
  }
  if (bytes.length > MAX_METHOD_LENGTH || final) return 'tcp';
  return 'more';
}

/** Methods are RFC 9110 tokens; real ones are upper-case letters (and `-`), which is what we accept. */
function isTokenChar(byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || byte === 0x2d;
}
