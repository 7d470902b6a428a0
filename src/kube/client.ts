/**
 * The one place that loads a Kubernetes client configuration: from a kubeconfig file when one is named (the
 * CNI plugin on the host, `ambit install`, tests), else the pod's own service account (in-cluster).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { AmbitError, errorMessage } from '../core/errors.ts';

export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const config = new KubeConfig();
  try {
    if (kubeconfigPath) config.loadFromFile(kubeconfigPath);
    else if (process.env.KUBERNETES_SERVICE_HOST) config.loadFromCluster();
    else config.loadFromDefault();
  } catch (error) {
    throw new AmbitError(
      'USAGE',
      `cannot load the Kubernetes client config${kubeconfigPath ? ` ${kubeconfigPath}` : ''}: ${errorMessage(error)}`,
    );
  }
  if (!config.getCurrentCluster()) {
    throw new AmbitError(
      'USAGE',
      `the Kubernetes client config${kubeconfigPath ? ` ${kubeconfigPath}` : ''} names no cluster`,
    );
  }
  return config;
}
