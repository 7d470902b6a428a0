/**
 * The metadata headers of an HBONE CONNECT: `forwarded` (the original client address), `baggage` (the
 * source workload, for the destination's telemetry) and `traceparent` (passed on untouched).
 */
import type { Workload } from '../model/index.ts';
import { joinHostPort, splitHostPort } from '../net/host-port.ts';

/** `forwarded: for="10.0.0.1:4321"` (RFC 7239; IPv6 in brackets, the whole node quoted). */
export function forwardedFor(ip: string, port: number): string {
  return `for="${joinHostPort(ip, port)}"`;
}

/** The client address of the first `for=` element of a `forwarded` header; undefined if absent or malformed. */
export function parseForwardedFor(header: string | undefined): { ip: string; port: number } | undefined {
  if (!header) return undefined;
  const match = /(?:^|[;,\s])for=("?)([^";,\s]+)\1/i.exec(header);
  if (!match) return undefined;
  const node = match[2]!;
  const parsed = splitHostPort(node);
  if (parsed) return { ip: parsed.host, port: parsed.port };
  return undefined;
}

/** W3C baggage with the attributes Istio's ztunnel sends about the source workload. */
export function baggageFor(workload: Workload): string {
  const entries: [string, string][] = [
    ['k8s.namespace.name', workload.namespace],
    ['k8s.pod.name', workload.name],
    ['service.name', workload.canonicalName],
    ['service.version', workload.canonicalRevision],
  ];
  return entries.map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join(',');
}

export interface BaggageSource {
  namespace?: string | undefined;
  podName?: string | undefined;
  canonicalName?: string | undefined;
  canonicalRevision?: string | undefined;
}

/** The longest name Kubernetes allows (a DNS subdomain). */
const MAX_BAGGAGE_VALUE = 253;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

export function parseBaggage(header: string | undefined): BaggageSource {
  const result: BaggageSource = {};
  if (!header) return result;
  for (const member of header.split(',')) {
    const eq = member.indexOf('=');
    if (eq < 0) continue;
    const key = member.slice(0, eq).trim();
    const semicolon = member.indexOf(';', eq);
    let value: string;
    try {
      value = decodeURIComponent(member.slice(eq + 1, semicolon < 0 ? undefined : semicolon).trim());
    } catch {
      continue;
    }
    // The values become metric labels and log fields: nothing a Kubernetes name or label could not hold in
    // length, and no control characters (a peer's newline or escape sequence would forge log lines).
    if (value.length > MAX_BAGGAGE_VALUE || CONTROL_CHARACTERS.test(value)) continue;
    if (key === 'k8s.namespace.name') result.namespace = value;
    else if (key === 'k8s.pod.name') result.podName = value;
    else if (key === 'service.name') result.canonicalName = value;
    else if (key === 'service.version') result.canonicalRevision = value;
  }
  return result;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/**
 * A W3C traceparent is passed on only when well-formed, so that garbage never propagates: the spec forbids
 * version ff and all-zero trace and parent ids, too.
 */
export function validTraceparent(header: string | undefined): string | undefined {
  const match = header === undefined ? null : TRACEPARENT.exec(header);
  if (!match || match[1] === 'ff' || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return undefined;
  return header;
}
