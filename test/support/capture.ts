/**
 * A packet capture on a host interface, for tests that must show what crossed a wire: `tcpdump` writes
 * whole frames to a file while the test acts, and the file is then read back twice, as tcpdump's one-line
 * summaries (who spoke to whom, on which protocol and port) and as raw bytes (whether a marker the test sent
 * ever crossed in plaintext).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** One IPv4 packet of a capture, as tcpdump's quiet summary line gives it. */
export interface CapturedPacket {
  protocol: string;
  source: string;
  sourcePort?: number | undefined;
  destination: string;
  destinationPort?: number | undefined;
}

export class Capture {
  readonly #file: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  /** Resolves once tcpdump listens (it says so on stderr), so nothing the test sends next is missed. */
  static async start(iface: string, file: string): Promise<Capture> {
    const capture = new Capture(iface, file);
    await capture.#listening();
    return capture;
  }

  private constructor(iface: string, file: string) {
    this.#file = file;
    // -U: every packet is written as it comes, so nothing is lost in a buffer when the capture stops.
    this.#child = spawn('tcpdump', ['-i', iface, '-nn', '-s', '0', '-U', '-w', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
  }

  #listening(): Promise<void> {
    return new Promise((resolve, reject) => {
      let said = '';
      this.#child.stderr!.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        if (said.includes('listening on')) resolve();
      });
      this.#child.once('exit', (code) => reject(new Error(`tcpdump exited (${code}): ${said.trim()}`)));
    });
  }

  async stop(): Promise<void> {
    this.#child.kill('SIGINT');
    await this.#exited;
  }

  /** The capture's IPv4 packets (ARP and the rest of layer 2 are left out). */
  packets(): CapturedPacket[] {
    const text = execFileSync('tcpdump', ['-r', this.#file, '-nn', '-q', 'ip'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1 << 26,
    });
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const packet = parseSummary(line);
        if (!packet) throw new Error(`unexpected tcpdump line: ${line}`);
        return packet;
      });
  }

  /** Whether `marker` appears anywhere in the captured frames (headers and payloads alike). */
  contains(marker: string): boolean {
    return readFileSync(this.#file).includes(Buffer.from(marker));
  }
}

/**
 * One line of `tcpdump -nn -q`: `12:00:00.000000 IP 10.0.0.1.4242 > 10.0.0.2.15008: tcp 0`, or for
 * protocols without ports `... IP 10.0.0.1 > 10.0.0.2: ICMP echo request, ...`.
 */
export function parseSummary(line: string): CapturedPacket | undefined {
  const match = /^\S+ IP (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))? > (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))?: (\S+)/.exec(
    line,
  );
  if (!match) return undefined;
  const [, source, sourcePort, destination, destinationPort, protocol] = match;
  return {
    protocol: protocol!.replace(/,$/, '').toLowerCase(),
    source: source!,
    sourcePort: sourcePort === undefined ? undefined : Number(sourcePort),
    destination: destination!,
    destinationPort: destinationPort === undefined ? undefined : Number(destinationPort),
  };
}

/** The service side of a TCP packet: the lower of its two ports (the other is the client's ephemeral one). */
export function servicePort(packet: CapturedPacket): number | undefined {
  if (packet.sourcePort === undefined || packet.destinationPort === undefined) return undefined;
  return Math.min(packet.sourcePort, packet.destinationPort);
}
