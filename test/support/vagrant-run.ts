/**
 * One run of vagrant/Vagrantfile for a test: its own prefix (VM, network and pool names), management /24,
 * libvirt storage pool and Vagrant dotfile directory, so that parallel runs never meet; commands into the VMs
 * over plain `ssh` with the config Vagrant prints once (a `vagrant ssh` costs seconds of Ruby start-up each);
 * `leftovers()`, which lists libvirt (domains, networks, pools, volumes) rather than trusting Vagrant; and
 * `restoreHost()`, which undoes the host set-up if this run did it (a host set up before is left set up).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
export const VAGRANT_DIR = resolve(import.meta.dirname, '../../vagrant');
const VIRSH = ['-c', 'qemu:///system'];
/** Where the runs' storage pools live (vagrant/lib.sh's cache, outside the checkout). */
const POOL_ROOT = join(process.env.AMBIT_VAGRANT_CACHE ?? '/var/cache/ambit/vagrant', 'pools');

export interface VagrantRunOptions {
  nodes: number;
  cpus: number;
  memoryMb: number;
}

/**
 * For working on the tests only: the Vagrant dotfile directory of VMs already up, made with the same
 * AMBIT_VAGRANT_PREFIX and AMBIT_VAGRANT_MGMT_NET (and the pool `<prefix>-pool`). The run then skips host
 * set-up, box and `vagrant up` (half an hour under TCG on a busy host) and still destroys those VMs at the end.
 */
const ATTACH = process.env.AMBIT_VAGRANT_ATTACH;

export class VagrantRun {
  readonly prefix: string;
  readonly managementNet: string;
  readonly pool: string;
  readonly #dotfiles = mkdtempSync(join(tmpdir(), 'ambit-vagrant-'));
  readonly #vagrantDotfiles: string;
  readonly #sshConfig = join(this.#dotfiles, 'ssh-config');
  readonly #options: VagrantRunOptions;
  /** Whether `up` found the host unprepared (so that the set-up is this run's to undo). */
  #setUpHost = false;
  /** Wall seconds of each phase (`up`'s and `destroy`'s, and the test's own), for the test's report. */
  readonly timings: Record<string, number> = {};

  constructor(options: VagrantRunOptions) {
    this.#options = options;
    if (ATTACH) {
      if (process.env.CI === 'true')
        throw new Error('AMBIT_VAGRANT_ATTACH is for development: CI builds its own VMs');
      const { AMBIT_VAGRANT_PREFIX: prefix, AMBIT_VAGRANT_MGMT_NET: net } = process.env;
      if (!prefix || !net)
        throw new Error('AMBIT_VAGRANT_ATTACH needs AMBIT_VAGRANT_PREFIX and AMBIT_VAGRANT_MGMT_NET');
      [this.prefix, this.managementNet, this.#vagrantDotfiles] = [prefix, net, ATTACH];
    } else {
      // CI names the run (its clean-up removes that run's VMs even if this process is killed).
      this.prefix = process.env.AMBIT_VAGRANT_PREFIX ?? `av${randomBytes(3).toString('hex')}`;
      this.managementNet = freeManagementNet();
      this.#vagrantDotfiles = join(this.#dotfiles, 'vagrant');
    }
    this.pool = `${this.prefix}-pool`;
  }

  /** The host's own address on the management network (libvirt gives the bridge the first one). */
  get hostManagementIP(): string {
    return this.managementNet.replace(/\.0\/24$/, '.1');
  }

  nodeName(index: number): string {
    return `node-${index}`;
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      VAGRANT_DOTFILE_PATH: this.#vagrantDotfiles,
      VAGRANT_DEFAULT_PROVIDER: 'libvirt',
      AMBIT_VAGRANT_PREFIX: this.prefix,
      AMBIT_VAGRANT_MGMT_NET: this.managementNet,
      AMBIT_VAGRANT_POOL: this.pool,
      AMBIT_VAGRANT_NODES: String(this.#options.nodes),
      AMBIT_VAGRANT_CPUS: String(this.#options.cpus),
      AMBIT_VAGRANT_MEMORY: String(this.#options.memoryMb),
      AMBIT_VAGRANT_ACCEL: hostAccel(),
    };
  }

  /** Host set-up and the box (both idempotent), this run's pool, then every VM up and its SSH config. */
  async up(): Promise<void> {
    if (!ATTACH) await this.#create();
    const { stdout } = await this.vagrant(['ssh-config']);
    writeFileSync(this.#sshConfig, stdout);
  }

  async #create(): Promise<void> {
    this.#setUpHost = !hostIsSetUp();
    await this.timed('hostSetupSeconds', () => execFileAsync('bash', [join(VAGRANT_DIR, 'host-setup.sh')]));
    await this.timed('boxSeconds', () =>
      execFileAsync('bash', [join(VAGRANT_DIR, 'build-box.sh')], { maxBuffer: 1 << 24 }),
    );
    const target = join(POOL_ROOT, this.pool);
    mkdirSync(target, { recursive: true });
    virsh('pool-define-as', this.pool, 'dir', '--target', target);
    virsh('pool-start', this.pool);
    // Both VMs at once: boot, then the rsync of the checkout into each.
    await this.timed('vagrantUpSeconds', () => this.vagrant(['up', '--provider', 'libvirt', '--parallel']));
  }

  /** Runs `work`, its wall seconds kept as `timings[phase]` (also when it fails: the report shows how far it got). */
  async timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.timings[phase] = Math.round((performance.now() - started) / 100) / 10;
    }
  }

  /** Runs vagrant; a failure says what vagrant said last (its progress lines left out). */
  async vagrant(args: string[]): Promise<{ stdout: string; stderr: string }> {
    try {
      return await execFileAsync('vagrant', args, { cwd: VAGRANT_DIR, env: this.env, maxBuffer: 1 << 26 });
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string };
      const said = `${failed.stdout ?? ''}\n${failed.stderr ?? ''}`
        .split(/[\r\n]+/)
        .filter((line) => line.trim() !== '' && !line.includes('Progress:'))
        .slice(-25)
        .join('\n');
      throw new Error(`vagrant ${args.join(' ')} failed:\n${said}`);
    }
  }

