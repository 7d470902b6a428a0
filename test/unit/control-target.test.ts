/**
 * Control-plane address lists as gRPC targets (what each form becomes, and what is refused), and the one
 * channel a data plane's clients share.
 */
import { connectivityState } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { controlPlaneAddresses, controlPlaneTarget } from '../../src/core/grpc/control-target.ts';
import { openControlPlaneClient } from '../../src/core/grpc/credentials.ts';

describe('control-plane target', () => {
  it.each([
    ['10.250.0.2:15012', '10.250.0.2:15012'],
    ['ambit-control.istio-system.svc:15012', 'ambit-control.istio-system.svc:15012'],
    ['[fd00::1]:15012', '[fd00::1]:15012'],
    ['10.250.0.2:15012,10.250.0.3:15012', 'ipv4:10.250.0.2:15012,10.250.0.3:15012'],
    [' 10.250.0.3:15012 , 10.250.0.2:15012', 'ipv4:10.250.0.3:15012,10.250.0.2:15012'],
    ['[fd00::1]:15012,[fd00::2]:15013', 'ipv6:[fd00::1]:15012,[fd00::2]:15013'],
  ])('%s dials %s', (text, target) => {
    expect(controlPlaneTarget(text)).toBe(target);
  });

  it.each([
    ['10.250.0.2:15012,[fd00::1]:15012', 'IP addresses of one family'],
    ['10.250.0.2:15012,control:15012', 'IP addresses of one family'],
    ['10.250.0.2:15012,', 'invalid control-plane address ""'],
    ['10.250.0.2:15012,10.250.0.3', 'invalid control-plane address "10.250.0.3"'],
    ['10.250.0.2:15012,10.250.0.3:0', 'invalid control-plane address "10.250.0.3:0"'],
  ])('%s is refused: %s', (text, message) => {
    expect(() => controlPlaneTarget(text)).toThrow(message);
  });

  it('lists the addresses in order', () => {
    expect(controlPlaneAddresses('10.0.0.2:1,10.0.0.1:2')).toEqual([
      { host: '10.0.0.2', port: 1 },
      { host: '10.0.0.1', port: 2 },
    ]);
  });
});

describe('control-plane clients of one connection', () => {
  it('share one channel, closed with the last of them', () => {
    const connection = { address: '127.0.0.1:1,127.0.0.2:1', rootCertPem: '', token: 't' };
    const discovery = openControlPlaneClient(connection);
    const certificates = openControlPlaneClient(connection);
    const channel = discovery.client.getChannel();
    expect(certificates.client.getChannel()).toBe(channel);
    expect(channel.getTarget()).toBe('ipv4:127.0.0.1:1,127.0.0.2:1');
    const otherConnection = openControlPlaneClient({ ...connection });
    expect(otherConnection.client.getChannel()).not.toBe(channel);
    otherConnection.close();
    discovery.close();
    discovery.close();
    expect(channel.getConnectivityState(false)).not.toBe(connectivityState.SHUTDOWN);
    certificates.close();
    expect(channel.getConnectivityState(false)).toBe(connectivityState.SHUTDOWN);
    // A client opened after the last closed gets a new channel.
    const later = openControlPlaneClient(connection);
    expect(later.client.getChannel()).not.toBe(channel);
    later.close();
  });
});
