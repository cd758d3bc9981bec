import assert from 'node:assert/strict';
import { ConfigError, parseWebhookArgs } from '../../../src/config/webhook.js';

const TLS = ['--tls-cert', 'c.pem', '--tls-key', 'k.pem'];
const files = (content: Record<string, string>) => (path: string) => {
  if (!(path in content)) throw new Error('ENOENT');
  return content[path]!;
};
const config = (args: string[], env: Record<string, string> = {}, read = files({})) => {
  const parsed = parseWebhookArgs(args, env, read);
  assert.ok(!parsed.help);
  return parsed.config;
};

describe('webhook config', () => {
  it('has defaults and takes static settings from flags', () => {
    const c = config([...TLS, '--network', 'ovs-net-br1']);
    assert.deepEqual(c, {
      tlsCert: 'c.pem',
      tlsKey: 'k.pem',
      port: 8443,
      bindAddress: '0.0.0.0',
      network: 'ovs-net-br1',
      interfaceName: 'l2',
      cloudInit: true,
      logLevel: 'info',
      maxBodyBytes: 3 * 1024 * 1024,
      certPollMs: 10_000,
      withController: false,
    });
  });

  it('no longer takes --workers: one thread, replicas scale it', () => {
    assert.throws(() => config([...TLS, '--network', 'n', '--workers', '2']), /Unknown option '--workers'/);
  });

  it('runs the controller in the process only with a cluster', () => {
    assert.throws(
      () => config([...TLS, '--network', 'n', '--with-controller']),
      /--with-controller needs a cluster/,
    );
    assert.equal(config([...TLS, '--kubeconfig', 'kc', '--with-controller']).withController, true);
  });

  it('reads flags: port, interface, no-cloud-init, namespace/name network', () => {
    const c = config([
      ...TLS,
      '--network',
      'net/ovs',
      '--port',
      '9443',
      '--interface',
      'lan',
      '--no-cloud-init',
    ]);
    assert.equal(c.port, 9443);
    assert.equal(c.network, 'net/ovs');
    assert.equal(c.interfaceName, 'lan');
    assert.equal(c.cloudInit, false);
  });

  it('requires --network without a cluster, not with one', () => {
    assert.throws(() => config(TLS), /--network is required/);
    assert.deepEqual(config([...TLS, '--kubeconfig', 'kc']).cluster, { kubeconfig: 'kc' });
    assert.deepEqual(config(TLS, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }).cluster, { inCluster: true });
  });

  it('merges a YAML config file under the flags', () => {
    const read = files({
      'w.yaml': 'tlsCert: f.pem\ntlsKey: fk.pem\nnetwork: a\ncloudInit: false\nport: 7443\n',
    });
    const c = config(['--config', 'w.yaml', '--network', 'b'], {}, read);
    assert.equal(c.tlsCert, 'f.pem');
    assert.equal(c.network, 'b');
    assert.equal(c.cloudInit, false);
    assert.equal(c.port, 7443);
  });

  for (const [what, args, env, pattern] of [
    ['an unknown flag', [...TLS, '--network', 'a', '--nope'], {}, /nope/],
    ['a bad port', [...TLS, '--network', 'a', '--port', '99999'], {}, /--port/],
    ['a bad network', [...TLS, '--network', 'a/b/c'], {}, /--network/],
    ['a bad interface', [...TLS, '--network', 'a', '--interface', 'Eth_1'], {}, /--interface/],
    ['a missing key', ['--tls-cert', 'c', '--network', 'a'], {}, /--tls-key/],
    ['a bad log level', [...TLS, '--network', 'a'], { LOG_LEVEL: 'loud' }, /log level/],
    ['an unknown config key', [...TLS, '--network', 'a', '--config', 'x.yaml'], {}, /unknown key/],
  ] as [string, string[], Record<string, string>, RegExp][]) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => parseWebhookArgs(args, env, files({ 'x.yaml': 'networks: a\n' })),
        (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      );
    });
  }

  it('answers --help', () => {
    assert.deepEqual(parseWebhookArgs(['--help'], {}), { help: true });
  });
});
