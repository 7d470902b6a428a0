import { describe, expect, it } from 'vitest';
import { noexecMountOf } from '../../src/local/noexec-mount.ts';

// As systemd hosts have it: /run noexec, a disk's /var exec; a later mount on one point replaces the earlier.
const MOUNTINFO = [
  '22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '25 22 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,mode=755',
  '26 25 0:24 / /run/lock rw,nosuid,nodev,noexec,relatime shared:6 - tmpfs tmpfs rw,size=5120k',
  '27 22 0:25 / /srv rw,noexec,relatime shared:7 - tmpfs tmpfs rw',
  '28 22 0:26 / /srv rw,relatime shared:8 - tmpfs tmpfs rw',
  '29 22 0:27 / /running rw,relatime shared:9 - tmpfs tmpfs rw',
].join('\n');

describe('noexecMountOf', () => {
  it.each([
    ['/run/ambit', '/run'],
    ['/run', '/run'],
    ['/run/lock/ambit', '/run/lock'],
    ['/var/lib/ambit', undefined],
    ['/srv/ambit', undefined],
    ['/running/ambit', undefined],
  ])('%s is on a noexec mount: %s', (path, expected) => {
    expect(noexecMountOf(path, MOUNTINFO)).toBe(expected);
  });
});
