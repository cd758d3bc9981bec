// The local control plane harness: integration tests, make dev-up and the controller tests use it.
export {
  startControlPlane,
  CONTROLLERS,
  type ControlPlane,
  type ControlPlaneOptions,
} from './controlplane.js';
export { startCoreDNS, type CoreDNS, type CoreDNSOptions } from './coredns.js';
export { createCA, issue, type CertFiles, type CertificateAuthority } from './certs.js';
export { installCrds, readCrd, CRD_FILES } from './crds.js';
export { ProcessGroup, stopRecorded, alive, type ManagedProcess } from './process.js';
export { freePort } from './ports.js';
export { startBalancer, type Balancer } from './balancer.js';
export { waitFor, httpsGet } from './wait.js';
export { controlPlaneDir, crdPath, binaryPath, repoRoot } from './paths.js';
export {
  mutatingWebhookConfiguration,
  registerWebhook,
  registerValidatingWebhook,
  unregisterValidatingWebhook,
  validatingWebhookConfiguration,
  INJECT_LABEL,
  WEBHOOK_CONFIGURATION_NAME,
  type WebhookRegistration,
} from './webhook-config.js';
export {
  startWebhookProcess,
  webhookHealthy,
  cliPath,
  type WebhookProcess,
  type WebhookProcessOptions,
} from './webhook.js';
