/** `ambit app <name>`: the stand-ins the local cluster runs for well-known container images (src/apps). */
import { runApp } from '../../apps/main.ts';

export function run(argv: string[]): Promise<number> {
  return runApp(argv);
}
