import { z } from 'zod';

/** API group and version of Keybrake's custom resources (DESIGN.md §2). */
export const GROUP = 'keybrake.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Namespace given to manifest-file objects that name none (as kubectl would). */
export const DEFAULT_NAMESPACE = 'default';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** An object or reference name: a DNS-1123 subdomain, as Kubernetes requires. */
export const ObjectName = z
  .string({ error: 'must be a string' })
  .max(253, { error: 'must be at most 253 characters' })
  .regex(DNS1123_SUBDOMAIN, {
    abort: true,
    error:
      'must be a DNS-1123 name: lower-case letters, digits, "-" and ".", starting and ending alphanumeric',
  });

export const NamespaceName = z
  .string({ error: 'must be a string' })
  .max(63, { error: 'must be at most 63 characters' })
  .regex(DNS1123_LABEL, {
    abort: true,
    error: 'must be a DNS-1123 label: lower-case letters, digits and "-"',
  });

/** The ObjectMeta fields Keybrake reads, checked. */
const READ_META = {
  name: ObjectName,
  /** Absent in manifest files: the file source applies DEFAULT_NAMESPACE. */
  namespace: NamespaceName.optional(),
  uid: z.string().min(1).optional(),
  generation: z.int().nonnegative().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
};

/**
 * The rest of Kubernetes' ObjectMeta (@kubernetes/client-node V1ObjectMeta, plus `clusterName`, removed
 * in Kubernetes 1.25 but in manifests exported before): the API server's and tools' to write, read by
 * nothing here, so taken whatever they hold.
 */
const unread = z.unknown().optional();
const UNREAD_META = {
  generateName: unread,
  selfLink: unread,
  resourceVersion: unread,
  creationTimestamp: unread,
  deletionTimestamp: unread,
  deletionGracePeriodSeconds: unread,
  ownerReferences: unread,
  finalizers: unread,
  managedFields: unread,
  clusterName: unread,
};

/**
 * The fields read, any other dropped: a Secret's metadata, open as the rest of a Secret is (Kubernetes'
 * own kind, of which Keybrake reads a part); a misplaced field there removes no cap.
 */
export const OpenObjectMetaSchema = z.object(READ_META);
export type ObjectMeta = z.infer<typeof OpenObjectMetaSchema>;

/**
 * A SpendPolicy's or VaultKey's metadata: closed over ObjectMeta's fields, as their root and spec
 * are, so that a spec field written under `metadata:` (`limits:` after a `spec:` written first) is
 * refused, not dropped leaving a policy without caps (ninth round). The API server drops any other
 * field from metadata, so its objects are unaffected. The parse keeps only what is read: the unread
 * fields change with every write of the object (resourceVersion, managedFields), and the compiler
 * compares keys' metadata to reuse its work.
 */
export const ObjectMetaSchema = z.strictObject({ ...READ_META, ...UNREAD_META }).transform(readFields);

function readFields(m: ObjectMeta): ObjectMeta {
  const out: ObjectMeta = { name: m.name };
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.generation !== undefined) out.generation = m.generation;
  if (m.labels !== undefined) out.labels = m.labels;
  if (m.annotations !== undefined) out.annotations = m.annotations;
  return out;
}

/**
 * `status` at a resource's root: the operator's to write, read by nothing that compiles a policy, and
 * carried by manifests copied from `kubectl get -o yaml`, so it is taken whatever it holds. Declared so
 * that the root can be closed (SpendPolicySchema, VaultKeySchema). In the cluster the API server keeps
 * only the status fields the installed CRD declares; see `fileStatus` for manifest files.
 */
export const RootStatus = z.unknown().optional();

/**
 * `status` in a manifest file: closed over the fields the operator writes (`fields`, its status
 * schema's), each taken whatever it holds. `kubectl get -o yaml` prints `status` last, so a field
 * appended at the end of an exported manifest, two spaces in, lands under it: `limits:` or
 * `suspended: true` meant for spec was dropped, the policy served without caps and the key active
 * (tenth round), as under a `metadata:` written after `spec:` before (ObjectMetaSchema). Files only:
 * a cluster's objects hold what their CRD declares, which a newer operator's may add to.
 */
export function fileStatus(fields: z.ZodObject): z.ZodType {
  return z
    .strictObject(Object.fromEntries(Object.keys(fields.shape).map((name) => [name, unread])))
    .nullable()
    .optional();
}

/** RFC 3339 timestamp with a zone (`2026-12-31T23:59:59Z`). */
export const Timestamp = z.iso.datetime({
  offset: true,
  error: 'must be an RFC 3339 timestamp with a zone, e.g. "2026-12-31T23:59:59Z"',
});

/** A status condition, following the Kubernetes API conventions. */
export const ConditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  observedGeneration: z.int().nonnegative().optional(),
  lastTransitionTime: Timestamp,
});
export type Condition = z.infer<typeof ConditionSchema>;
