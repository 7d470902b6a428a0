/**
 * The Helm chart (`deploy/helm/ambit/`), made from the one rendering that `ambit install` applies: its
 * template is `renderManifests` run with a Helm expression in place of each install setting, so the chart
 * and `ambit install --dry-run` cannot drift apart (a golden test keeps the committed chart equal to this).
 * The template holds no other template logic: each setting is a plain `{{ .Values.x }}` substitution, and
 * `values.schema.json` (which Helm checks before rendering) keeps every value to what the YAML can carry.
 *
 * Not in the chart: the Namespace (Helm's `--create-namespace` makes it) and the mesh CA (Secret `ambit-ca`,
 * ConfigMap `ambit-root-cert`): a CA key must not come out of a values file, and a re-rendered chart must
 * never replace the root that every workload certificate chains to. `ambit install` creates them; with Helm
 * the operator does (README, Install on Kubernetes).
 */
import { stringify } from 'yaml';
import { renderManifests, yamlStream } from './render.ts';
import { defaultSettings, type InstallSettings, KUBERNETES_VERSION } from './settings.ts';

/** Each setting as the Helm expression the chart's template carries in its place. */
export const HELM_EXPRESSIONS: InstallSettings = {
  namespace: '{{ .Release.Namespace }}',
  image: '{{ .Values.image }}',
  trustDomain: '{{ .Values.trustDomain }}',
  cniBinDir: '{{ .Values.cni.binDir }}',
  cniConfDir: '{{ .Values.cni.confDir }}',
};

export interface ChartFile {
  /** Relative to the chart's directory. */
  path: string;
  content: string;
}

/** A chart value: no quotes, backslashes or braces (the template substitutes it into quoted YAML). */
const PLAIN = '^[^"\'\\\\{}\\s]+$';
const ABSOLUTE_PATH = '^/[^"\'\\\\{}\\s]*$';

function valuesSchema(): unknown {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    additionalProperties: false,
    required: ['image', 'trustDomain', 'cni'],
    properties: {
      image: { type: 'string', description: 'the Ambit image every container runs', pattern: PLAIN },
      trustDomain: {
        type: 'string',
        description: 'the SPIFFE trust domain',
        pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
      },
      cni: {
        type: 'object',
        additionalProperties: false,
        required: ['binDir', 'confDir'],
        properties: {
          binDir: { type: 'string', description: "the nodes' CNI plugin directory", pattern: ABSOLUTE_PATH },
          confDir: { type: 'string', description: "the nodes' CNI config directory", pattern: ABSOLUTE_PATH },
        },
      },
    },
  };
}

export function helmChart(version: string): ChartFile[] {
  const defaults = defaultSettings(version);
  const [, ...objects] = renderManifests(HELM_EXPRESSIONS); // the Namespace is Helm's to create
  const chart = {
    apiVersion: 'v2',
    name: 'ambit',
    description: 'Ambit, an ambient (sidecarless) service mesh: control plane, ztunnel and CNI node agent',
    type: 'application',
    version,
    appVersion: version,
    kubeVersion: `>=${KUBERNETES_VERSION}.0-0`,
  };
  const values = {
    image: defaults.image,
    trustDomain: defaults.trustDomain,
    cni: { binDir: defaults.cniBinDir, confDir: defaults.cniConfDir },
  };
  const generated =
    '# Generated from src/kube/manifests (ambit install --helm-chart); do not edit by hand.\n';
  return [
    { path: 'Chart.yaml', content: generated + stringify(chart) },
    { path: 'values.yaml', content: generated + stringify(values) },
    { path: 'values.schema.json', content: `${JSON.stringify(valuesSchema(), null, 2)}\n` },
    {
      path: 'templates/ambit.yaml',
      content: [
        generated,
        `# Ambit ${version}: what \`ambit install\` applies, but the Namespace and the mesh CA (see README).\n`,
        yamlStream(objects),
      ].join(''),
    },
  ];
}
