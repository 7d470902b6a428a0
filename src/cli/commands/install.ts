/**
 * `ambit install`: Ambit on a Kubernetes cluster, through its API (the current kubeconfig context, or
 * --kubeconfig); `--dry-run` prints the manifests instead (the YAML `kubectl apply -f -` takes). `ambit
 * uninstall` removes what install made (uninstall.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CertificateAuthority } from '../../control/ca/authority.ts';
import { UsageError } from '../../core/errors.ts';
import { describeObject } from '../../kube/apply.ts';
import { loadKubeConfig } from '../../kube/client.ts';
import { install, type Report } from '../../kube/install.ts';
import { helmChart } from '../../kube/manifests/helm.ts';
import { manifestsYaml, renderManifests } from '../../kube/manifests/render.ts';
import { defaultSettings, type InstallSettings } from '../../kube/manifests/settings.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { packageVersion } from './version.ts';

export const INSTALL_OPTIONS = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  image: { type: 'string' },
  'trust-domain': { type: 'string' },
  'cni-bin-dir': { type: 'string' },
  'cni-conf-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const defaults = () => defaultSettings(packageVersion());

export const SETTINGS_HELP = `  --kubeconfig FILE     the cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  --namespace NS        where Ambit runs (default: ${defaults().namespace})
  --image IMAGE         the Ambit image (default: ${defaults().image})
  --trust-domain TD     SPIFFE trust domain (default: ${defaults().trustDomain})
  --cni-bin-dir DIR     the nodes' CNI plugin directory (default: ${defaults().cniBinDir})
  --cni-conf-dir DIR    the nodes' CNI config directory (default: ${defaults().cniConfDir})`;

const HELP = `Usage: ambit install [--dry-run] [options]

Installs Ambit on a Kubernetes cluster through its API: namespace, service accounts and RBAC, the control
plane Deployment and Service, the ztunnel DaemonSet, the CNI node DaemonSet, and (first time only) the mesh
CA as Secret ambit-ca and ConfigMap ambit-root-cert. Objects that exist are replaced; the CA is kept.
Needs the Istio CRDs and the Gateway API CRDs in the cluster.

Options:
  --dry-run             print the manifests (YAML) and change nothing
  --helm-chart DIR      write the Helm chart (made from the same rendering; its values replace the settings
                        below, the release namespace --namespace) into DIR and change nothing else
  --ca-cert FILE        the mesh CA's certificate instead of a new root (with --ca-key)
  --ca-key FILE         its private key (PEM)
${SETTINGS_HELP}
`;

/** The settings the flags give (every flag optional). */
export function settingsFrom(values: {
  namespace?: string | undefined;
  image?: string | undefined;
  'trust-domain'?: string | undefined;
  'cni-bin-dir'?: string | undefined;
  'cni-conf-dir'?: string | undefined;
}): InstallSettings {
  const base = defaults();
  const settings = {
    namespace: values.namespace ?? base.namespace,
    image: values.image ?? base.image,
    trustDomain: values['trust-domain'] ?? base.trustDomain,
    cniBinDir: values['cni-bin-dir'] ?? base.cniBinDir,
    cniConfDir: values['cni-conf-dir'] ?? base.cniConfDir,
  };
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(settings.namespace)) {
    throw new UsageError(
      `--namespace ${JSON.stringify(settings.namespace)}: not a valid namespace name`,
      HELP,
    );
  }
  for (const [flag, dir] of [
    ['cni-bin-dir', settings.cniBinDir],
    ['cni-conf-dir', settings.cniConfDir],
  ] as const) {
    if (!dir.startsWith('/')) throw new UsageError(`--${flag}: must be an absolute path`, HELP);
  }
  return settings;
}

/** One line per object, as kubectl prints them. */
export const printReport: Report = (object, outcome) => {
  process.stdout.write(`${describeObject(object)} ${outcome}\n`);
};

/** The operator's CA, or a new root made here (its files never touch the disk beyond a private temp dir). */
function meshCa(trustDomain: string, certFile: string | undefined, keyFile: string | undefined) {
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError('--ca-cert and --ca-key go together: give both or neither', HELP);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ambit-install-ca-'));
  try {
    const generatedKey = join(dir, 'root-key.pem');
    const ca = CertificateAuthority.loadOrCreate({
      trustDomain,
      keyFile: generatedKey,
      certFile: join(dir, 'root-cert.pem'),
      providedCertFile: certFile,
      providedKeyFile: keyFile,
    });
    return { certPem: ca.rootCertPem, keyPem: readFileSync(keyFile ?? generatedKey, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    {
      args: argv,
      options: {
        ...INSTALL_OPTIONS,
        'dry-run': { type: 'boolean' },
        'helm-chart': { type: 'string' },
        'ca-cert': { type: 'string' },
        'ca-key': { type: 'string' },
      },
    },
    HELP,
  );
  if (printedHelp(values, HELP)) return 0;
  const chartDir = values['helm-chart'];
  if (chartDir !== undefined) {
    for (const file of helmChart(packageVersion())) {
      mkdirSync(dirname(join(chartDir, file.path)), { recursive: true });
      writeFileSync(join(chartDir, file.path), file.content);
    }
    process.stdout.write(`${chartDir}\n`);
    return 0;
  }
  const settings = settingsFrom(values);
  if (values['dry-run']) {
    process.stdout.write(manifestsYaml(renderManifests(settings), packageVersion()));
    return 0;
  }
  const config = loadKubeConfig(values.kubeconfig);
  await install(config, settings, printReport, () =>
    meshCa(settings.trustDomain, values['ca-cert'], values['ca-key']),
  );
  return 0;
}
