/**
 * A veth pair for network attach tests: the host end in this namespace, the peer end in a network
 * namespace the test creates, each with an address of one /30. Names carry the process id so
 * concurrent test runs on the machine do not collide; {@link VethNamespace.remove} undoes everything.
 */
import { execFileSync, spawnSync } from 'node:child_process';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A namespace with a veth pair into it. */
export class VethNamespace {
  /** Namespace name. */
  readonly ns: string;
  /** Interface name of the end in this namespace. */
  readonly hostIf: string;
  /** Interface name of the end inside {@link VethNamespace.ns}. */
  readonly peerIf: string;
  /** IPv4 address of the host end. */
  readonly hostAddr: string;
  /** IPv4 address of the peer end. */
  readonly peerAddr: string;
  #created = false;

  /**
   * @param prefix at most 5 characters (interface names are limited to 15)
   * @param subnet the first three octets of the /30, e.g. `10.200.7`
   */
  constructor(prefix: string, subnet: string) {
    const tag = `${process.pid % 100000}`;
    this.ns = `${prefix}${tag}`;
    this.hostIf = `${prefix}h${tag}`;
    this.peerIf = `${prefix}p${tag}`;
    this.hostAddr = `${subnet}.1`;
    this.peerAddr = `${subnet}.2`;
  }

  /** Creates the namespace, the pair and the addresses, and brings the links up. */
  create(): void {
    ip('netns', 'add', this.ns);
    this.#created = true;
    ip('link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.peerIf, 'netns', this.ns);
    ip('addr', 'add', `${this.hostAddr}/30`, 'dev', this.hostIf);
    ip('link', 'set', this.hostIf, 'up');
    ip('-n', this.ns, 'addr', 'add', `${this.peerAddr}/30`, 'dev', this.peerIf);
    ip('-n', this.ns, 'link', 'set', this.peerIf, 'up');
    ip('-n', this.ns, 'link', 'set', 'lo', 'up');
  }

  /** Deletes the pair and the namespace (whatever of them {@link VethNamespace.create} made). */
  remove(): void {
    if (!this.#created) return;
    this.#created = false;
    spawnSync('ip', ['link', 'del', this.hostIf], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', this.ns], { stdio: 'ignore' });
  }
}
