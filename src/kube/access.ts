// The `use` check some policies ask for: may this user use that NetworkAttachmentDefinition?
// A SubjectAccessReview (as KubeVirt does for cross-namespace DataVolume clones); Kubernetes has
// no such verb for NADs of its own, so RBAC grants it like any other:
//   verbs: [use], apiGroups: [k8s.cni.cncf.io], resources: [network-attachment-definitions]
import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../telemetry/logger.js';
import type { UseCheck } from '../webhook/validate.js';
import { NAD_GROUP, NAD_PLURAL } from './list-watch.js';

/** What a SubjectAccessReview asks for a `use` check on one NAD. */
export function useAttributes(ref: { namespace: string; name: string }) {
  return { group: NAD_GROUP, resource: NAD_PLURAL, verb: 'use', namespace: ref.namespace, name: ref.name };
}

/** Never throws: a failed or slow check is 'unknown' (a policy in Enforce mode then refuses). */
export function subjectAccessUseCheck(kc: KubeConfig, logger: Logger, timeoutMs = 2000): UseCheck {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return async (user, ref) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const review = await Promise.race([
        api.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              ...(user.username !== undefined ? { user: user.username } : {}),
              ...(user.uid !== undefined ? { uid: user.uid } : {}),
              groups: user.groups ?? [],
              extra: user.extra ?? {},
              resourceAttributes: useAttributes(ref),
            },
          },
        }),
        timeout,
      ]);
      return review.status?.allowed === true;
    } catch (err) {
      logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'use check (SubjectAccessReview) failed',
      );
      return 'unknown';
    } finally {
      clearTimeout(timer);
    }
  };
}
