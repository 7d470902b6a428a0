/**
 * The stand-in for `curlimages/curl` and Istio's `curl` and `sleep` images: a process that does nothing until
 * it is stopped, so that `ambit local exec <pod> -- curl ...` has a pod to run in (the host's curl).
 */
import { stopSignal } from '../core/stop-signal.ts';

export async function run(): Promise<number> {
  await stopSignal();
  return 0;
}
