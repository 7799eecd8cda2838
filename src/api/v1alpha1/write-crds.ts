import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crdFiles } from './crd.ts';

/**
 * Where the generated CRDs live: `crds/` (kubectl apply) and the chart's own copy, which Helm installs
 * from `charts/keybrake/crds/` (a chart cannot reach outside its directory). crd.test.ts fails when
 * either differs from the zod schemas.
 */
export const CRD_DIRS = ['crds/', 'charts/keybrake/crds/'] as const;

// Regenerates both copies from the zod schemas: `npx node src/api/v1alpha1/write-crds.ts`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const dir of CRD_DIRS) {
    const path = fileURLToPath(new URL(`../../../${dir}`, import.meta.url));
    for (const [name, text] of Object.entries(crdFiles())) {
      writeFileSync(path + name, text);
      console.log(`wrote ${dir}${name}`);
    }
  }
}
