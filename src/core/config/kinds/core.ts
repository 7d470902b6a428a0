/**
 * TEMPORARY (control branch only): minimal parsers for the core kinds, so that the control plane can be built
 * and tested before the local cluster's real `kinds/core.ts` lands. The lead replaces this file with the real
 * one at merge; the control plane reads core specs only through `src/control/model/core-view.ts`, which uses
 * Kubernetes field names, so it works with any faithful parser.
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';

export interface ServicePortSpec {
  name?: string | undefined;
  port: number;
  targetPort?: number | string | undefined;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string | undefined;
}

export interface ServiceSpec {
  selector?: Record<string, string> | undefined;
  ports: ServicePortSpec[];
  clusterIP?: string | undefined;
  clusterIPs?: string[] | undefined;
  type?: string | undefined;
}

export interface PodSpec {
  nodeName?: string | undefined;
  serviceAccountName?: string | undefined;
}

function parseService(doc: Field): ServiceSpec | undefined {
  const spec = doc.child('spec').object('any', { required: true });
  if (!spec) return undefined;
  const ports =
    spec.child('ports').list((item) => {
      const port = item.object('any', { required: true });
      if (!port) return undefined;
      const number = port.child('port').port({ required: true });
      const target = port.child('targetPort');
      const targetPort = typeof target.value === 'string' ? target.string() : target.port();
      if (number === undefined) return undefined;
      return {
        name: port.child('name').string(),
        port: number,
        targetPort,
        protocol: port.child('protocol').oneOf(['TCP', 'UDP', 'SCTP'] as const) ?? 'TCP',
        appProtocol: port.child('appProtocol').string(),
      };
    }) ?? [];
  return {
    selector: spec.child('selector').labels(),
    ports,
    clusterIP: spec.child('clusterIP').string(),
    clusterIPs: spec.child('clusterIPs').strings(),
    type: spec.child('type').string(),
  };
}

function parsePod(doc: Field): PodSpec | undefined {
  const spec = doc.child('spec').object('any', { required: true });
  if (!spec) return undefined;
  return {
    nodeName: spec.child('nodeName').string(),
    serviceAccountName: spec.child('serviceAccountName').string(),
  };
}

export const CORE_KINDS: readonly KindDefinition[] = [
  { kind: 'Namespace', apiVersions: ['v1'], namespaced: false, parse: () => ({}) },
  { kind: 'Pod', apiVersions: ['v1'], namespaced: true, parse: parsePod },
  { kind: 'Service', apiVersions: ['v1'], namespaced: true, parse: parseService },
  {
    kind: 'Deployment',
    apiVersions: ['apps/v1'],
    namespaced: true,
    parse: (doc: Field) => doc.child('spec').object('any', { required: true })?.value,
  },
];
