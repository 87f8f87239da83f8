import { describe, expect, it } from 'vitest';
import {
  abiRegExp,
  compareDebianVersions,
  parseDeb822Sources,
  parseOneLineSources,
  parsePackagesIndex,
  pickDebianMirror,
  PrivateApt,
  selectKernelPackages,
} from '../src/apt.js';
import { parseKernels } from '../src/config.js';

const stanza = (name: string, version: string, size = 100): string =>
  `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nDescription: Linux\n for 64-bit PCs\nFilename: pool/main/l/linux/${name}_${version}_amd64.deb\nSize: ${size}\nSHA256: ${'ab'.repeat(32)}\n`;

const FAKE_INDEX = [
  stanza('linux-image-6.1.0-9-amd64', '6.1.27-1'),
  stanza('linux-image-6.1.0-50-amd64', '6.1.176-1', 70_000_000),
  stanza('linux-image-6.1.0-50-cloud-amd64', '6.1.176-1'),
  stanza('linux-image-6.1.0-50-amd64-dbg', '6.1.176-1'),
  stanza('linux-image-6.1.0-49-amd64', '6.1.170-1'),
  stanza('linux-image-6.12.117+deb13-amd64', '6.12.117-1'),
  stanza('linux-image-6.12.9+deb13-amd64', '6.12.9-1'),
  stanza('linux-image-6.12.117+deb13-cloud-amd64', '6.12.117-1'),
  stanza('linux-binary-7.2.13+deb14-amd64', '7.2.13-1'),
  stanza('linux-modules-7.2.13+deb14-amd64', '7.2.13-1'),
  stanza('linux-base-7.2.13+deb14-amd64', '7.2.13-1'),
  // A newer ABI whose modules package has not arrived yet: must not be chosen.
  stanza('linux-binary-7.3.1+deb14-amd64', '7.3.1-1'),
  stanza('linux-base-7.3.1+deb14-amd64', '7.3.1-1'),
  stanza('linux-binary-7.2.13+deb14-cloud-amd64', '7.2.13-1'),
  stanza('linux-image-5.10.0-32-amd64', '5.10.223-1'),
  stanza('linux-image-5.10.0-32-amd64', '5.10.221-1'),
].join('\n');

const KERNELS = parseKernels(
  JSON.stringify({
    defaults: { flavour: 'amd64', cmdline: 'console=ttyS0', modules: ['9p'] },
    kernels: [
      { label: '5.10', suite: 'bullseye', abi: '5.10.0-32', packages: ['linux-image-{release}'], cmdline: 'lsm=bpf' },
      { label: '6.1', suite: 'bookworm', abi: '6.1.0-*', packages: ['linux-image-{release}'] },
      { label: '6.12', suite: 'trixie', abi: '6.12.*+deb13', packages: ['linux-image-{release}'] },
      {
        label: '7.x',
        suite: 'sid',
        abi: '7.*+deb*',
        packages: ['linux-binary-{release}', 'linux-modules-{release}', 'linux-base-{release}'],
      },
      { label: 'none', suite: 'sid', abi: '9.*', packages: ['linux-image-{release}'] },
    ],
  }),
);
const kernel = (label: string) => {
  const k = KERNELS.find((x) => x.label === label);
  if (k === undefined) throw new Error(label);
  return k;
};

