// Option forms generated from the JSON schema of the CLI's option declarations (GET /api/forms/<name>).
import { h } from "./api.js";

function inputFor(name, spec, value) {
  const types = Array.isArray(spec.type) ? spec.type : [spec.type];
  const nullable = types.includes("null");
  const type = types.find((t) => t !== "null");
  const id = `opt-${name}`;
  if (spec.enum) {
    const select = h("select", { id, name });
    if (nullable) select.append(h("option", { value: "" }, "(auto)"));
    for (const choice of spec.enum) select.append(h("option", { value: String(choice), selected: String(choice) === String(value) }, String(choice)));
    return select;
  }
  if (type === "boolean") return h("input", { id, name, type: "checkbox", checked: Boolean(value) });
  if (type === "integer" || type === "number") {
    return h("input", { id, name, type: "number", value: value ?? "", placeholder: nullable ? "(auto)" : "",
                        step: spec.multipleOf ?? (type === "integer" ? 1 : "any"),
                        min: spec.minimum ?? spec.exclusiveMinimum, max: spec.maximum ?? spec.exclusiveMaximum });
  }
  return h("input", { id, name, type: "text", value: Array.isArray(value) ? value.join(",") : (value ?? ""),
                      placeholder: nullable ? "(auto)" : "" });
}

function readInput(input, spec) {
  const types = Array.isArray(spec.type) ? spec.type : [spec.type];
  const type = types.find((t) => t !== "null");
  if (input.type === "checkbox") return input.checked;
  const raw = input.value.trim();
  if (raw === "" && types.includes("null")) return null;
  if (type === "integer") return Number.parseInt(raw, 10);
  if (type === "number") return Number.parseFloat(raw);
  if (type === "array") return raw === "" ? [] : raw.split(",").map((item) => item.trim());
  if (spec.enum && typeof spec.enum[0] === "number") return Number(raw);
  return raw;
}

// A form for `schema`; only the options the user changed from their defaults are returned by values().
// Options listed in `only` (when given) are shown; `initial` overrides defaults.
export function optionsForm(schema, { only = null, initial = {} } = {}) {
  const form = h("form", { class: "options", onsubmit: (event) => event.preventDefault() });
  const groups = new Map();
  const inputs = {};
  for (const [name, spec] of Object.entries(schema.properties)) {
    if (only && !only.includes(name)) continue;
    const group = spec["x-group"] || "Options";
    if (!groups.has(group)) groups.set(group, h("fieldset", {}, h("legend", {}, group)));
    const value = name in initial ? initial[name] : spec.default;
    const input = inputFor(name, spec, value);
    inputs[name] = input;
    groups.get(group).append(h("label", { for: input.id, title: spec.description }, name.replaceAll("_", " ")), input);
  }
  for (const fieldset of groups.values()) form.append(fieldset);
  return {
    element: form,
    inputs,
    values() {
      const changed = {};
      for (const [name, input] of Object.entries(inputs)) {
        const spec = schema.properties[name];
        const value = readInput(input, spec);
        if (JSON.stringify(value) !== JSON.stringify(spec.default)) changed[name] = value;
      }
      return changed;
    },
  };
}
