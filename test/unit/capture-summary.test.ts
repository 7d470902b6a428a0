import { describe, expect, it } from 'vitest';
import { type CapturedPacket, parseSummary, servicePort } from '../support/capture.ts';

// The vagrant test reads its capture through these: a line misread would let a plaintext port pass unseen.
describe('tcpdump quiet summaries', () => {
  const cases: [string, CapturedPacket | undefined][] = [
    [
      '17:40:01.123456 IP 10.250.0.3.41822 > 10.244.0.5.15008: tcp 517',
      {
        protocol: 'tcp',
        source: '10.250.0.3',
        sourcePort: 41822,
        destination: '10.244.0.5',
        destinationPort: 15008,
      },
    ],
    [
      '17:40:01.123456 IP 10.250.0.2.15012 > 10.250.0.3.50110: tcp 0',
      {
        protocol: 'tcp',
        source: '10.250.0.2',
        sourcePort: 15012,
        destination: '10.250.0.3',
        destinationPort: 50110,
      },
    ],
    [
      '17:40:02.000001 IP 10.244.1.4.5353 > 224.0.0.251.5353: UDP, length 40',
      {
        protocol: 'udp',
        source: '10.244.1.4',
        sourcePort: 5353,
        destination: '224.0.0.251',
        destinationPort: 5353,
      },
    ],
    [
      '17:40:03.5 IP 10.250.0.2 > 10.250.0.3: ICMP echo request, id 7, seq 1, length 64',
      {
        protocol: 'icmp',
        source: '10.250.0.2',
        sourcePort: undefined,
        destination: '10.250.0.3',
        destinationPort: undefined,
      },
    ],
    ['17:40:04.0 ARP, Request who-has 10.250.0.3 tell 10.250.0.2, length 28', undefined],
    ['reading from file span.pcap, link-type EN10MB (Ethernet)', undefined],
  ];
  it.each(cases)('%s', (line, expected) => {
    expect(parseSummary(line)).toEqual(expected);
  });

  const ports: [Partial<CapturedPacket>, number | undefined][] = [
    [{ sourcePort: 41822, destinationPort: 15008 }, 15008],
    [{ sourcePort: 15013, destinationPort: 33000 }, 15013],
    [{ sourcePort: undefined, destinationPort: undefined }, undefined],
  ];
  it.each(ports)('the service port of %o is %s', (packet, expected) => {
    expect(servicePort({ protocol: 'tcp', source: '', destination: '', ...packet })).toBe(expected);
  });
});