describe('Packages index and kernel selection', () => {
  const index = parsePackagesIndex(FAKE_INDEX);

  it('parses stanzas with continuation lines', () => {
    expect(index).toHaveLength(16);
    expect(index[1]).toMatchObject({ name: 'linux-image-6.1.0-50-amd64', version: '6.1.176-1', size: 70_000_000 });
  });

  it('picks the newest numeric ABI, not the lexically largest, and no other flavour', () => {
    const sel = selectKernelPackages(kernel('6.1'), index);
    expect(sel.abi).toBe('6.1.0-50');
    expect(sel.release).toBe('6.1.0-50-amd64');
    expect(sel.packages.map((p) => p.name)).toEqual(['linux-image-6.1.0-50-amd64']);
  });

  it('picks the newest 6.12 upload of trixie', () => {
    expect(selectKernelPackages(kernel('6.12'), index).release).toBe('6.12.117+deb13-amd64');
  });

  it('pins an exact ABI and takes the highest version of a name', () => {
    const sel = selectKernelPackages(kernel('5.10'), index);
    expect(sel.packages[0]?.version).toBe('5.10.223-1');
    expect(kernel('5.10').cmdline).toBe('console=ttyS0 lsm=bpf');
  });

  it('chooses the newest ABI for which every split package exists', () => {
    const sel = selectKernelPackages(kernel('7.x'), index);
    expect(sel.abi).toBe('7.2.13+deb14');
    expect(sel.packages.map((p) => p.name)).toEqual([
      'linux-binary-7.2.13+deb14-amd64',
      'linux-modules-7.2.13+deb14-amd64',
      'linux-base-7.2.13+deb14-amd64',
    ]);
  });

  it('names the kernel, pattern and suite when nothing matches', () => {
    expect(() => selectKernelPackages(kernel('none'), index)).toThrow(/kernel none: no ABI matching 9\.\* .* in sid/);
  });

  it('ABI globs do not cross a dash', () => {
    expect(abiRegExp('6.1.0-*').test('6.1.0-50')).toBe(true);
    expect(abiRegExp('6.1.0-*').test('6.1.0-50-cloud')).toBe(false);
    expect(abiRegExp('7.*+deb*').test('7.2.13+deb14')).toBe(true);
  });
});

describe('Debian version comparison', () => {
  it.each([
    ['6.1.0-50', '6.1.0-9', 1],
    ['1.0~rc1', '1.0', -1],
    ['1:1.0', '2.0', 1],
    ['6.12.117-1', '6.12.117-1', 0],
    ['1.0a', '1.0+', -1],
    ['7.2.13+deb14', '7.10.1+deb14', -1],
  ])('%s vs %s', (a, b, sign) => {
    expect(Math.sign(compareDebianVersions(a, b))).toBe(sign);
  });
});

describe('system sources', () => {
  it('reads deb822 with comments between fields and picks the archive, not security', () => {
    const text = `Types: deb\n# snapshot comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n`;
    const sources = parseDeb822Sources(text);
    expect(sources).toHaveLength(2);
    const m = pickDebianMirror([...sources].reverse());
    expect(m).toMatchObject({ uri: 'http://deb.debian.org/debian', signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' });
  });

  it('reads one-line sources with options and skips deb-src and other archives', () => {
    const text = `deb-src http://x/debian bookworm main\ndeb https://packages.example.com/apt cloud-sdk main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main contrib # comment\n`;
    const m = pickDebianMirror(parseOneLineSources(text));
    expect(m).toEqual({ uri: 'http://mirror.example/debian/', suites: ['bookworm'], components: ['main', 'contrib'], signedBy: '/k.gpg' });
  });

  it('writes a private sources list and points every apt directory at the private root', () => {
    const apt = new PrivateApt('/c/apt', { uri: 'http://m/debian', suites: [], components: ['main'], signedBy: '/k.gpg' });
    expect(apt.sourcesList(['sid', 'bookworm', 'sid'])).toBe(
      'deb [arch=amd64 signed-by=/k.gpg] http://m/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://m/debian sid main\n',
    );
    const opts = apt.options().filter((o) => o !== '-o');
    expect(opts).toContain('Dir::Etc::SourceList=/c/apt/etc/sources.list');
    expect(opts).toContain('Dir::Etc::SourceParts=/c/apt/etc/sources.list.d');
    expect(opts).toContain('Dir::State::status=/c/apt/state/status');
    expect(opts.filter((o) => o.startsWith('Dir')).every((o) => o.includes('=/c/apt/'))).toBe(true);
  });
});