  /** Runs a shell command as root in VM `node`; resolves with its output, rejects on a non-zero exit. */
  async ssh(node: string, command: string, timeoutMs = 120_000): Promise<string> {
    const child = execFileAsync(
      'ssh',
      ['-F', this.#sshConfig, '-o', 'BatchMode=yes', node, `sudo bash -c ${shellQuote(command)}`],
      { timeout: timeoutMs, maxBuffer: 1 << 24 },
    );
    // Nothing to say on its standard input: an open one would keep a remote reader waiting.
    child.child.stdin?.end();
    const { stdout } = await child;
    return stdout;
  }

  /** As `ssh`, for a command expected to fail: its exit code and output. */
  async sshFailing(
    node: string,
    command: string,
    timeoutMs?: number,
  ): Promise<{ code: number; output: string }> {
    try {
      const output = await this.ssh(node, command, timeoutMs);
      return { code: 0, output };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
    }
  }

  /**
   * `vagrant destroy -f`; then remove-run.sh for whatever it left (an `up` cut short holds Vagrant's lock, and
   * destroy then refuses): the run's domains, networks, volumes and pool. What still remains is for
   * `leftovers()` to show.
   */
  async destroy(): Promise<void> {
    await this.timed('destroySeconds', () => this.vagrant(['destroy', '-f']).catch(() => undefined));
    await execFileAsync('bash', [join(VAGRANT_DIR, 'remove-run.sh'), this.prefix]).catch(() => undefined);
    rmSync(this.#dotfiles, { recursive: true, force: true });
  }

  /**
   * After `destroy`: host-teardown.sh if this run's `up` set the host up (it refuses, changing nothing,
   * while any VM exists). Resolves with whether the host is set up now.
   */
  async restoreHost(): Promise<boolean> {
    if (this.#setUpHost) await execFileAsync('bash', [join(VAGRANT_DIR, 'host-teardown.sh')]);
    return hostIsSetUp();
  }

  /** Whether `up` set the host up (and `restoreHost` undoes it). */
  get setUpHost(): boolean {
    return this.#setUpHost;
  }

  /** This run's domains, networks, pools and bridges that still exist, as libvirt and the kernel list them. */
  leftovers(): { domains: string[]; networks: string[]; pools: string[] } {
    const mine = (names: string[]) => names.filter((name) => name.startsWith(this.prefix));
    return {
      domains: mine(virshNames('list', '--all', '--name')),
      networks: mine(virshNames('net-list', '--all', '--name')),
      pools: mine(virshNames('pool-list', '--all', '--name')),
    };
  }
}

/** kvm where stock guest kernels run on /dev/kvm; tcg where it is missing or PVM (see vagrant/lib.sh). */
export function hostAccel(): 'kvm' | 'tcg' {
  return execFileSync('bash', ['-c', `. ${join(VAGRANT_DIR, 'lib.sh')} && vm_accel`], { encoding: 'utf8' })
    .trim()
    .startsWith('kvm')
    ? 'kvm'
    : 'tcg';
}

/** Whether host-setup.sh has prepared this host: its firewall chain exists (teardown removes it). */
export function hostIsSetUp(): boolean {
  try {
    execFileSync('iptables', ['-n', '-L', 'AMBIT-VAGRANT'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A 192.168.x.0/24 that no address or route of this host's root namespace touches. */
function freeManagementNet(): string {
  const used = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let attempt = 0; attempt < 64; attempt++) {
    const third = 100 + (randomBytes(1)[0]! % 150);
    if (!used.includes(`192.168.${third}.`)) return `192.168.${third}.0/24`;
  }
  throw new Error('no free 192.168.x.0/24 for the management network');
}

function virsh(...args: string[]): string {
  return execFileSync('virsh', [...VIRSH, ...args], { encoding: 'utf8' });
}

function virshNames(...args: string[]): string[] {
  return virsh(...args)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
