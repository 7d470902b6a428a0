/**
 * What `ambit analyze` says about Istio's classic Gateways: a Gateway whose selector picks none of the gateway
 * deployments Ambit runs serves nothing, and a server the deployment cannot serve (its TLS mode, a missing
 * Secret, a port another server already took) is left out. Endpoints do not matter, so the deployments are
 * compiled from their labels alone.
 */
import { CLASSIC_GATEWAY_DEPLOYMENTS } from '../../../core/labels.ts';
import type { CompileNote } from '../l7/notes.ts';
import type { Mesh } from '../mesh.ts';
import { compileClassicIngress, selectingGateways } from './classic.ts';

export function classicGatewayNotes(mesh: Mesh): CompileNote[] {
  const notes: CompileNote[] = [];
  for (const gateway of mesh.istioGateways) {
    const selected = CLASSIC_GATEWAY_DEPLOYMENTS.some(
      (deployment) => selectingGateways([gateway], deployment.podLabels).length > 0,
    );
    if (selected) continue;
    const names = CLASSIC_GATEWAY_DEPLOYMENTS.map(
      (deployment) =>
        `${deployment.namespace}/${deployment.name} (${Object.entries(deployment.podLabels)
          .map(([key, value]) => `${key}: ${value}`)
          .join(', ')})`,
    );
    notes.push({
      kind: 'Gateway.networking.istio.io',
      namespace: gateway.namespace,
      name: gateway.name,
      path: 'spec.selector',
      message: `selects no gateway deployment Ambit runs, so nothing serves it: select ${names.join(' or ')}`,
    });
  }
  for (const deployment of CLASSIC_GATEWAY_DEPLOYMENTS) {
    notes.push(
      ...compileClassicIngress({ ...mesh, deployment: { ...deployment, labels: deployment.podLabels } })
        .notes,
    );
  }
  return notes;
}
