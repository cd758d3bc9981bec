// The mutating handler against a stand-in engine (sinon): what reaches the engine, and how
// its result or failure becomes an AdmissionResponse.
import assert from 'node:assert/strict';
import sinon from 'sinon';
import { InvalidObjectError, type MutateResult } from '../../../src/mutate/types.js';
import { createMutatingHandler, type MutateFn } from '../../../src/webhook/handler.js';
import type { AdmissionRequest } from '../../../src/webhook/review.js';
import { staticSettingsSource, type SettingsSource } from '../../../src/webhook/settings-source.js';

const SETTINGS = { network: 'ovs-net-br1', interfaceName: 'l2', cloudInit: true };
const PATCH = [{ op: 'add' as const, path: '/metadata/labels', value: { a: 'b' } }];

function request(over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'uid-1',
    kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
    resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
    namespace: 'vm',
    operation: 'CREATE',
    object: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'mongodb' }, spec: {} },
    ...over,
  };
}

function engine(result: Partial<MutateResult> = {}) {
  return sinon.stub<Parameters<MutateFn>, ReturnType<MutateFn>>().returns({
    vm: {},
    patch: PATCH,
    warnings: [],
    decision: { outcome: 'injected' },
    ...result,
  });
}

describe('webhook handler', () => {
  it('runs the engine on a VM CREATE and returns its patch, base64, as JSONPatch', () => {
    const mutate = engine({ warnings: ['w1'] });
    const result = createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) })(request());
    assert.equal(mutate.callCount, 1);
    assert.deepEqual(mutate.firstCall.args[1], SETTINGS);
    assert.deepEqual(mutate.firstCall.args[2], {});
    assert.equal(result.outcome, 'injected');
    assert.equal(result.response.uid, 'uid-1');
    assert.equal(result.response.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(result.response.patch!, 'base64').toString()), PATCH);
    assert.deepEqual(result.response.warnings, ['w1']);
  });

  it('attaches no patch and no patchType when the engine changed nothing', () => {
    const mutate = engine({ patch: [], decision: { outcome: 'unchanged' } });
    const result = createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) })(request());
    assert.deepEqual(result.response, { uid: 'uid-1', allowed: true });
    assert.equal(result.outcome, 'unchanged');
  });

  it('seeds MACs with the uid only when the VM has no name', () => {
    const mutate = engine();
    const handle = createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) });
    handle(request({ object: { metadata: { generateName: 'vm-' }, spec: {} } }));
    assert.deepEqual(mutate.firstCall.args[2], { seed: 'uid-1' });
  });

  const ignored: [string, Partial<AdmissionRequest>][] = [
    ['DELETE', { operation: 'DELETE' }],
    [
      'a Pod',
      {
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
      },
    ],
    ['the status subresource', { subResource: 'status' }],
    ['another version', { kind: { group: 'kubevirt.io', version: 'v1alpha3', kind: 'VirtualMachine' } }],
    [
      'an UPDATE of a VM already processed',
      {
        operation: 'UPDATE',
        object: { metadata: { name: 'x', annotations: { 'kubevirt-net-injector.io/status': 'injected' } } },
      },
    ],
  ];
  for (const [what, over] of ignored) {
    it(`allows ${what} untouched without calling the engine`, () => {
      const mutate = engine();
      const result = createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) })(
        request(over),
      );
      assert.equal(mutate.callCount, 0);
      assert.deepEqual(result.response, { uid: 'uid-1', allowed: true });
      assert.equal(result.outcome, 'ignored');
    });
  }

  it('runs the engine on an UPDATE of a VM it has never seen', () => {
    const mutate = engine();
    createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) })(
      request({ operation: 'UPDATE' }),
    );
    assert.equal(mutate.callCount, 1);
  });

  it('allows a VM in a namespace that did not opt in, with the source warning', () => {
    const mutate = engine();
    const settings: SettingsSource = {
      forVm: (ns) => ({ optedIn: false, reason: 'namespace not opted in', warning: `no: ${ns}` }),
      ready: () => true,
    };
    const result = createMutatingHandler({ mutate, settings })(request());
    assert.equal(mutate.callCount, 0);
    assert.deepEqual(result.response, { uid: 'uid-1', allowed: true, warnings: ['no: vm'] });
  });

  it('denies (400) an object the engine rejects as invalid, keeping the uid', () => {
    const mutate = sinon
      .stub<Parameters<MutateFn>, ReturnType<MutateFn>>()
      .throws(new InvalidObjectError('spec is not an object'));
    const result = createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) })(request());
    assert.equal(result.outcome, 'denied');
    assert.equal(result.response.uid, 'uid-1');
    assert.equal(result.response.allowed, false);
    assert.equal(result.response.status?.code, 400);
    assert.match(result.response.status!.message, /spec is not an object/);
  });

  it('denies an object that is not an object without calling the engine', () => {
    const mutate = engine();
    const result = createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) })(
      request({ object: 'x' }),
    );
    assert.equal(mutate.callCount, 0);
    assert.equal(result.response.status?.code, 400);
  });

  it('turns an exception into an errored (500) response that still carries the uid', () => {
    const mutate = sinon.stub<Parameters<MutateFn>, ReturnType<MutateFn>>().throws(new TypeError('boom'));
    const result = createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) })(request());
    assert.equal(result.outcome, 'errored');
    assert.equal(result.response.uid, 'uid-1');
    assert.equal(result.response.allowed, false);
    assert.equal(result.response.status?.code, 500);
    assert.equal(result.error?.name, 'TypeError');
  });
});
