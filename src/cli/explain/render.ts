/** `ambit explain` as text: the path step by step, the policies that matched, the route, the verdict. */
import type { Explanation } from './trace.ts';

export function renderExplanation(explanation: Explanation): string {
  const lines = [`${explanation.source} -> ${explanation.destination}:${explanation.port}`, ''];
  const at = Math.max(...explanation.steps.map((step) => step.at.length), 2);
  const stage = Math.max(...explanation.steps.map((step) => step.stage.length), 5);
  for (const step of explanation.steps) {
    lines.push(`  ${step.stage.padEnd(stage)}  ${step.at.padEnd(at)}  ${step.text}`);
  }
  if (explanation.mtlsMode !== undefined || explanation.mtls !== undefined) {
    lines.push(
      '',
      `mTLS: ${explanation.mtls ? 'yes (HBONE)' : 'no (plaintext)'}${explanation.mtlsMode ? `; PeerAuthentication mode ${explanation.mtlsMode}${explanation.mtlsPolicy ? ` from ${explanation.mtlsPolicy.namespace}/${explanation.mtlsPolicy.name}` : ' (default: none applies)'}` : ''}`,
    );
  }
  if (explanation.policies.length > 0) {
    lines.push('', 'matching AuthorizationPolicies:');
    for (const policy of explanation.policies) {
      lines.push(
        `  ${policy.at.padEnd(8)} ${policy.namespace}/${policy.name} ${policy.action} rule(s) ${policy.rules.join(', ')}`,
      );
    }
  }
  if (explanation.route) {
    const route = explanation.route;
    const backends = route.backends
      .map(
        (b) =>
          `${b.cluster} (weight ${b.weight}${b.destinationRule ? `, DestinationRule ${b.destinationRule}` : ''})`,
      )
      .join(', ');
    lines.push(
      '',
      `route: ${route.kind} ${route.namespace}/${route.name} rule ${route.rule}${backends ? ` -> ${backends}` : ''}`,
    );
  }
  const verdict = explanation.verdict;
  lines.push('', `verdict: ${verdict.outcome.toUpperCase()} at ${verdict.at}: ${verdict.reason}`, '');
  return lines.join('\n');
}
