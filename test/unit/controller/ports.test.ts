import assert from 'node:assert/strict';
import { parseServicePorts, PortsAnnotationError } from '../../../src/controller/ports.js';

describe('controller/ports: parseServicePorts', () => {
  const good: [string, ReturnType<typeof parseServicePorts>][] = [
    ['', []],
    ['  ', []],
    ['mongo:27017', [{ name: 'mongo', port: 27017, targetPort: 27017, protocol: 'TCP' }]],
    [
      'mongo:27017,admin:28017/TCP',
      [
        { name: 'mongo', port: 27017, targetPort: 27017, protocol: 'TCP' },
        { name: 'admin', port: 28017, targetPort: 28017, protocol: 'TCP' },
      ],
    ],
    [
      ' dns:53/udp , dns-tcp:53/TCP ',
      [
        { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' },
      ],
    ],
    ['8080', [{ port: 8080, targetPort: 8080, protocol: 'TCP' }]],
    ['sctp:9/SCTP', [{ name: 'sctp', port: 9, targetPort: 9, protocol: 'SCTP' }]],
  ];
  for (const [input, expected] of good) {
    it(`parses '${input}'`, () => assert.deepEqual(parseServicePorts(input), expected));
  }

  const bad: [string, RegExp][] = [
    ['mongo:0', /outside 1-65535/],
    ['mongo:65536', /outside 1-65535/],
    ['mongo:abc', /'abc' in 'mongo:abc' is not a number/],
    ['mongo:27017/HTTP', /protocol 'HTTP'.*TCP, UDP, SCTP/],
    ['Mongo:27017', /port name 'Mongo'/],
    ['a--b:1', /port name 'a--b'/],
    ['123:1', /at least one letter/],
    ['averyveryverylongname:1', /longer than 15/],
    ['a:1:2', /more than one ':'/],
    ['a:1/TCP/UDP', /more than one '\/'/],
    ['27017,admin:28017', /port 27017 needs a name/],
    ['a:1,a:2', /'a' appears twice/],
    ['a:1,b:1', /port 1\/TCP appears twice/],
  ];
  for (const [input, message] of bad) {
    it(`rejects '${input}'`, () => {
      assert.throws(
        () => parseServicePorts(input),
        (err: unknown) => err instanceof PortsAnnotationError && message.test(err.message),
      );
    });
  }
});
