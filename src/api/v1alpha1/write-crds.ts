import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crdFiles } from './crd.ts';

// Regenerates crds/ from the zod schemas: `npx node src/api/v1alpha1/write-crds.ts`.
const dir = fileURLToPath(new URL('../../../crds/', import.meta.url));
for (const [name, text] of Object.entries(crdFiles())) {
  writeFileSync(dir + name, text);
  console.log(`wrote crds/${name}`);
}
