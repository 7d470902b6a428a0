/** Control-plane address lists as gRPC targets: what each form becomes, and what is refused. */
import { describe, expect, it } from 'vitest';
import { controlPlaneAddresses, controlPlaneTarget } from '../../src/core/grpc/control-target.ts';

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
