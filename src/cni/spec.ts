/**
 * What the CNI specification (1.0) fixes for a plugin: the commands, the environment a runtime sets, the
 * versions this plugin speaks, the error codes, and the shape of the JSON written on stdout.
 */
import { AmbitError } from '../core/errors.ts';

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

/** The versions whose chained-plugin contract (config with `prevResult`) this plugin follows. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
/** CHECK exists from 0.4.0 on; a runtime speaking an older version never sends it. */
export const CHECK_SINCE = '0.4.0';

/** The spec's well-known error codes (100 and up are the plugin's own). */
export const CNI_ERROR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  /** Ours: the node agent refused or could not confirm the pod's capture, so the pod must not start. */
  enrollmentFailed: 100,
  /** Ours: the pod or its namespace could not be read from the Kubernetes API, so enrollment is unknown. */
  podLookupFailed: 101,
  /** Ours: CHECK found an enrolled pod whose capture rules are missing or drifted. */
  captureMissing: 102,
} as const;

/** The error object a plugin prints on stdout when it exits non-zero. */
export interface CniErrorBody {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** A CNI failure with its spec code (`cniCode`); `main` prints it as the spec asks. */
export class CniError extends AmbitError {
  readonly cniCode: number;
  readonly details: string | undefined;

  constructor(cniCode: number, msg: string, details?: string) {
    super('BAD_REQUEST', msg);
    this.name = 'CniError';
    this.cniCode = cniCode;
    this.details = details;
  }
}

/** An IP of a CNI result (`ips[]`), as the primary plugin reports it. */
export interface ResultIp {
  address: string;
  gateway?: string;
  interface?: number;
}

/** The part of a CNI result this plugin reads; everything else is passed on untouched. */
export interface CniResult {
  cniVersion: string;
  ips?: ResultIp[];
  [field: string]: unknown;
}

/** Compares dotted versions numerically ("0.10.0" > "0.4.0"). */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
