/**
 * Container probes (`readinessProbe`, `livenessProbe`, `startupProbe`) as the Kubernetes API defines and
 * validates them: exactly one handler (`httpGet`, `tcpSocket`, `exec`, `grpc`), timing fields with
 * Kubernetes' defaults, and `successThreshold` fixed at 1 for liveness and startup probes.
 */
import type { Field } from '../field.ts';

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

/** A port as probes name it: a number, or the name of one of the container's ports (resolved later). */
export type ProbePort = number | string;

export interface HttpHeader {
  name: string;
  value: string;
}

export type ProbeHandler =
  | {
      type: 'httpGet';
      path: string;
      port: ProbePort;
      /** Defaults to the pod IP, as the kubelet does. */
      host?: string | undefined;
      scheme: 'HTTP' | 'HTTPS';
      headers: HttpHeader[];
    }
  | { type: 'tcpSocket'; port: ProbePort; host?: string | undefined }
  | { type: 'exec'; command: string[] }
  /** grpc.health.v1.Health/Check; `service` empty asks about the server as a whole. */
  | { type: 'grpc'; port: number; service: string };

export interface ProbeTiming {
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface Probe extends ProbeTiming {
  handler: ProbeHandler;
}

export const PROBE_FIELDS = {
  readiness: 'readinessProbe',
  liveness: 'livenessProbe',
  startup: 'startupProbe',
} as const satisfies Record<ProbeKind, string>;

const HANDLERS = ['httpGet', 'tcpSocket', 'exec', 'grpc'] as const;
const TIMING = [
  'initialDelaySeconds',
  'periodSeconds',
  'timeoutSeconds',
  'successThreshold',
  'failureThreshold',
  'terminationGracePeriodSeconds',
] as const;
/** RFC 7230 token: what an HTTP header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/;

export function parseProbe(field: Field, kind: ProbeKind): Probe | undefined {
  if (!field.object([...HANDLERS, ...TIMING])) return undefined;
  const set = HANDLERS.filter((name) => field.child(name).present);
  if (set.length !== 1) {
    return field.error(
      set.length === 0
        ? `needs one handler: ${HANDLERS.join(', ')}`
        : `${set.join(' and ')} are mutually exclusive: a probe has one handler`,
    );
  }
  const handler = parseHandler(field.child(set[0]!), set[0]!);
  const seconds = (name: (typeof TIMING)[number], fallback: number, min: number) =>
    field.child(name).integer({ min, max: 2_147_483_647 }) ?? fallback;
  const timing: ProbeTiming = {
    initialDelaySeconds: seconds('initialDelaySeconds', 0, 0),
    periodSeconds: seconds('periodSeconds', 10, 1),
    timeoutSeconds: seconds('timeoutSeconds', 1, 1),
    successThreshold: seconds('successThreshold', 1, 1),
    failureThreshold: seconds('failureThreshold', 3, 1),
  };
  if (kind !== 'readiness' && timing.successThreshold !== 1) {
    field.child('successThreshold').error(`must be 1 for a ${kind} probe`);
  }
  if (field.child('terminationGracePeriodSeconds').present) {
    if (kind === 'readiness')
      field.child('terminationGracePeriodSeconds').error('not allowed on a readiness probe');
    else field.child('terminationGracePeriodSeconds').integer({ min: 1 });
  }
  return handler ? { handler, ...timing } : undefined;
}

function parseHandler(field: Field, type: (typeof HANDLERS)[number]): ProbeHandler | undefined {
  switch (type) {
    case 'httpGet': {
      if (!field.object(['path', 'port', 'host', 'scheme', 'httpHeaders'], { required: true }))
        return undefined;
      const path = field.child('path').string({ pattern: /^\//, patternHint: 'must start with /' }) ?? '/';
      const port = probePort(field.child('port'));
      const host = field.child('host').string({ nonEmpty: true });
      const scheme = field.child('scheme').oneOf(['HTTP', 'HTTPS'] as const) ?? 'HTTP';
      const headers =
        field.child('httpHeaders').list((item) => {
          if (!item.object(['name', 'value'], { required: true })) return undefined;
          const name = item.child('name').string({
            required: true,
            pattern: HEADER_NAME,
            patternHint: 'must be an HTTP header name (a token)',
          });
          const value = item.child('value').string({ required: true });
          return name === undefined || value === undefined ? undefined : { name, value };
        }) ?? [];
      return port === undefined ? undefined : { type, path, port, host, scheme, headers };
    }
    case 'tcpSocket': {
      if (!field.object(['port', 'host'], { required: true })) return undefined;
      const port = probePort(field.child('port'));
      const host = field.child('host').string({ nonEmpty: true });
      return port === undefined ? undefined : { type, port, host };
    }
    case 'exec': {
      if (!field.object(['command'], { required: true })) return undefined;
      const command = field.child('command').strings({ required: true, nonEmpty: true });
      return command ? { type, command } : undefined;
    }
    case 'grpc': {
      if (!field.object(['port', 'service'], { required: true })) return undefined;
      // Kubernetes takes only a number here, not a port name.
      const port = field.child('port').port({ required: true });
      const service = field.child('service').string() ?? '';
      return port === undefined ? undefined : { type, port, service };
    }
  }
}

function probePort(field: Field): ProbePort | undefined {
  if (typeof field.value === 'string') {
    return field.string({
      pattern: IANA_SVC_NAME,
      patternHint: 'a port name is at most 15 lowercase alphanumerics or -, with a letter',
    });
  }
  return field.port({ required: true });
}
