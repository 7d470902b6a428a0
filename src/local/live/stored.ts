/** The control plane's stored core objects that a running local cluster follows (see desired.ts). */
import type { ControlApiClient } from '../../core/control-api/client.ts';
import type { StoredResource } from '../../core/control-api/types.ts';
import { LIVE_KINDS } from './desired.ts';

/** The origin the control plane gives the pods its runtime reported: not documents, never followed. */
const RUNTIME_ORIGIN = 'runtime';

export async function storedDocuments(api: ControlApiClient): Promise<StoredResource[]> {
  const all: StoredResource[] = [];
  for (const kind of LIVE_KINDS) {
    all.push(...(await api.get({ kind })).filter((resource) => resource.origin !== RUNTIME_ORIGIN));
  }
  return all;
}
