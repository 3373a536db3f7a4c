// Validates an AsyncAPI document with the AsyncAPI initiative's own parser:
// schema, references, and the spectral rules it ships. Exits non-zero on any
// error-level diagnostic; prints warnings.
//   node tools/asyncapi/validate.mjs docs/asyncapi.yaml
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const path = process.argv[2] ?? 'docs/asyncapi.yaml';
const text = await readFile(path, 'utf8');
const { document, diagnostics } = await new Parser().parse(text);
const label = (s) => ['error', 'warning', 'info', 'hint'][s] ?? String(s);
for (const d of diagnostics) {
  console.log(`${label(d.severity)} ${d.code} at ${d.path.join('.')}: ${d.message}`);
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (!document || errors.length > 0) {
  console.error(`${path}: ${errors.length} error(s)`);
  process.exit(1);
}
const channels = document.channels().length;
const operations = document.operations().length;
console.log(`${path}: valid AsyncAPI ${document.version()} (${channels} channels, ${operations} operations)`);
