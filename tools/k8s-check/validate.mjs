// Validates Kubernetes manifests against the Kubernetes OpenAPI schemas
// (kubernetes-models; Prometheus Operator CRDs from its models package), and
// Helm values against a chart's values.schema.json (JSON Schema draft 7, as
// helm checks it):
//
//   node validate.mjs manifests.yaml...                 every object must validate
//   node validate.mjs --values values.schema.json values.yaml [override.yaml...]
//       the chart's values deep-merged with the overrides (as helm merges
//       them) must validate
//
// kubernetes-models checks field types, required fields and enums; it lets
// unknown fields through, so the tests also compare rendered objects with
// what they expect.
import { readFileSync } from "node:fs";
import { parseAllDocuments, parse } from "yaml";
import Ajv from "ajv";

function fail(msg) {
  console.error(msg);
  process.exitCode = 1;
}

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const pkg = group === "monitoring.coreos.com"
    ? `@kubernetes-models/prometheus-operator/${group}/${version}`
    : group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  const mod = await import(pkg).catch(() => null);
  return mod && mod[kind];
}

async function manifests(files) {
  let count = 0;
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      if (doc.errors.length) { fail(`${file}: ${doc.errors[0].message}`); continue; }
      const obj = doc.toJS();
      if (obj == null) continue;
      const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
      const Model = await modelFor(obj.apiVersion ?? "", obj.kind ?? "");
      if (!Model) { fail(`${where}: no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`); continue; }
      try {
        new Model(obj).validate();
        count++;
      } catch (e) {
        fail(`${where}: ${e.message}${e.errors ? " " + JSON.stringify(e.errors.slice(0, 5)) : ""}`);
      }
    }
  }
  if (!process.exitCode) console.log(`${count} objects valid`);
}

// Helm's merge: maps merge, anything else replaces, null deletes.
function merge(dst, src) {
  for (const [k, v] of Object.entries(src ?? {})) {
    if (v === null) delete dst[k];
    else if (v && typeof v === "object" && !Array.isArray(v) && dst[k] && typeof dst[k] === "object" && !Array.isArray(dst[k]))
      merge(dst[k], v);
    else dst[k] = v;
  }
  return dst;
}

function values(schemaFile, files) {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, "utf8")));
  const merged = files.reduce((acc, f) => merge(acc, parse(readFileSync(f, "utf8")) ?? {}), {});
  const name = files[files.length - 1];
  if (!validate(merged)) {
    for (const e of validate.errors)
      fail(`${name}: values${e.instancePath || ""} ${e.message}${e.params?.additionalProperty ? ` '${e.params.additionalProperty}'` : ""}`);
  } else {
    console.log(`${name}: values valid`);
  }
}

const args = process.argv.slice(2);
if (args[0] === "--values") values(args[1], args.slice(2));
else await manifests(args);
