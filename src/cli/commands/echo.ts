import { createLogger } from '../../core/log.ts';
import { stopSignal } from '../../core/stop-signal.ts';
import { identityFromEnv, startEcho } from '../../echo/server.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { portFlag } from '../flags.ts';

const USAGE = `Usage: ambit echo [--port 8080] [--tcp-port 9000] [--version v1] [--host ADDR]

HTTP: every request is answered with a JSON report of the pod, namespace, node and version that answered
and of the request it saw (method, path, headers, source and destination address). Query parameters:
  ?status=503        answer with this status        ?delay=200ms   answer after this delay
  ?size=1048576      answer with this many bytes    ?close         hang up without answering (close=reset: RST)
TCP (--tcp-port): every byte received is echoed back.
--host defaults to 0.0.0.0 inside a local-cluster pod (POD_IP is set) and to 127.0.0.1 elsewhere.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    {
      args: argv,
      options: {
        port: { type: 'string', short: 'p' },
        'tcp-port': { type: 'string' },
        version: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (printedHelp(values, USAGE)) return 0;
  const httpPort = portFlag(values.port, 'port', 8080, { allowPortZero: true });
  const tcpPort = portFlag(values['tcp-port'], 'tcp-port', undefined, { allowPortZero: true });
  const version = values.version ?? 'v1';
  const host = values.host ?? (process.env.POD_IP ? '0.0.0.0' : '127.0.0.1');
  const log = createLogger('echo');
  const echo = await startEcho({ host, httpPort, tcpPort, version }, identityFromEnv(version));
  log.info('listening', { http: echo.httpAddress, tcp: echo.tcpAddress, version });
  await stopSignal();
  await echo.close();
  return 0;
}
